using Neuro.Inference.Runtime;

namespace Neuro.Ocr;

/// <summary>Where the PP-OCRv4 files are and how they run. Defaults follow PaddleOCR's published inference settings
/// except <see cref="MaxSideLength"/>, which is larger because screen text is small and a screenshot is already sharp.</summary>
public sealed class OcrOptions
{
    public const string DetectionFile = "ch_PP-OCRv4_det_infer.onnx";
    public const string RecognitionFile = "ch_PP-OCRv4_rec_infer.onnx";
    public const string KeysFile = "ppocr_keys_v1.txt";
    public const string FetchScript = "scripts/fetch-ocr-models.sh";

    /// <summary>The folder holding the three files; default <c>${NEURO_MODEL_CACHE:-~/.cache/neuro/models}/ppocr-v4</c>,
    /// where <see cref="FetchScript"/> puts them.</summary>
    public string ModelDirectory { get; set; } = DefaultModelDirectory();

    /// <summary>The detector's input is scaled so that its longer side is at most this (then rounded to multiples of 32).
    /// PaddleOCR uses 960 for photos; a 1280x800 screenshot keeps its native scale at the default.</summary>
    public int MaxSideLength { get; set; } = 1600;

    /// <summary>DB: pixels whose text probability exceeds this form the binary map.</summary>
    public float BinaryThreshold { get; set; } = 0.3f;

    /// <summary>DB: a region is kept when the mean probability inside its box reaches this.</summary>
    public float BoxThreshold { get; set; } = 0.6f;

    /// <summary>DB: the shrunk text kernel is grown back by area × ratio / perimeter on every side.</summary>
    public float UnclipRatio { get; set; } = 1.5f;

    /// <summary>Recognition crops per ORT run (PaddleOCR's rec_batch_num).</summary>
    public int RecognitionBatchSize { get; set; } = 6;

    /// <summary>Lines whose recognition confidence is below this are dropped (PaddleOCR's drop_score).</summary>
    public float MinConfidence { get; set; } = 0.5f;

    /// <summary>Threads, graph optimisation and execution provider, as for every other model on the silo.</summary>
    public InferenceOptions Inference { get; set; } = new();

    public static string DefaultModelDirectory()
    {
        var root = Environment.GetEnvironmentVariable("NEURO_MODEL_CACHE");
        if (string.IsNullOrEmpty(root))
        {
            root = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "neuro", "models");
        }
        return Path.Combine(root, "ppocr-v4");
    }
}
