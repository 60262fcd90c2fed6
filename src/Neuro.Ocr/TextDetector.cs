using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Neuro.Inference.Runtime;

namespace Neuro.Ocr;

/// <summary>PP-OCRv4's DB (differentiable binarisation) text detector: image → per-pixel text probability → line boxes.</summary>
internal sealed class TextDetector : IDisposable
{
    // PaddleOCR feeds OpenCV's BGR planes normalised with ImageNet's mean/std listed in RGB order, so plane 0 (blue) takes
    // the red statistics. The model was trained that way; matching it matters more than the names.
    private static readonly float[] Mean = [0.485f, 0.456f, 0.406f];
    private static readonly float[] Std = [0.229f, 0.224f, 0.225f];

    private readonly InferenceSession _session;
    private readonly string _input;
    private readonly string _output;
    private readonly OcrOptions _options;

    public TextDetector(string path, OcrOptions options, ILogger? logger)
    {
        _options = options;
        using var so = OrtSessionFactory.CreateSessionOptions(options.Inference, logger, out _);
        _session = new InferenceSession(path, so);
        _input = _session.InputMetadata.Keys.Single();
        _output = _session.OutputMetadata.Keys.First();
    }

    /// <summary>The detector's input size: longest side at most <see cref="OcrOptions.MaxSideLength"/>, each side a
    /// multiple of 32 (the backbone downsamples five times), at least 32.</summary>
    internal static (int Width, int Height) InputSize(int width, int height, int maxSide)
    {
        var ratio = Math.Max(width, height) > maxSide ? (double)maxSide / Math.Max(width, height) : 1.0;
        static int Round32(double v) => Math.Max(32, (int)Math.Round(v / 32) * 32);
        return (Round32(width * ratio), Round32(height * ratio));
    }

    public IReadOnlyList<DetectedBox> Detect(OcrImage image)
    {
        var (w, h) = InputSize(image.Width, image.Height, _options.MaxSideLength);
        var input = new float[3 * w * h];
        var sx = (float)image.Width / w;
        var sy = (float)image.Height / h;
        var plane = w * h;
        var identity = w == image.Width && h == image.Height;
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                var o = y * w + x;
                for (var c = 0; c < 3; c++)
                {
                    // BGR plane order (see Mean): plane c reads RGB channel 2 - c.
                    var v = identity ? image.Rgb[o * 3 + 2 - c] : image.Sample((x + 0.5f) * sx, (y + 0.5f) * sy, 2 - c);
                    input[c * plane + o] = (v / 255f - Mean[c]) / Std[c];
                }
            }
        }
        using var tensor = OrtValue.CreateTensorValueFromMemory(input, [1, 3, h, w]);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(runOptions, [_input], [tensor], [_output]);
        var shape = outputs[0].GetTensorTypeAndShape().Shape;
        var (mh, mw) = ((int)shape[^2], (int)shape[^1]);
        var probability = outputs[0].GetTensorDataAsSpan<float>();
        return DbPostProcessor.Boxes(probability, mw, mh, image.Width, image.Height, _options.BinaryThreshold, _options.BoxThreshold, _options.UnclipRatio);
    }

    public void Dispose() => _session.Dispose();
}

/// <summary>A text region in image pixels with the detector's mean probability inside it.</summary>
internal readonly record struct DetectedBox(PixelBox Box, float Score);

/// <summary>DB post-processing as PaddleOCR describes it (binary map at a threshold, regions, box score, unclip), with
/// axis-aligned rectangles in place of rotated minimum-area ones: screen text is horizontal, and an axis-aligned box is
/// what a click target and a DOM rectangle are.</summary>
internal static class DbPostProcessor
{
    private const int MinSize = 3;

