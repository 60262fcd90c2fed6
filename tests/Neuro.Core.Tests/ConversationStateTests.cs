using Neuro.Core.Sessions;

namespace Neuro.Core.Tests;

public sealed class ConversationStateTests
{
    private static readonly SessionLimits Limits = new() { MaxContentChars = 10, MaxTurns = 3, MaxScratchEntries = 2 };
    private static readonly DateTimeOffset T0 = new(2026, 5, 1, 12, 0, 0, TimeSpan.Zero);

    private static ConversationState Opened(TimeSpan? ttl = null)
    {
        var s = new ConversationState();
        s.Open("pool", "model", ttl, Limits, T0);
        return s;
    }

    [Theory]
    [InlineData("abc-DEF_1.2:3", true)]
    [InlineData("", false)]
    [InlineData("white space", false)]
    [InlineData("../etc/passwd", false)]
    [InlineData("ünïcode", false)]
    public void Session_ids_are_a_safe_alphabet(string id, bool ok) =>
        Assert.Equal(ok, ConversationState.ValidateId(id, Limits) is null);

    [Fact]
    public void Overlong_id_is_refused() =>
        Assert.Equal("session_id", ConversationState.ValidateId(new string('a', Limits.MaxIdChars + 1), Limits)?.Field);

    [Fact]
    public void Expiry_is_measured_from_the_last_activity()
    {
        var s = Opened(TimeSpan.FromMinutes(10));
        Assert.False(s.IsExpiredAt(T0.AddMinutes(9)));
        s.Append("user", "hi", 0, 0, T0.AddMinutes(9));
        Assert.False(s.IsExpiredAt(T0.AddMinutes(18)));
        Assert.True(s.IsExpiredAt(T0.AddMinutes(19)));
        Assert.False(new ConversationState().IsExpiredAt(T0.AddYears(1))); // never opened: nothing to expire
    }

    [Fact]
    public void Default_ttl_comes_from_the_limits() => Assert.Equal(Limits.IdleTtl, Opened().IdleTtl);

    [Theory]
    [InlineData("user", "0123456789", 0, 0, null)]
    [InlineData("user", "01234567890", 0, 0, "content")]
    [InlineData("narrator", "x", 0, 0, "role")]
    [InlineData(null, "x", 0, 0, "role")]
    [InlineData("user", null, 0, 0, "content")]
    [InlineData("user", "x", 0, -1, "completion_tokens")]
    public void Turn_validation_names_the_field(string? role, string? content, int prompt, int completion, string? field) =>
        Assert.Equal(field, Opened().ValidateTurn(role, content, prompt, completion, Limits)?.Field);

    [Fact]
    public void Turn_count_limit_is_a_conflict()
    {
        var s = Opened();
        for (var i = 0; i < Limits.MaxTurns; i++)
        {
            s.Append("user", "x", 0, 0, T0);
        }
        var error = s.ValidateTurn("user", "x", 0, 0, Limits);
        Assert.Equal("turns", error?.Field);
        Assert.True(error!.Conflict);
    }

    [Fact]
    public void Checkpoint_restores_everything_a_failed_write_touched()
    {
        var s = Opened();
        s.Append("user", "one", 1, 2, T0.AddSeconds(1));
        s.SetScratch("k", "v", null, T0.AddSeconds(1));
        var before = System.Text.Json.JsonSerializer.Serialize(s);

        var mark = s.Mark();
        s.Append("assistant", "two", 5, 6, T0.AddSeconds(2));
        s.SetScratch("k2", "v2", TimeSpan.FromSeconds(5), T0.AddSeconds(2));
        mark.Restore(s);

        Assert.Equal(before, System.Text.Json.JsonSerializer.Serialize(s));
        Assert.Equal(2, s.Append("user", "again", 0, 0, T0.AddSeconds(3)).Seq);
    }

    [Fact]
    public void State_round_trips_through_json()
    {
        var s = Opened(TimeSpan.FromMinutes(3));
        s.Append("user", "héllo \"quoted\"", 3, 0, T0);
        s.SetScratch("tool", "{\"x\":1}", TimeSpan.FromSeconds(9), T0);
        var json = System.Text.Json.JsonSerializer.Serialize(s);
        var back = System.Text.Json.JsonSerializer.Deserialize<ConversationState>(json)!;
        Assert.Equal(json, System.Text.Json.JsonSerializer.Serialize(back));
        Assert.Equal(s.Turns, back.Turns);
    }

    [Fact]
    public void Scratch_entries_expire_and_are_bounded()
    {
        var s = Opened();
        s.SetScratch("a", "1", TimeSpan.FromSeconds(10), T0);
        s.SetScratch("b", "2", null, T0);
        Assert.Equal("key", s.ValidateScratch("c", "3", null, Limits)?.Field); // full
        Assert.Null(s.ValidateScratch("a", "overwrite", null, Limits)); // replacing is fine
        Assert.Equal("1", s.GetScratch("a", T0.AddSeconds(9)));
        Assert.Null(s.GetScratch("a", T0.AddSeconds(10)));
        Assert.Equal(1, s.PruneScratch(T0.AddSeconds(10)));
        Assert.Null(s.ValidateScratch("c", "3", null, Limits));
        Assert.Equal("ttl", s.ValidateScratch("c", "3", TimeSpan.Zero, Limits)?.Field);
    }
}
