using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Neuro.Inference.Runtime;

namespace Neuro.Ocr;

/// <summary>PP-OCRv4's SVTR-LCNet recogniser: a line crop at height 48 → per-column class probabilities → text (CTC).</summary>
internal sealed class TextRecognizer : IDisposable
{
    public const int InputHeight = 48;
    // PaddleOCR's rec_image_shape is 3x48x320: a batch is never narrower than 320, so short words keep the scale the model
    // saw in training instead of being stretched.
    private const int MinInputWidth = 320;
    // Wider crops are squeezed: a screen line longer than this many pixels at height 48 is rare, and memory stays bounded.
    private const int MaxInputWidth = 3200;
    private const float MaxPadding = 1.25f;

    private readonly InferenceSession _session;
    private readonly string _input;
    private readonly string _output;
    private readonly CtcDecoder _decoder;
    private readonly int _batchSize;

    public TextRecognizer(string modelPath, string keysPath, OcrOptions options, ILogger? logger)
    {
        _decoder = CtcDecoder.FromKeysFile(keysPath);
        using var so = OrtSessionFactory.CreateSessionOptions(options.Inference, logger, out _);
        _session = new InferenceSession(modelPath, so);
        _input = _session.InputMetadata.Keys.Single();
        _output = _session.OutputMetadata.Keys.First();
        var classes = _session.OutputMetadata[_output].Dimensions[^1];
        if (classes > 0 && classes != _decoder.ClassCount)
        {
            throw new InvalidDataException($"recognition model has {classes} classes but the key list gives {_decoder.ClassCount} (blank + keys + space)");
        }
        _batchSize = Math.Max(1, options.RecognitionBatchSize);
    }

    /// <summary>Reads each crop. Crops of similar width share a run so that little of a batch is padding.</summary>
    public CtcResult[] Recognize(OcrImage image, IReadOnlyList<PixelBox> boxes)
    {
        var crops = boxes.Select(b => Crop.Of(image, b)).ToArray();
        var results = new CtcResult[crops.Length];
        var order = Enumerable.Range(0, crops.Length).OrderBy(i => crops[i].Ratio).ToArray();
        int InputWidth(int crop) => Math.Clamp((int)Math.Ceiling(InputHeight * crops[crop].Ratio), MinInputWidth, MaxInputWidth);
        for (var start = 0; start < order.Length;)
        {
            // A batch pads every crop to its widest, and the recogniser's cost grows faster than linearly with width, so
            // only crops within MaxPadding of the batch's narrowest share a run (measured: padding a screen's lines to
            // the widest one made recognition about twice as slow as one run per line, on a busy box).
            var count = 1;
            while (count < _batchSize && start + count < order.Length && InputWidth(order[start + count]) <= MaxPadding * InputWidth(order[start]))
            {
                count++;
            }
            var batch = order.AsSpan(start, count).ToArray();
            start += count;
            var width = InputWidth(batch[^1]);
            var plane = InputHeight * width;
            var input = new float[batch.Length * 3 * plane];
            var resized = new int[batch.Length];
            for (var b = 0; b < batch.Length; b++)
            {
                resized[b] = Fill(image, crops[batch[b]], input.AsSpan(b * 3 * plane, 3 * plane), width);
            }
            using var tensor = OrtValue.CreateTensorValueFromMemory(input, [batch.Length, 3, InputHeight, width]);
            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, [_input], [tensor], [_output]);
            var shape = outputs[0].GetTensorTypeAndShape().Shape;
            var (steps, classes) = ((int)shape[1], (int)shape[2]);
            var all = outputs[0].GetTensorDataAsSpan<float>();
            for (var b = 0; b < batch.Length; b++)
            {
                var crop = crops[batch[b]];
                var decoded = _decoder.Decode(all.Slice(b * steps * classes, steps * classes), steps);
                // Step t covers input columns [t, t+1)·width/steps; the crop occupies the first resized[b] of them.
                var toCrop = (float)width / steps * crop.Box.Width / resized[b];
                results[batch[b]] = decoded with { StepWidth = toCrop };
            }
        }
        return results;
    }

    /// <summary>Writes one crop as normalised BGR planes, height 48, aspect kept, zero (mid-grey) padding on the right;
    /// returns the width the crop took.</summary>
    private static int Fill(OcrImage image, Crop crop, Span<float> planes, int width)
    {
        var w = Math.Clamp((int)Math.Ceiling(InputHeight * crop.Ratio), 1, width);
        var plane = InputHeight * width;
        var sx = crop.Box.Width / w;
        var sy = crop.Box.Height / InputHeight;
        for (var y = 0; y < InputHeight; y++)
        {
            var iy = crop.Box.Top + (y + 0.5f) * sy;
            for (var x = 0; x < w; x++)
            {
                var ix = crop.Box.Left + (x + 0.5f) * sx;
                for (var c = 0; c < 3; c++)
                {
                    planes[c * plane + y * width + x] = image.Sample(ix, iy, 2 - c) / 127.5f - 1f;
                }
            }
        }
        return w;
    }

    public void Dispose() => _session.Dispose();

    /// <summary>A box snapped to whole pixels inside the image.</summary>
    internal readonly record struct Crop(PixelBox Box)
    {
        public float Ratio => Box.Width / Box.Height;

        public static Crop Of(OcrImage image, PixelBox b)
        {
            var left = Math.Clamp(MathF.Floor(b.Left), 0, image.Width - 1);
            var top = Math.Clamp(MathF.Floor(b.Top), 0, image.Height - 1);
            var right = Math.Clamp(MathF.Ceiling(b.Right), left + 1, image.Width);
            var bottom = Math.Clamp(MathF.Ceiling(b.Bottom), top + 1, image.Height);
            return new Crop(new PixelBox(left, top, right, bottom));
        }
    }
}

