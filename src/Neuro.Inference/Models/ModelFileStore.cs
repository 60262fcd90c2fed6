using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Neuro.Inference.Models;

/// <summary>One model file: where it comes from and the sha256 it must have (lower-case hex).</summary>
public sealed record ModelFileSpec(string Name, string Version, string Uri, string Sha256, string Variant = "fp32");

/// <summary>The file did not have the expected sha256; it was not loaded and not kept.</summary>
public sealed class ModelIntegrityException(string model, string source, string expected, string actual)
    : IOException($"sha256 mismatch for model '{model}' from {source}: expected {expected}, got {actual}; refusing to load it")
{
    public string Expected { get; } = expected;
    public string Actual { get; } = actual;
}

/// <summary>
/// Node-local model file cache. <see cref="EnsureLocalAsync"/> brings a file from <c>file://</c>, <c>https://</c> or
/// <c>s3://bucket/key</c> into the cache directory, hashing it while it is copied, and only moves it into place when the
/// sha256 matches. A cached file is hashed again before it is handed out, so a file changed on disk is refused too.
/// </summary>
public sealed class ModelFileStore(string cacheDirectory, HttpClient? http = null, IAmazonS3? s3 = null, ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    public string CacheDirectory { get; } = Path.GetFullPath(cacheDirectory);
    /// <summary>Allow plain <c>http://</c> sources (tests, in-cluster mirrors). Off by default.</summary>
    public bool AllowInsecureHttp { get; init; }

    public string LocalPath(ModelFileSpec spec) =>
        Path.Combine(CacheDirectory, Safe(spec.Name), Safe(spec.Version), $"{Safe(spec.Variant)}-{spec.Sha256[..Math.Min(16, spec.Sha256.Length)]}.onnx");

    /// <summary>Returns the path of a verified local copy, fetching it if needed. Throws <see cref="ModelIntegrityException"/> on a mismatch.</summary>
    public async Task<string> EnsureLocalAsync(ModelFileSpec spec, CancellationToken ct = default)
    {
        var expected = NormalizeSha(spec.Sha256);
        var path = LocalPath(spec);
        if (File.Exists(path))
        {
            var actual = await Sha256FileAsync(path, ct).ConfigureAwait(false);
            if (actual == expected) return path;
            _logger.LogWarning("cached model file {Path} has sha256 {Actual}, expected {Expected}; deleting it and fetching again", path, actual, expected);
            File.Delete(path);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var partial = $"{path}.{Guid.NewGuid():N}.partial";
        try
        {
            string got;
            await using (var source = await OpenSourceAsync(spec.Uri, ct).ConfigureAwait(false))
            await using (var target = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
            {
                got = await CopyHashingAsync(source, target, ct).ConfigureAwait(false);
            }
            if (got != expected) throw new ModelIntegrityException(spec.Name, spec.Uri, expected, got);
            File.Move(partial, path, overwrite: true);
            _logger.LogInformation("model {Model} {Version} ({Variant}) fetched from {Uri} into {Path} ({Bytes} bytes, sha256 verified)",
                spec.Name, spec.Version, spec.Variant, spec.Uri, path, new FileInfo(path).Length);
            return path;
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }

    private async Task<Stream> OpenSourceAsync(string uri, CancellationToken ct)
    {
        var u = new Uri(uri);
        switch (u.Scheme)
        {
            case "file":
                return new FileStream(u.LocalPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
            case "https":
            case "http" when AllowInsecureHttp:
                var client = http ?? SharedHttp.Value;
                var resp = await client.GetAsync(u, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
                resp.EnsureSuccessStatusCode();
                return await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            case "s3":
                var s3Client = s3 ?? throw new InvalidOperationException($"an s3:// source ({uri}) needs an IAmazonS3 client");
                var obj = await s3Client.GetObjectAsync(new GetObjectRequest { BucketName = u.Host, Key = u.AbsolutePath.TrimStart('/') }, ct).ConfigureAwait(false);
                return obj.ResponseStream;
            default:
                throw new NotSupportedException($"model source scheme '{u.Scheme}' is not supported (file, https, s3)");
        }
    }

    private static readonly Lazy<HttpClient> SharedHttp = new(() => new HttpClient { Timeout = TimeSpan.FromMinutes(30) });

    private static async Task<string> CopyHashingAsync(Stream source, Stream target, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        int n;
        while ((n = await source.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            await target.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public static async Task<string> Sha256FileAsync(string path, CancellationToken ct = default)
    {
        await using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(fs, ct).ConfigureAwait(false));
    }

    private static string NormalizeSha(string sha)
    {
        var s = sha.Trim().ToLowerInvariant();
        if (s.StartsWith("sha256:", StringComparison.Ordinal)) s = s[7..];
        if (s.Length != 64 || !s.All(Uri.IsHexDigit)) throw new ArgumentException($"'{sha}' is not a sha256 hex digest", nameof(sha));
        return s;
    }

    private static string Safe(string s) => string.Concat(s.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}
