using System.IdentityModel.Tokens.Jwt;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.IdentityModel.Tokens;
using Neuro.Cluster.Tests.Infrastructure;
using Neuro.Testing;

namespace Neuro.Cluster.Tests;

/// <summary>The real host with JWT auth on (HS256 key), a low rate limit, and two tenants.</summary>
public sealed class AuthHostFixture : IAsyncLifetime
{
    public const string Key = "test-signing-key-that-is-long-enough-0123456789";

    public WebApplication App { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        App = NeuroHostFixture.Build(new Dictionary<string, string?>
        {
            ["Neuro:SiloPort"] = FreePort.Next().ToString(),
            ["Neuro:GatewayPort"] = FreePort.Next().ToString(),
            ["Neuro:ClusterId"] = $"auth-{Guid.NewGuid():N}",
            ["Neuro:Auth:Mode"] = "jwt",
            ["Neuro:Auth:SigningKey"] = Key,
            ["Neuro:Auth:Issuer"] = "neuro-tests",
            ["Neuro:Auth:RequestsPerMinute"] = "40",
        });
        await App.StartAsync();
        Http = new HttpClient { BaseAddress = NeuroHostFixture.RestAddress(App) };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await App.DisposeAsync();
    }
}

public sealed class AuthTests(AuthHostFixture host) : IClassFixture<AuthHostFixture>
{
    private const string Task = """{"task": "x", "options": {"screen_resolution": "640x480"}, "actions": [{"action": "ANSWER", "value": "ok", "position": null}]}""";

    private static string Token(string role, string tenant = "acme", string key = AuthHostFixture.Key, DateTime? expires = null, string? sub = null)
    {
        var credentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key)), SecurityAlgorithms.HmacSha256);
        var now = DateTime.UtcNow;
        var exp = expires ?? now.AddMinutes(10);
        var jwt = new JwtSecurityToken("neuro-tests", null,
            [new Claim("sub", sub ?? $"user-{role}-{tenant}"), new Claim("role", role), new Claim("tenant", tenant)],
            notBefore: exp < now ? exp.AddMinutes(-10) : now, expires: exp, signingCredentials: credentials);
        return new JwtSecurityTokenHandler().WriteToken(jwt);
    }

    private static string Unsigned(string role)
    {
        static string B64(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));
        var exp = DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeSeconds();
        return $"{B64("""{"alg":"none","typ":"JWT"}""")}.{B64($$"""{"sub":"mallory","role":"{{role}}","tenant":"acme","iss":"neuro-tests","exp":{{exp}}}""")}.";
    }

    private async Task<HttpResponseMessage> Send(HttpMethod method, string path, string? token, string? body = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : new StringContent(body, Encoding.UTF8, "application/json") };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return await host.Http.SendAsync(request);
    }

    public static TheoryData<string, string?> BadTokens => new()
    {
        { "none", null },
        { "expired", Token("admin", expires: DateTime.UtcNow.AddMinutes(-5)) },
        { "wrong key", Token("admin", key: "another-key-that-is-also-long-enough-9876543210") },
        { "alg=none", Unsigned("admin") },
        { "garbage", "not.a.jwt" },
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task Bad_or_missing_tokens_are_401_with_problem_details(string what, string? token)
    {
        var response = await Send(HttpMethod.Post, "/api/v1/tasks", token, Task);
        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{what}: {response.StatusCode}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(HttpMethod.Get, "/api/v1/tasks", token)).StatusCode);
    }

    [Fact]
    public async Task Health_needs_no_token() => Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Get, "/api/v1/health", null)).StatusCode);

    [Fact]
    public async Task A_viewer_cannot_submit_and_a_submitter_can()
    {
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Post, "/api/v1/tasks", Token("viewer"), Task)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Post, "/api/v1/tasks", Token("guest"), Task)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, "/api/v1/tasks", Token("submitter"), Task)).StatusCode);
    }

    [Fact]
    public async Task One_tenant_never_sees_another_tenants_tasks()
    {
        var created = await Send(HttpMethod.Post, "/api/v1/tasks", Token("submitter", "acme"), Task);
        var id = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("task_id").GetString()!;

        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Get, $"/api/v1/tasks/{id}", Token("viewer", "acme"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Get, $"/api/v1/tasks/{id}", Token("viewer", "globex"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Delete, $"/api/v1/tasks/{id}", Token("submitter", "globex"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Get, $"/api/v1/tasks/{id}/steps", Token("viewer", "globex"))).StatusCode);
        var listed = await (await Send(HttpMethod.Get, "/api/v1/tasks?page_size=500", Token("viewer", "globex"))).Content.ReadAsStringAsync();
        Assert.DoesNotContain(id, listed);
        var mine = await (await Send(HttpMethod.Get, "/api/v1/tasks?page_size=500", Token("viewer", "acme"))).Content.ReadAsStringAsync();
        Assert.Contains(id, mine);
    }

    [Fact]
    public async Task Too_many_requests_are_429_with_retry_after()
    {
        var token = Token("viewer", sub: $"busy-{Guid.NewGuid():N}");
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 60 && limited is null; i++)
        {
            var response = await Send(HttpMethod.Get, "/api/v1/tasks/none-such", token);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
            }
        }
        Assert.NotNull(limited);
        Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        // Another user is not affected.
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Get, "/api/v1/tasks/none-such", Token("viewer", sub: "calm"))).StatusCode);
    }
}
