using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Neuro.Testing;

/// <summary>A small web server on a free loopback port (test pages, stand-ins, benchmark baselines).</summary>
public sealed class LocalSite : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LocalSite(WebApplication app) => _app = app;

    public string Url => _app.Urls.First();

    public static async Task<LocalSite> StartAsync(Action<WebApplication> map, string host = "127.0.0.1")
    {
        // An empty content root: the silo's appsettings.json sits in this output folder, and its Kestrel endpoints must not apply here.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = Directory.CreateTempSubdirectory("neuro-site-").FullName });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls($"http://{host}:{FreePort.Next()}");
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return new LocalSite(app);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
