using Neuro.Agents;

namespace Neuro.Ocr.Tests;

/// <summary>The parts with exact answers: DB post-processing on made-up probability maps, CTC decoding on made-up
/// class scores, input sizing, the instruction grammar, text matching, and the missing-model message.</summary>
public sealed class OcrUnitTests
{
    [Fact]
    public void A_text_kernel_grows_by_the_unclip_distance_and_scales_to_the_image()
    {
        // A 40x10 map with one kernel from (5,2) to (24,5) inclusive: w = 19, h = 3 between pixel centres.
        const int W = 40, H = 10;
        var map = new float[W * H];
        for (var y = 2; y <= 5; y++) for (var x = 5; x <= 24; x++) map[y * W + x] = 0.9f;
        var boxes = DbPostProcessor.Boxes(map, W, H, 80, 20, 0.3f, 0.6f, 1.5f);
        var box = Assert.Single(boxes).Box;
        var d = 19f * 3 * 1.5f / (2 * (19 + 3));
        Assert.Equal((5 - d) * 2, box.Left, 3);
        Assert.Equal((24 + d) * 2, box.Right, 3);
        Assert.Equal((2 - d) * 2, box.Top, 3);
        Assert.Equal((5 + d) * 2, box.Bottom, 3);
        Assert.Equal(0.9f, boxes[0].Score, 4);
    }

    [Fact]
    public void Faint_tiny_and_separate_regions_are_handled_as_DB_says()
    {
        const int W = 60, H = 30;
        var map = new float[W * H];
        void Fill(int x0, int y0, int x1, int y1, float p) { for (var y = y0; y <= y1; y++) for (var x = x0; x <= x1; x++) map[y * W + x] = p; }
        Fill(2, 2, 20, 6, 0.95f);   // kept
        Fill(30, 2, 50, 6, 0.5f);   // above the binary threshold but below the box threshold: dropped
        Fill(2, 12, 3, 13, 0.99f);  // smaller than 3 px: dropped
        Fill(2, 20, 40, 25, 0.8f);  // kept, the second line
        var boxes = DbPostProcessor.Boxes(map, W, H, W, H, 0.3f, 0.6f, 1.5f);
        Assert.Equal(2, boxes.Count);
        Assert.True(boxes[0].Box.Top < boxes[1].Box.Top);
        Assert.InRange(boxes[1].Box.Left, 0, 2);
    }

    [Fact]
    public void Ctc_collapses_repeats_drops_blanks_and_maps_the_space_class()
    {
        var decoder = new CtcDecoder(["a", "b", "l"]);   // classes: 0 blank, 1 a, 2 b, 3 l, 4 space
        Assert.Equal(5, decoder.ClassCount);
        int[] best = [1, 1, 0, 3, 0, 3, 4, 2, 2, 0];      // a a _ l _ l ␣ b b _ → "all b"
        var probs = new float[best.Length * 5];
        for (var t = 0; t < best.Length; t++)
        {
            for (var k = 0; k < 5; k++) probs[t * 5 + k] = k == best[t] ? 0.8f : 0.05f;
        }
        probs[7 * 5 + 2] = 0.6f;                          // the first step of "b" decides its probability
        var result = decoder.Decode(probs, best.Length);
        Assert.Equal("all b", result.Text);
        Assert.Equal([0, 3, 5, 6, 7], result.Chars.Select(c => c.FirstStep));
        Assert.Equal(1, result.Chars[0].LastStep);
        Assert.Equal((0.8f * 4 + 0.6f) / 5, result.Confidence, 5);
    }

    [Fact]
    public void The_key_file_gives_blank_plus_keys_plus_space()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "x\ny\n\u3000");             // no newline at the end; an ideographic space is a key
            var decoder = CtcDecoder.FromKeysFile(path);
            Assert.Equal(5, decoder.ClassCount);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(1280, 800, 1600, 1280, 800)]
    [InlineData(1000, 700, 1600, 992, 704)]
    [InlineData(3200, 1000, 1600, 1600, 512)]
    [InlineData(10, 10, 1600, 32, 32)]
    public void Detector_input_is_a_multiple_of_32_within_the_side_limit(int w, int h, int max, int ew, int eh) =>
        Assert.Equal((ew, eh), TextDetector.InputSize(w, h, max));

    [Fact]
    public void Missing_models_name_the_fetch_script()
    {
        var empty = Directory.CreateTempSubdirectory("neuro-ocr-empty-").FullName;
        try
        {
            var e = Assert.Throws<FileNotFoundException>(() => OcrEngine.Load(new OcrOptions { ModelDirectory = empty }));
            Assert.Contains("scripts/fetch-ocr-models.sh", e.Message);
            Assert.Contains(OcrOptions.DetectionFile, e.Message);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Fact]
    public void Steps_parse_and_an_unknown_step_is_refused()
    {
        var steps = OcrGroundingPolicy.ParseTask("click \"Sign in\"; type 'alice' into \"User name\"\n  press enter\nread \"Signed in\"\nanswer \"ok\"");
        Assert.Equal(
            [new("click", "Sign in", null), new("type", "alice", "User name"), new("enter", null, null), new("read", "Signed in", null), new OcrGroundingPolicy.Instruction("answer", "ok", null)],
            steps);
        var e = Assert.Throws<ArgumentException>(() => OcrGroundingPolicy.ParseTask("click \"a\"\ndrag \"b\""));
        Assert.Contains("drag \"b\"", e.Message);
    }

    [Fact]
    public void Matching_is_fuzzy_and_prefers_a_whole_line_label()
    {
        static ScreenWord Word(string t, double x) => new(t, new ScreenRect(x, 0, x + 10 * t.Length, 20), 0.99);
        var forgot = new ScreenTextLine("Forgot password?", new ScreenRect(0, 0, 170, 20), 0.99, [Word("Forgot", 0), Word("password?", 70)]);
        var label = new ScreenTextLine("Password", new ScreenRect(0, 100, 80, 120), 0.99,
            [new ScreenWord("Password", new ScreenRect(0, 100, 80, 120), 0.99)]);
        var orders = new ScreenTextLine("0rders shipped", new ScreenRect(0, 200, 140, 220), 0.9, [Word("0rders", 0), Word("shipped", 70)]);
        ScreenTextLine[] lines = [forgot, label, orders];

        Assert.Equal(100, OcrGroundingPolicy.FindText(lines, "password", 0.8)!.Box.Top);
        Assert.Equal("Forgot password?", OcrGroundingPolicy.FindText(lines, "forgot password", 0.8)!.Text);
        Assert.Equal("0rders shipped", OcrGroundingPolicy.FindText(lines, "Orders shipped", 0.8)!.Text);
        Assert.Equal("shipped", OcrGroundingPolicy.FindText(lines, "shiped", 0.8)!.Text);
        Assert.Null(OcrGroundingPolicy.FindText(lines, "Register", 0.8));
        Assert.Equal("password", OcrGroundingPolicy.Normalise(" Pass-word? "));
        Assert.Equal("üñïcode", OcrGroundingPolicy.Normalise("Üñï code"));
        Assert.Equal("olders", OcrGroundingPolicy.Normalise("0|ders"));
    }
}
