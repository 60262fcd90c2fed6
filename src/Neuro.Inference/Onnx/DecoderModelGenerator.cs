using Google.Protobuf;
using static Neuro.Inference.Onnx.OnnxGraphBuilder;
using DT = Neuro.Inference.Onnx.TensorProto.Types.DataType;

namespace Neuro.Inference.Onnx;

/// <summary>Shape of a generated GPT-style decoder.</summary>
public sealed record DecoderModelSpec(
    int VocabSize, int Layers, int Heads, int HiddenSize, int MaxPositions, int Seed = 1234, float InitScale = 0.02f, int EosTokenId = -1,
    bool Int8Weights = false)
{
    /// <summary>The int8 variant: the same random weights, every projection and the LM head stored as int8 with a per-tensor scale.</summary>
    public DecoderModelSpec AsInt8() => this with { Int8Weights = true };

    public int HeadDim => HiddenSize / Heads;
    public int FfnSize => 4 * HiddenSize;

    /// <summary>Tiny model for tests: byte vocabulary (256) + 4 specials, 2 layers, 32 wide, 128 positions. ~45k parameters.</summary>
    public static DecoderModelSpec Tiny(int seed = 1234) => new(260, 2, 2, 32, 128, seed, InitScale: 0.15f, EosTokenId: 256);

    /// <summary>GPT-2 small shape: vocab 50257, 12 layers, 12 heads, 768 wide, 1024 positions (~163M parameters with an untied LM head).</summary>
    public static DecoderModelSpec Gpt2Small(int seed = 1234) => new(50257, 12, 12, 768, 1024, seed, InitScale: 0.02f, EosTokenId: 50256);

    public long ParameterCount =>
        (long)VocabSize * HiddenSize * 2 + (long)MaxPositions * HiddenSize + 2L * HiddenSize
        + Layers * (4L * HiddenSize + 4L * HiddenSize * HiddenSize + 4L * HiddenSize + 2L * HiddenSize * FfnSize + FfnSize + HiddenSize);
}

