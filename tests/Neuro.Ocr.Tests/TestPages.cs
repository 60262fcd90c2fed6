using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Neuro.Agents;
using Neuro.Testing;

namespace Neuro.Ocr.Tests;

/// <summary>Local pages with known text in several fonts and sizes, every word wrapped in <c>span.w</c> so the DOM can
/// say where it is; a login form whose server records who signed in.</summary>
public sealed class TestPages : IAsyncDisposable
{
    public const string LoginPage = """
        <!doctype html><html><head><meta charset="utf-8"><title>login</title><style>
          body { margin: 0; background: #fff; color: #111; font-family: 'DejaVu Sans'; }
          h1 { position: absolute; left: 60px; top: 30px; margin: 0; font: bold 32px 'DejaVu Serif'; }
          p.intro { position: absolute; left: 60px; top: 100px; margin: 0; font-size: 16px; width: 900px; }
          form { position: absolute; left: 60px; top: 180px; }
          label { font-size: 18px; }
          input { font-size: 16px; width: 260px; height: 32px; border: 1px solid #777; }
          .row { height: 56px; }
          button { font: 20px 'DejaVu Sans'; padding: 6px 22px; }
          p.note { position: absolute; left: 700px; top: 200px; margin: 0; font: 14px 'DejaVu Sans Mono'; width: 480px; }
          p.small { position: absolute; left: 700px; top: 300px; margin: 0; font: 22px 'DejaVu Sans Condensed'; color: #1a4d8f; }
        </style></head><body>
        <h1><span class="w">Welcome</span> <span class="w">back</span></h1>
        <p class="intro"><span class="w">Neuro</span> <span class="w">agents</span> <span class="w">read</span> <span class="w">the</span>
          <span class="w">screen</span> <span class="w">with</span> <span class="w">a</span> <span class="w">vision</span> <span class="w">model</span></p>
        <form method="post" action="/login">
          <div class="row"><label for="u"><span class="w">Username</span></label> <input id="u" name="user" autocomplete="off"></div>
          <div class="row"><label for="p"><span class="w">Password</span></label> <input id="p" name="password" type="password"></div>
          <div class="row"><button type="submit"><span class="w">Sign</span> <span class="w">in</span></button></div>
        </form>
        <p class="note"><span class="w">Orders</span> <span class="w">shipped</span> <span class="w">today:</span> <span class="w">1024</span></p>
        <p class="small"><span class="w">Forgot</span> <span class="w">password?</span></p>
        </body></html>
        """;

    public const string ArticlePage = """
        <!doctype html><html><head><meta charset="utf-8"><title>notes</title><style>
          body { margin: 0; background: #fff; color: #222; font-family: 'DejaVu Sans'; }
          h2 { position: absolute; left: 80px; top: 40px; margin: 0; font: 28px 'DejaVu Serif'; }
          p.body { position: absolute; left: 80px; top: 100px; margin: 0; font: 15px/24px 'DejaVu Sans'; width: 560px; }
          ul { position: absolute; left: 80px; top: 200px; margin: 0; padding: 0; list-style: none; font: 18px/30px 'DejaVu Sans Mono'; }
          .cta { position: absolute; left: 80px; top: 290px; background: #1b3a6b; color: #fff; font: bold 20px 'DejaVu Sans'; padding: 10px 16px; }
          p.thanks { position: absolute; left: 720px; top: 110px; margin: 0; font: italic 24px 'DejaVu Serif'; }
          .stack { position: absolute; left: 720px; top: 200px; }
          .stack label { display: block; font: 16px 'DejaVu Sans'; margin-bottom: 8px; }
          .stack input { width: 300px; height: 30px; font-size: 16px; border: 1px solid #888; }
        </style></head><body>
        <h2><span class="w">Release</span> <span class="w">notes</span></h2>
        <p class="body"><span class="w">Version</span> <span class="w">2.4</span> <span class="w">adds</span> <span class="w">streaming</span>
          <span class="w">answers,</span> <span class="w">faster</span> <span class="w">cold</span> <span class="w">starts</span> <span class="w">and</span>
          <span class="w">a</span> <span class="w">smaller</span> <span class="w">memory</span> <span class="w">footprint</span> <span class="w">for</span>
          <span class="w">every</span> <span class="w">silo</span> <span class="w">in</span> <span class="w">the</span> <span class="w">cluster.</span></p>
        <ul><li><span class="w">grains:</span> <span class="w">128</span></li><li><span class="w">latency:</span> <span class="w">35</span> <span class="w">ms</span></li></ul>
        <div class="cta"><span class="w">Download</span> <span class="w">now</span></div>
        <p class="thanks"><span class="w">Thank</span> <span class="w">you</span> <span class="w">for</span> <span class="w">reading</span></p>
        <div class="stack"><label for="e"><span class="w">Email</span> <span class="w">address</span></label><input id="e"></div>
        </body></html>
        """;

