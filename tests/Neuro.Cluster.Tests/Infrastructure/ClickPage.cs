using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Neuro.Testing;

namespace Neuro.Cluster.Tests.Infrastructure;

/// <summary>The test page: an input and a button at known places on an 800x600 screen (input centre (0.375, 0.2), button
/// centre (0.25, 0.375)); clicking the button sends the input's text back to the page's server, which records it —
/// so a test sees what the browser really did.</summary>
public sealed class ClickPage : IAsyncDisposable
{
    private const string Html = """
        <html><body style="margin:0">
        <input id="q" style="position:absolute;left:100px;top:100px;width:400px;height:40px">
        <button style="position:absolute;left:100px;top:200px;width:200px;height:50px"
                onclick="fetch('/clicked?q=' + encodeURIComponent(document.getElementById('q').value))">Go</button>
        </body></html>
        """;

    private LocalSite _site = null!;

    public ConcurrentQueue<string> Clicks { get; } = new();

    public string Url => _site.Url + "/";

    public static async Task<ClickPage> StartAsync()
    {
        var page = new ClickPage();
        page._site = await LocalSite.StartAsync(app =>
        {
            app.MapGet("/", () => Results.Content(Html, "text/html"));
            app.MapGet("/clicked", (string q) =>
            {
                page.Clicks.Enqueue(q);
                return Results.Ok();
            });
        });
        return page;
    }

    /// <summary>Waits briefly for a click the browser sent just before its task ended.</summary>
    public async Task<string[]> ClicksAsync(TimeSpan within)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Clicks.IsEmpty && clock.Elapsed < within)
        {
            await Task.Delay(20);
        }
        return Clicks.ToArray();
    }

    public ValueTask DisposeAsync() => _site.DisposeAsync();
}