/// <summary>
/// Writes a GPT-style decoder with random weights as ONNX protobuf, in the Hugging Face / optimum "with past" I/O layout:
/// inputs input_ids, attention_mask, position_ids [batch, seq] (int64), past_key_values.{i}.key|value [batch, heads, past, head_dim];
/// outputs logits [batch, seq, vocab] and present.{i}.key|value [batch, heads, past + seq, head_dim]. Nothing is downloaded.
/// </summary>
public static class DecoderModelGenerator
{
    public static ModelProto Build(DecoderModelSpec spec)
    {
        if (spec.HiddenSize % spec.Heads != 0) throw new ArgumentException("hidden size must be a multiple of heads");
        var g = new OnnxGraphBuilder();
        var rng = new Xoshiro(spec.Seed);
        int d = spec.HiddenSize, h = spec.Heads, dh = spec.HeadDim, f = spec.FfnSize, v = spec.VocabSize;

        g.Input("input_ids", DT.Int64, "batch_size", "sequence_length");
        g.Input("attention_mask", DT.Int64, "batch_size", "total_sequence_length");
        g.Input("position_ids", DT.Int64, "batch_size", "sequence_length");
        for (int i = 0; i < spec.Layers; i++)
        {
            g.Input($"past_key_values.{i}.key", DT.Float, "batch_size", h, "past_sequence_length", dh);
            g.Input($"past_key_values.{i}.value", DT.Float, "batch_size", h, "past_sequence_length", dh);
        }
        g.Output("logits", DT.Float, "batch_size", "sequence_length", v);
        for (int i = 0; i < spec.Layers; i++)
        {
            g.Output($"present.{i}.key", DT.Float, "batch_size", h, "total_sequence_length", dh);
            g.Output($"present.{i}.value", DT.Float, "batch_size", h, "total_sequence_length", dh);
        }

        float s = spec.InitScale;
        string W(string name, params long[] dims) => g.FloatInit(name, dims, rng.Uniform(Count(dims), s));
        string Const(string name, float value, params long[] dims) => g.FloatInit(name, dims, Fill(Count(dims), value));
        var zero = g.Int64Init("c_zero", [], 0);
        var one = g.Int64Init("c_one", [], 1);
        var ax0 = g.Int64Init("c_ax0", [1], 0);
        var ax1 = g.Int64Init("c_ax1", [1], 1);
        var ax12 = g.Int64Init("c_ax12", [2], 1, 2);
        var heads4 = g.Int64Init("c_heads_shape", [4], 0, 0, h, dh);
        var merge3 = g.Int64Init("c_merge_shape", [3], 0, 0, d);
        var negBig = Const("c_neg_big", -1e9f);
        var scale = Const("c_scale", 1f / MathF.Sqrt(dh));
        var geluK = Const("c_gelu_k", 1.702f);

        // embeddings
        var wte = W("transformer.wte.weight", v, d);
        var wpe = W("transformer.wpe.weight", spec.MaxPositions, d);
        var hidden = g.Node("Add", [g.Node("Gather", [wte, "input_ids"]), g.Node("Gather", [wpe, "position_ids"])]);

        // mask [batch, 1, seq, total]: key j visible to query i iff j <= (total - seq) + i and attention_mask[b, j] != 0
        var total = g.Node("Gather", [g.Node("Shape", ["attention_mask"]), one], attributes: Int("axis", 0));
        var seq = g.Node("Gather", [g.Node("Shape", ["input_ids"]), one], attributes: Int("axis", 0));
        var keyPos = g.Node("Unsqueeze", [g.Node("Range", [zero, total, one]), ax0]);
        var queryPos = g.Node("Unsqueeze", [g.Node("Add", [g.Node("Range", [zero, seq, one]), g.Node("Sub", [total, seq])]), ax1]);
        var causal = g.Node("LessOrEqual", [keyPos, queryPos]);
        var padding = g.Node("Unsqueeze", [g.Node("Cast", ["attention_mask"], attributes: Int("to", (long)DT.Bool)), ax12]);
        var mask = g.Node("And", [causal, padding]);

        string LayerNorm(string x, string prefix) =>
            g.Node("LayerNormalization", [x, Const($"{prefix}.weight", 1f, d), Const($"{prefix}.bias", 0f, d)], attributes: [Int("axis", -1), Float("epsilon", 1e-5f)]);
        string MatMul(string x, string name, int inDim, int outDim)
        {
            var w = rng.Uniform(inDim * outDim, s);
            if (!spec.Int8Weights) return g.Node("MatMul", [x, g.FloatInit(name, [inDim, outDim], w)]);
            // weight-only symmetric int8 (per tensor); activations quantized dynamically: DynamicQuantizeLinear + MatMulInteger
            float maxAbs = 0;
            foreach (var f in w) maxAbs = Math.Max(maxAbs, Math.Abs(f));
            // 7-bit range ("reduce_range"): ORT's u8×s8 kernels on AVX2 without VNNI add byte pairs into int16 and saturate
            // with full-range int8 weights (255·127·2 > 32767); measured here: ~15% error at ±127, <2% at ±63
            float scale = maxAbs > 0 ? maxAbs / 63f : 1f;
            var q = new sbyte[w.Length];
            for (int i = 0; i < w.Length; i++) q[i] = (sbyte)Math.Clamp(MathF.Round(w[i] / scale), -63, 63);
            var wq = g.Int8Init($"{name}_quantized", [inDim, outDim], q);
            var wScale = Const($"{name}_scale", scale);
            var xq = g.NodeMulti("DynamicQuantizeLinear", [x], 3);
            var acc = g.Node("MatMulInteger", [xq[0], wq, xq[2]]);
            return g.Node("Mul", [g.Node("Cast", [acc], attributes: Int("to", (long)DT.Float)), g.Node("Mul", [xq[1], wScale])]);
        }
        string Linear(string x, string prefix, int inDim, int outDim) =>
            g.Node("Add", [MatMul(x, $"{prefix}.weight", inDim, outDim), W($"{prefix}.bias", outDim)]);
        string SplitHeads(string x) => g.Node("Transpose", [g.Node("Reshape", [x, heads4])], attributes: Ints("perm", 0, 2, 1, 3));

        for (int i = 0; i < spec.Layers; i++)
        {
            var p = $"transformer.h.{i}";
            var x = LayerNorm(hidden, $"{p}.ln_1");
            var q = SplitHeads(Linear(x, $"{p}.attn.q", d, d));
            var k = SplitHeads(Linear(x, $"{p}.attn.k", d, d));
            var val = SplitHeads(Linear(x, $"{p}.attn.v", d, d));
            var kAll = g.Node("Concat", [$"past_key_values.{i}.key", k], $"present.{i}.key", Int("axis", 2));
            var vAll = g.Node("Concat", [$"past_key_values.{i}.value", val], $"present.{i}.value", Int("axis", 2));
            var scores = g.Node("Mul", [g.Node("MatMul", [q, g.Node("Transpose", [kAll], attributes: Ints("perm", 0, 1, 3, 2))]), scale]);
            var probs = g.Node("Softmax", [g.Node("Where", [mask, scores, negBig])], attributes: Int("axis", -1));
            var attn = g.Node("Reshape", [g.Node("Transpose", [g.Node("MatMul", [probs, vAll])], attributes: Ints("perm", 0, 2, 1, 3)), merge3]);
            hidden = g.Node("Add", [hidden, Linear(attn, $"{p}.attn.c_proj", d, d)]);
            var x2 = LayerNorm(hidden, $"{p}.ln_2");
            var up = Linear(x2, $"{p}.mlp.c_fc", d, f);
            var act = g.Node("Mul", [up, g.Node("Sigmoid", [g.Node("Mul", [up, geluK])])]); // GELU, sigmoid approximation
            hidden = g.Node("Add", [hidden, Linear(act, $"{p}.mlp.c_proj", f, d)]);
        }
        var final = LayerNorm(hidden, "transformer.ln_f");
        g.Node("Identity", [MatMul(final, "lm_head.weight", d, v)], "logits");

        var meta = new Dictionary<string, string>
        {
            ["model_type"] = "gpt2",
            ["max_position_embeddings"] = spec.MaxPositions.ToString(),
            ["vocab_size"] = v.ToString(),
            ["num_hidden_layers"] = spec.Layers.ToString(),
            ["num_attention_heads"] = h.ToString(),
            ["eos_token_id"] = spec.EosTokenId.ToString(),
            ["neuro.generator_seed"] = spec.Seed.ToString(),
            ["neuro.weights"] = spec.Int8Weights ? "int8" : "fp32",
        };
        return g.ToModel(meta, $"Neuro.Inference random-weight decoder {spec}");
    }

