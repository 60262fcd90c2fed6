using Neuro.Agents;

namespace Neuro.Ocr.Tests;

/// <summary>Tests that render the local test pages in a fresh headless Chromium (1280×800) per test.</summary>
public abstract class RenderedPageTests : IAsyncLifetime
{
    protected TestPages Pages { get; private set; } = null!;
    protected ChromiumEnvironment Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Pages = await TestPages.StartAsync();
        Browser = await ChromiumEnvironment.LaunchAsync(new ChromiumOptions { Width = 1280, Height = 800 });
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        await Pages.DisposeAsync();
    }
}