    private readonly LocalSite _site;

    private TestPages(LocalSite site) => _site = site;

    public string Url => _site.Url;

    /// <summary>Who signed in, with which password, as the server saw the form.</summary>
    public ConcurrentQueue<(string User, string Password)> Logins { get; } = new();

    public static async Task<TestPages> StartAsync()
    {
        TestPages? pages = null;
        var site = await LocalSite.StartAsync(app =>
        {
            app.MapGet("/", () => Results.Content(LoginPage, "text/html; charset=utf-8"));
            app.MapGet("/article", () => Results.Content(ArticlePage, "text/html; charset=utf-8"));
            app.MapPost("/login", async (HttpRequest request) =>
            {
                var form = await request.ReadFormAsync();
                var user = form["user"].ToString();
                pages!.Logins.Enqueue((user, form["password"].ToString()));
                return Results.Content(
                    $"<!doctype html><html><body style=\"font: 24px 'DejaVu Sans'; margin: 60px\"><p id=\"status\">Signed in as {System.Net.WebUtility.HtmlEncode(user)}</p></body></html>",
                    "text/html; charset=utf-8");
            });
        });
        pages = new TestPages(site);
        return pages;
    }

    public ValueTask DisposeAsync() => _site.DisposeAsync();

    /// <summary>Each <c>span.w</c>'s text and client rectangle (CSS pixels = screenshot pixels at scale factor 1).</summary>
    public static async Task<IReadOnlyList<(string Text, PixelBox Box)>> DomWordsAsync(ChromiumEnvironment browser)
    {
        var json = await browser.EvaluateAsync(
            "JSON.stringify([...document.querySelectorAll('span.w')].map(s => { const r = s.getBoundingClientRect(); " +
            "return [s.textContent, r.left, r.top, r.right, r.bottom]; }))");
        using var doc = JsonDocument.Parse(json!);
        return doc.RootElement.EnumerateArray().Select(e => (e[0].GetString()!,
            new PixelBox(e[1].GetSingle(), e[2].GetSingle(), e[3].GetSingle(), e[4].GetSingle()))).ToArray();
    }

    /// <summary>An element's client rectangle, by CSS selector.</summary>
    public static async Task<PixelBox> DomRectAsync(ChromiumEnvironment browser, string selector)
    {
        var json = await browser.EvaluateAsync(
            $"JSON.stringify((r => [r.left, r.top, r.right, r.bottom])(document.querySelector('{selector}').getBoundingClientRect()))");
        using var doc = JsonDocument.Parse(json!);
        var e = doc.RootElement;
        return new PixelBox(e[0].GetSingle(), e[1].GetSingle(), e[2].GetSingle(), e[3].GetSingle());
    }

    internal static string Format(PixelBox b) =>
        string.Create(CultureInfo.InvariantCulture, $"[{b.Left:F1},{b.Top:F1} → {b.Right:F1},{b.Bottom:F1}]");
}
