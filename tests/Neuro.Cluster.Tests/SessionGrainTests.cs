using Neuro.Abstractions;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Testing;

namespace Neuro.Cluster.Tests;

[Collection(MemoryClusterCollection.Name)]
public sealed class SessionGrainTests(MemoryClusterFixture fixture)
{
    private ISessionGrain NewSession() => fixture.Grains.GetGrain<ISessionGrain>($"s-{Guid.NewGuid():N}");

    [Fact]
    public async Task Open_is_idempotent_and_keeps_turns()
    {
        var session = NewSession();
        var first = await session.OpenAsync(new SessionOpenRequest(Pool: "chat", Model: "gpt-tiny"));
        await session.AppendTurnAsync(new TurnInput("user", "hi", 2));
        var again = await session.OpenAsync(new SessionOpenRequest(Pool: "other"));

        Assert.Equal(first.CreatedAt, again.CreatedAt);
        Assert.Equal("chat", again.Pool);
        Assert.Single(again.Turns);
    }

    [Fact]
    public async Task Turns_get_increasing_seq_and_token_totals_add_up()
    {
        var session = NewSession();
        await session.OpenAsync(new SessionOpenRequest());
        var inputs = Enumerable.Range(0, 5).Select(i => new TurnInput(i % 2 == 0 ? "user" : "assistant", $"turn {i}", i, 10 * i)).ToArray();
        var acks = new List<TurnAck>();
        foreach (var input in inputs)
        {
            acks.Add(await session.AppendTurnAsync(input));
        }

        var snapshot = await session.GetAsync();
        Assert.NotNull(snapshot);
        Assert.Equal(acks.Select(a => a.Seq), snapshot.Turns.Select(t => t.Seq));
        Assert.Equal(Enumerable.Range(1, 5).Select(i => (long)i), acks.Select(a => a.Seq));
        Assert.Equal(inputs.Select(i => i.Content), snapshot.Turns.Select(t => t.Content));
        Assert.Equal(inputs.Sum(i => i.PromptTokens), snapshot.PromptTokens);
        Assert.Equal(inputs.Sum(i => i.CompletionTokens), snapshot.CompletionTokens);
    }

    [Theory]
    [InlineData("user", "", 0, "content")]
    [InlineData("user", "   ", 0, "content")]
    [InlineData("robot", "hello", 0, "role")]
    [InlineData("user", "hello", -1, "prompt_tokens")]
    public async Task Bad_turn_is_refused_naming_the_field_and_stores_nothing(string role, string content, int promptTokens, string field)
    {
        var session = NewSession();
        await session.OpenAsync(new SessionOpenRequest());
        await session.AppendTurnAsync(new TurnInput("user", "kept"));

        var error = await Assert.ThrowsAsync<NeuroRequestException>(() => session.AppendTurnAsync(new TurnInput(role, content, promptTokens)));

        Assert.Equal(NeuroErrorKind.InvalidArgument, error.Kind);
        Assert.Equal(field, error.Field);
        var snapshot = await session.GetAsync();
        Assert.Equal(["kept"], snapshot!.Turns.Select(t => t.Content));
        var next = await session.AppendTurnAsync(new TurnInput("user", "after"));
        Assert.Equal(2, next.Seq); // the refused turn consumed no sequence number
    }

    [Fact]
    public async Task Oversized_turn_is_refused()
    {
        var session = NewSession();
        await session.OpenAsync(new SessionOpenRequest());
        var error = await Assert.ThrowsAsync<NeuroRequestException>(() => session.AppendTurnAsync(new TurnInput("user", new string('x', 32 * 1024 + 1))));
        Assert.Equal("content", error.Field);
        Assert.Empty((await session.GetAsync())!.Turns);
    }

