using Neuro.Agents;
using Neuro.Ocr;

namespace Neuro.Grains;

/// <summary>The OCR grounding policy's models on this silo (<c>Neuro:Agents:Ocr:ModelDirectory</c>, default the folder
/// <c>scripts/fetch-ocr-models.sh</c> fills). Loaded on the first OCR task, not at start (most silos never run one), and
/// then shared by every task: <see cref="OcrEngine"/> is thread-safe and loading costs about a second.</summary>
public sealed class AgentOcr(OcrOptions options) : IDisposable
{
    public const string Section = "Neuro:Agents:Ocr";

    private readonly Lock _gate = new();
    private OcrEngine? _engine;

    /// <summary>Why OCR tasks cannot run here (model files missing), or null when they can.</summary>
    public string? Unavailable() => OcrEngine.MissingModels(options)?.Message;

    /// <summary>A policy for one task; throws <see cref="FileNotFoundException"/> naming the missing files.</summary>
    public IAgentPolicy Policy()
    {
        lock (_gate)
        {
            // Not Lazy<T>: it would cache a failed load for good, while the models may be fetched after the silo started.
            _engine ??= OcrEngine.Load(options);
            return new OcrGroundingPolicy(new OcrScreenReader(_engine));
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _engine?.Dispose();
            _engine = null;
        }
    }
}
