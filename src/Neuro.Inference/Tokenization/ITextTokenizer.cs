using System.Text;
using Microsoft.ML.Tokenizers;

namespace Neuro.Inference.Tokenization;

/// <summary>Text ↔ token ids for a model's vocabulary.</summary>
public interface ITextTokenizer
{
    IReadOnlyList<int> Encode(string text);
    string Decode(IEnumerable<int> ids);
}

/// <summary>Byte-level tokenizer for the generated test models: ids 0–255 are UTF-8 bytes, 256+ are specials (256 = end of sequence).</summary>
public sealed class ByteTokenizer : ITextTokenizer
{
    public const int EndOfSequence = 256;
    public IReadOnlyList<int> Encode(string text) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();
    public string Decode(IEnumerable<int> ids) => Encoding.UTF8.GetString(ids.Where(i => i is >= 0 and < 256).Select(i => (byte)i).ToArray());
}

/// <summary>
/// Adapter over Microsoft.ML.Tokenizers: tiktoken encodings (e.g. <c>TiktokenTokenizer.CreateForModel("gpt-4")</c> with the
/// Microsoft.ML.Tokenizers.Data.Cl100kBase package) or a Hugging Face BPE (<c>BpeTokenizer.Create(vocab.json, merges.txt)</c>).
/// </summary>
public sealed class MlTokenizer(Tokenizer tokenizer) : ITextTokenizer
{
    public Tokenizer Inner => tokenizer;
    public IReadOnlyList<int> Encode(string text) => tokenizer.EncodeToIds(text);
    public string Decode(IEnumerable<int> ids) => tokenizer.Decode(ids);
}