    public static List<DetectedBox> Boxes(ReadOnlySpan<float> probability, int mapWidth, int mapHeight, int imageWidth, int imageHeight,
        float binaryThreshold, float boxThreshold, float unclipRatio)
    {
        if (probability.Length != mapWidth * mapHeight)
        {
            throw new ArgumentException($"probability map has {probability.Length} values, expected {mapWidth}x{mapHeight}");
        }
        var labels = new int[probability.Length];
        var stack = new Stack<int>();
        var boxes = new List<DetectedBox>();
        var scaleX = (float)imageWidth / mapWidth;
        var scaleY = (float)imageHeight / mapHeight;
        var next = 0;
        for (var start = 0; start < probability.Length; start++)
        {
            if (labels[start] != 0 || probability[start] <= binaryThreshold)
            {
                continue;
            }
            // One 8-connected region of the binary map, flood-filled; only its extent is needed.
            next++;
            int x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
            labels[start] = next;
            stack.Push(start);
            while (stack.Count > 0)
            {
                var p = stack.Pop();
                int px = p % mapWidth, py = p / mapWidth;
                x0 = Math.Min(x0, px); x1 = Math.Max(x1, px);
                y0 = Math.Min(y0, py); y1 = Math.Max(y1, py);
                for (var dy = -1; dy <= 1; dy++)
                {
                    var ny = py + dy;
                    if (ny < 0 || ny >= mapHeight) continue;
                    for (var dx = -1; dx <= 1; dx++)
                    {
                        var nx = px + dx;
                        if (nx < 0 || nx >= mapWidth) continue;
                        var q = ny * mapWidth + nx;
                        if (labels[q] == 0 && probability[q] > binaryThreshold)
                        {
                            labels[q] = next;
                            stack.Push(q);
                        }
                    }
                }
            }
            // Box sides run through the outermost pixel centres, as a contour's minimum-area rectangle does.
            float w = x1 - x0, h = y1 - y0;
            if (Math.Min(w, h) < MinSize)
            {
                continue;
            }
            var score = MeanInside(probability, mapWidth, x0, y0, x1, y1);
            if (score < boxThreshold)
            {
                continue;
            }
            // The model predicts a kernel shrunk by D = A(1 - r²)/L; growing it by A·ratio/L restores the text's extent.
            var d = w * h * unclipRatio / (2 * (w + h));
            float left = x0 - d, right = x1 + d, top = y0 - d, bottom = y1 + d;
            if (Math.Min(right - left, bottom - top) < MinSize + 2)
            {
                continue;
            }
            boxes.Add(new DetectedBox(new PixelBox(
                Math.Clamp(left * scaleX, 0, imageWidth), Math.Clamp(top * scaleY, 0, imageHeight),
                Math.Clamp(right * scaleX, 0, imageWidth), Math.Clamp(bottom * scaleY, 0, imageHeight)), score));
        }
        return ReadingOrder(boxes);
    }

    /// <summary>Top to bottom; boxes whose vertical centres fall within the first box's height of a row share it and go
    /// left to right.</summary>
    internal static List<DetectedBox> ReadingOrder(List<DetectedBox> boxes)
    {
        boxes.Sort((a, b) => a.Box.Top.CompareTo(b.Box.Top));
        var ordered = new List<DetectedBox>(boxes.Count);
        var i = 0;
        while (i < boxes.Count)
        {
            var first = boxes[i].Box;
            var j = i + 1;
            while (j < boxes.Count && boxes[j].Box.CenterY < first.Bottom && boxes[j].Box.CenterY > first.Top)
            {
                j++;
            }
            ordered.AddRange(boxes.GetRange(i, j - i).OrderBy(b => b.Box.Left));
            i = j;
        }
        return ordered;
    }

    private static float MeanInside(ReadOnlySpan<float> probability, int mapWidth, int x0, int y0, int x1, int y1)
    {
        double sum = 0;
        for (var y = y0; y <= y1; y++)
        {
            foreach (var v in probability.Slice(y * mapWidth + x0, x1 - x0 + 1))
            {
                sum += v;
            }
        }
        return (float)(sum / ((x1 - x0 + 1) * (y1 - y0 + 1)));
    }
}
