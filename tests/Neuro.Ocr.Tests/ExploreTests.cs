using Neuro.Agents;
using Xunit.Abstractions;

namespace Neuro.Ocr.Tests;

[Collection(OcrCollection.Name)]
public sealed class ExploreTests(OcrModels models, ITestOutputHelper output)
{
    [Fact]
    public async Task Explore()
    {
        await using var pages = await TestPages.StartAsync();
        await using var browser = await ChromiumEnvironment.LaunchAsync(new ChromiumOptions());
        await browser.NavigateAsync(pages.Url);
        var png = await browser.ScreenshotAsync(CancellationToken.None);
        File.WriteAllBytes("/tmp/ocr-login.png", png);
        var lines = models.Engine.Recognize(OcrImage.FromPng(png), out var t);
        output.WriteLine($"det {t.Detection.TotalMilliseconds} rec {t.Recognition.TotalMilliseconds} regions {t.Regions}");
        foreach (var l in lines)
        {
            output.WriteLine($"LINE '{l.Text}' {TestPages.Format(l.Box)} {l.Confidence:F3}");
            foreach (var w in l.Words) output.WriteLine($"   '{w.Text}' {TestPages.Format(w.Box)} {w.Confidence:F3}");
        }
        foreach (var (text, box) in await TestPages.DomWordsAsync(browser)) output.WriteLine($"DOM '{text}' {TestPages.Format(box)}");
    }
}