    public static byte[] ToBytes(DecoderModelSpec spec) => Build(spec).ToByteArray();

    /// <summary>Writes the model to <paramref name="path"/> and returns its size in bytes.</summary>
    public static long WriteFile(DecoderModelSpec spec, string path)
    {
        var model = Build(spec);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = path + ".tmp";
        using (var fs = File.Create(tmp)) model.WriteTo(fs);
        File.Move(tmp, path, overwrite: true);
        return new FileInfo(path).Length;
    }

    private static int Count(long[] dims) { long n = 1; foreach (var x in dims) n *= x; return checked((int)n); }
    private static float[] Fill(int n, float value) { var a = new float[n]; Array.Fill(a, value); return a; }

    private sealed class Xoshiro(int seed)
    {
        private ulong _s0 = Mix((ulong)seed + 0x9E3779B97F4A7C15UL), _s1 = Mix((ulong)seed * 0xBF58476D1CE4E5B9UL + 1);

        private static ulong Mix(ulong z)
        {
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        private ulong Next()
        {
            ulong s0 = _s0, s1 = _s1, r = s0 + s1;
            s1 ^= s0;
            _s0 = ((s0 << 55) | (s0 >> 9)) ^ s1 ^ (s1 << 14);
            _s1 = (s1 << 36) | (s1 >> 28);
            return r;
        }

        /// <summary>Uniform in [-a, a] with standard deviation <paramref name="std"/>.</summary>
        public float[] Uniform(int n, float std)
        {
            var a = std * MathF.Sqrt(3f);
            var r = new float[n];
            for (int i = 0; i < r.Length; i++) r[i] = ((Next() >> 40) * (1f / (1 << 24)) * 2f - 1f) * a;
            return r;
        }
    }
}
