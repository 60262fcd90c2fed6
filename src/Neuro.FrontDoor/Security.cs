using System.Security.Claims;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;

namespace Neuro.FrontDoor;

/// <summary>Bound from <c>Neuro:Auth</c>. JWT bearer tokens are required unless <see cref="Mode"/> is set to <c>off</c>
/// explicitly (development only: every caller is then an admin of tenant "default").</summary>
public sealed class NeuroAuthOptions
{
    public const string Section = "Neuro:Auth";

    /// <summary><c>jwt</c> (default) or <c>off</c>.</summary>
    public string Mode { get; set; } = "jwt";

    /// <summary>HS256 key (at least 32 bytes of UTF-8), for a cluster that issues its own tokens.</summary>
    public string? SigningKey { get; set; }

    /// <summary>OpenID Connect authority: keys come from its JWKS (RS256/ES256), instead of <see cref="SigningKey"/>.</summary>
    public string? Authority { get; set; }

    public string? Issuer { get; set; }

    public string? Audience { get; set; }

    /// <summary>Requests per minute per user and endpoint before 429 (0 = no limit).</summary>
    public int RequestsPerMinute { get; set; } = 600;

    public bool IsOff => string.Equals(Mode, "off", StringComparison.OrdinalIgnoreCase);
}

/// <summary>Who may call what. Roles come from the token's "role" claim; the tenant from its "tenant" claim.</summary>
public static class NeuroRoles
{
    public const string Admin = "admin";
    public const string Operator = "operator";
    public const string Submitter = "submitter";
    public const string Viewer = "viewer";

    /// <summary>Read tasks and sessions of the caller's tenant.</summary>
    public const string CanView = "neuro.view";

    /// <summary>Create and change tasks and sessions of the caller's tenant.</summary>
    public const string CanSubmit = "neuro.submit";

    public const string TenantClaim = "tenant";

    public static string TenantOf(ClaimsPrincipal user) => user.FindFirst(TenantClaim)?.Value is { Length: > 0 } t ? t : "default";

    public static bool SeesAllTenants(ClaimsPrincipal user) => user.IsInRole(Admin) || user.IsInRole(Operator);
}

internal static class SecurityExtensions
{
    public const string RateLimitPolicy = "per-user-endpoint";

    public static void AddNeuroSecurity(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(NeuroAuthOptions.Section).Get<NeuroAuthOptions>() ?? new NeuroAuthOptions();
        services.AddSingleton(options);
        if (options.IsOff)
        {
            services.AddAuthentication(DevAuthenticationHandler.SchemeName)
                .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, DevAuthenticationHandler>(DevAuthenticationHandler.SchemeName, null);
        }
        else
        {
            if (options.SigningKey is null && options.Authority is null)
            {
                throw new InvalidOperationException(
                    "Neuro:Auth needs SigningKey (HS256) or Authority (JWKS); for development only, set Neuro:Auth:Mode=off explicitly");
            }
            if (options.SigningKey is { } key && Encoding.UTF8.GetByteCount(key) < 32)
            {
                throw new InvalidOperationException("Neuro:Auth:SigningKey must be at least 32 bytes");
            }
            services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer(jwt =>
            {
                jwt.MapInboundClaims = false;
                jwt.Authority = options.Authority;
                jwt.RequireHttpsMetadata = options.Authority?.StartsWith("https://", StringComparison.Ordinal) ?? true;
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidateIssuer = options.Issuer is not null,
                    ValidIssuer = options.Issuer,
                    ValidateAudience = options.Audience is not null,
                    ValidAudience = options.Audience,
                    ValidateLifetime = true,
                    RequireExpirationTime = true,
                    RequireSignedTokens = true,
                    ClockSkew = TimeSpan.FromSeconds(30),
                    RoleClaimType = "role",
                    NameClaimType = "sub",
                    // alg=none and any algorithm but these are refused outright.
                    ValidAlgorithms = options.SigningKey is not null ? [SecurityAlgorithms.HmacSha256] : [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256],
                    IssuerSigningKey = options.SigningKey is { } k ? new SymmetricSecurityKey(Encoding.UTF8.GetBytes(k)) : null,
                };
            });
        }
        services.AddAuthorization(a =>
        {
            a.AddPolicy(NeuroRoles.CanView, p => p.RequireRole(NeuroRoles.Viewer, NeuroRoles.Submitter, NeuroRoles.Operator, NeuroRoles.Admin));
            a.AddPolicy(NeuroRoles.CanSubmit, p => p.RequireRole(NeuroRoles.Submitter, NeuroRoles.Operator, NeuroRoles.Admin));
        });
        services.AddRateLimiter(r =>
        {
            r.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            r.OnRejected = (context, _) =>
            {
                if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retry))
                {
                    context.HttpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(retry.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
                return ValueTask.CompletedTask;
            };
            r.AddPolicy(RateLimitPolicy, http =>
            {
                if (options.RequestsPerMinute <= 0)
                {
                    return RateLimitPartition.GetNoLimiter("unlimited");
                }
                var user = http.User.FindFirst("sub")?.Value ?? http.Connection.RemoteIpAddress?.ToString() ?? "anonymous";
                var endpoint = (http.GetEndpoint() as Microsoft.AspNetCore.Routing.RouteEndpoint)?.RoutePattern.RawText ?? http.Request.Path.Value ?? "";
                return RateLimitPartition.GetFixedWindowLimiter($"{user} {http.Request.Method} {endpoint}", _ => new FixedWindowRateLimiterOptions
                {
                    PermitLimit = options.RequestsPerMinute,
                    Window = TimeSpan.FromMinutes(1),
                    QueueLimit = 0,
                });
            });
        });
    }
}

/// <summary>Auth off (explicit development setting): every caller is an admin of tenant "default".</summary>
internal sealed class DevAuthenticationHandler(
    Microsoft.Extensions.Options.IOptionsMonitor<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions> options,
    Microsoft.Extensions.Logging.ILoggerFactory logger, System.Text.Encodings.Web.UrlEncoder encoder)
    : Microsoft.AspNetCore.Authentication.AuthenticationHandler<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "neuro-dev";

    protected override Task<Microsoft.AspNetCore.Authentication.AuthenticateResult> HandleAuthenticateAsync()
    {
        var identity = new ClaimsIdentity(
            [new Claim("sub", "dev"), new Claim("role", NeuroRoles.Admin), new Claim(NeuroRoles.TenantClaim, "default")], SchemeName, "sub", "role");
        return Task.FromResult(Microsoft.AspNetCore.Authentication.AuthenticateResult.Success(
            new Microsoft.AspNetCore.Authentication.AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }
}