    [Fact]
    public async Task Unopened_session_is_not_found()
    {
        var session = NewSession();
        Assert.Null(await session.GetAsync());
        var error = await Assert.ThrowsAsync<NeuroRequestException>(() => session.AppendTurnAsync(new TurnInput("user", "hello")));
        Assert.Equal(NeuroErrorKind.NotFound, error.Kind);
        Assert.Null(await session.GetAsync()); // the failed append did not create it
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("slash/inside")]
    public async Task Bad_session_id_is_refused(string id)
    {
        var error = await Assert.ThrowsAsync<NeuroRequestException>(() => fixture.Grains.GetGrain<ISessionGrain>(id).OpenAsync(new SessionOpenRequest()));
        Assert.Equal("session_id", error.Field);
    }

    [Fact]
    public async Task Scratchpad_entries_expire_on_their_own_ttl()
    {
        var session = NewSession();
        await session.OpenAsync(new SessionOpenRequest());
        await session.SetScratchAsync("tool", "state-1", TimeSpan.FromSeconds(30));
        await session.SetScratchAsync("plan", "keep", null);
        Assert.Equal("state-1", await session.GetScratchAsync("tool"));

        TestClock.Fake.Advance(TimeSpan.FromSeconds(31));

        Assert.Null(await session.GetScratchAsync("tool"));
        Assert.Equal("keep", await session.GetScratchAsync("plan"));
    }

    [Fact]
    public async Task Close_clears_the_session()
    {
        var session = NewSession();
        await session.OpenAsync(new SessionOpenRequest());
        await session.AppendTurnAsync(new TurnInput("user", "bye"));
        await session.CloseAsync();
        Assert.Null(await session.GetAsync());
        var reopened = await session.OpenAsync(new SessionOpenRequest());
        Assert.Empty(reopened.Turns);
    }

    [Fact]
    public async Task Idle_session_is_cleared_after_its_ttl_and_not_before()
    {
        var session = NewSession();
        await session.OpenAsync(new SessionOpenRequest(IdleTtl: TimeSpan.FromMinutes(10)));
        await session.AppendTurnAsync(new TurnInput("user", "one"));

        TestClock.Fake.Advance(TimeSpan.FromMinutes(9));
        await session.AppendTurnAsync(new TurnInput("user", "two")); // activity restarts the idle clock
        TestClock.Fake.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(2, (await session.GetAsync())!.Turns.Count);

        TestClock.Fake.Advance(TimeSpan.FromMinutes(10));
        Assert.Null(await session.GetAsync());
        await Assert.ThrowsAsync<NeuroRequestException>(() => session.AppendTurnAsync(new TurnInput("user", "three")));
    }

    [Fact]
    public async Task Out_of_range_idle_ttl_is_refused()
    {
        var error = await Assert.ThrowsAsync<NeuroRequestException>(() => NewSession().OpenAsync(new SessionOpenRequest(IdleTtl: TimeSpan.FromDays(30))));
        Assert.Equal("idle_ttl_seconds", error.Field);
    }
}

[Collection(MemoryClusterCollection.Name)]
public sealed class SessionWriteFailureTests(MemoryClusterFixture fixture)
{
    [Fact]
    public async Task A_turn_the_store_refused_is_neither_acknowledged_nor_served()
    {
        var session = fixture.Grains.GetGrain<ISessionGrain>($"s-{Guid.NewGuid():N}");
        await session.OpenAsync(new SessionOpenRequest());
        await session.AppendTurnAsync(new TurnInput("user", "stored"));
        try
        {
            FaultInjectingSessionStore.FailWrites = true;
            await Assert.ThrowsAnyAsync<Exception>(() => session.AppendTurnAsync(new TurnInput("user", "lost in the outage")));
            await Assert.ThrowsAnyAsync<Exception>(() => session.SetScratchAsync("k", "v", null));
        }
        finally
        {
            FaultInjectingSessionStore.FailWrites = false;
        }
        var snapshot = (await session.GetAsync())!;
        Assert.Equal(["stored"], snapshot.Turns.Select(t => t.Content));
        Assert.Null(await session.GetScratchAsync("k"));
        Assert.Equal(2, (await session.AppendTurnAsync(new TurnInput("user", "after"))).Seq);
    }
}