/// <summary>One decoded character and the output steps it spans (first..last step of its run).</summary>
internal readonly record struct CtcChar(string Text, int FirstStep, int LastStep, float Probability);

/// <summary>A decoded crop. <see cref="StepWidth"/> is how many crop pixels one output step covers.</summary>
internal sealed record CtcResult(string Text, float Confidence, IReadOnlyList<CtcChar> Chars, float StepWidth = 0);

/// <summary>Greedy CTC: the best class per step, repeats collapsed, blanks (class 0) dropped. Classes 1..n are the key
/// list's lines in order and class n+1 is a space, as PaddleOCR's use_space_char builds it.</summary>
internal sealed class CtcDecoder
{
    private readonly string[] _classes;

    public CtcDecoder(IReadOnlyList<string> keys)
    {
        _classes = ["", .. keys, " "];
    }

    public int ClassCount => _classes.Length;

    public static CtcDecoder FromKeysFile(string path)
    {
        // One key per line; the file's last line has no newline, and some keys are characters .NET would call whitespace,
        // so lines are split on '\n' only and kept as they are.
        var text = File.ReadAllText(path).Replace("\r\n", "\n");
        var keys = text.Split('\n');
        if (keys.Length > 0 && keys[^1].Length == 0)
        {
            keys = keys[..^1];
        }
        return new CtcDecoder(keys);
    }

    /// <param name="probabilities">[steps, classes] row-major; softmax outputs (the exported model ends in a softmax).</param>
    public CtcResult Decode(ReadOnlySpan<float> probabilities, int steps)
    {
        var classes = probabilities.Length / steps;
        if (classes != _classes.Length)
        {
            throw new ArgumentException($"{classes} classes per step, the key list has {_classes.Length}");
        }
        var chars = new List<CtcChar>();
        var previous = -1;
        for (var t = 0; t < steps; t++)
        {
            var row = probabilities.Slice(t * classes, classes);
            var best = 0;
            var max = row[0];
            for (var k = 1; k < classes; k++)
            {
                if (row[k] > max)
                {
                    max = row[k];
                    best = k;
                }
            }
            if (best != 0 && best == previous)
            {
                // The same class again: one character held over several steps; it ends later, its probability is its first step's.
                chars[^1] = chars[^1] with { LastStep = t };
            }
            else if (best != 0)
            {
                var s = _classes[best];
                chars.Add(new CtcChar(s, t, t, max));
            }
            previous = best;
        }
        var text = string.Concat(chars.Select(c => c.Text));
        var confidence = chars.Count == 0 ? 0f : chars.Average(c => c.Probability);
        return new CtcResult(text, confidence, chars);
    }
}
