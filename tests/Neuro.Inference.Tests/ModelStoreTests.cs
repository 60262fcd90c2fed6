using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using Neuro.Inference.Generation;
using Neuro.Inference.Models;
using Neuro.Inference.Onnx;
using Neuro.Inference.Runtime;

namespace Neuro.Inference.Tests;

public sealed class ModelStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("neuro-store-").FullName;
    private readonly string _source;
    private readonly string _sha;

    public ModelStoreTests()
    {
        _source = Path.Combine(_dir, "src", "tiny.onnx");
        DecoderModelGenerator.WriteFile(DecoderModelSpec.Tiny(seed: 5), _source);
        _sha = ModelFileStore.Sha256FileAsync(_source).GetAwaiter().GetResult();
    }

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private ModelFileSpec Spec(string sha, string? uri = null) => new("tiny", "1", uri ?? new Uri(_source).AbsoluteUri, sha);

    [Fact]
    public async Task File_source_with_the_right_sha256_is_cached_and_loads()
    {
        var store = new ModelFileStore(Path.Combine(_dir, "cache"));
        var path = await store.EnsureLocalAsync(Spec(_sha));
        Assert.StartsWith(store.CacheDirectory, path);
        Assert.Equal(_sha, await ModelFileStore.Sha256FileAsync(path));
        using var m = DecoderModel.Load(path, new InferenceOptions { IntraOpThreads = 1, WarmUp = false });
        Assert.Equal(2, m.Layers);
    }

    [Fact]
    public async Task Sha256_mismatch_is_refused_and_nothing_is_left_in_the_cache()
    {
        var store = new ModelFileStore(Path.Combine(_dir, "cache"));
        var wrong = new string('0', 64);
        var ex = await Assert.ThrowsAsync<ModelIntegrityException>(() => store.EnsureLocalAsync(Spec(wrong)));
        Assert.Equal(_sha, ex.Actual);
        Assert.Contains("refusing to load", ex.Message);
        Assert.False(File.Exists(store.LocalPath(Spec(wrong))));
        Assert.Empty(Directory.EnumerateFiles(store.CacheDirectory, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_cached_file_changed_on_disk_is_detected_and_fetched_again()
    {
        var store = new ModelFileStore(Path.Combine(_dir, "cache"));
        var path = await store.EnsureLocalAsync(Spec(_sha));
        await using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write)) { fs.Position = 100; fs.WriteByte(0xFF); fs.WriteByte(0x00); }
        Assert.NotEqual(_sha, await ModelFileStore.Sha256FileAsync(path));
        var again = await store.EnsureLocalAsync(Spec(_sha));
        Assert.Equal(_sha, await ModelFileStore.Sha256FileAsync(again));

        // and if the source itself is corrupted, the load is refused
        File.WriteAllBytes(_source, [1, 2, 3]);
        File.Delete(again);
        await Assert.ThrowsAsync<ModelIntegrityException>(() => store.EnsureLocalAsync(Spec(_sha)));
    }

    [Fact]
    public async Task Http_source_is_downloaded_and_verified()
    {
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var bytes = File.ReadAllBytes(_source);
        var serve = Task.Run(async () =>
        {
            for (int i = 0; i < 2; i++)
            {
                var ctx = await listener.GetContextAsync();
                ctx.Response.ContentLength64 = bytes.Length;
                await ctx.Response.OutputStream.WriteAsync(bytes);
                ctx.Response.Close();
            }
        });
        var uri = $"http://127.0.0.1:{port}/models/tiny.onnx";
        Assert.Throws<NotSupportedException>(() => new ModelFileStore(Path.Combine(_dir, "c0")).EnsureLocalAsync(Spec(_sha, uri)).GetAwaiter().GetResult());
        var store = new ModelFileStore(Path.Combine(_dir, "cache")) { AllowInsecureHttp = true };
        var path = await store.EnsureLocalAsync(Spec(_sha, uri));
        Assert.Equal(_sha, await ModelFileStore.Sha256FileAsync(path));
        await Assert.ThrowsAsync<ModelIntegrityException>(() => new ModelFileStore(Path.Combine(_dir, "c2")) { AllowInsecureHttp = true }
            .EnsureLocalAsync(Spec(new string('a', 64), uri)));
        await serve;
    }

    [Fact]
    public async Task Decoder_model_cache_fetches_verifies_and_loads_once()
    {
        using var cache = new DecoderModelCache(new ModelFileStore(Path.Combine(_dir, "cache")), 64L << 20,
            new InferenceOptions { IntraOpThreads = 1, WarmUp = false });
        using var a = await cache.AcquireAsync(Spec(_sha));
        using var b = await cache.AcquireAsync(Spec(_sha));
        Assert.Same(a.Value, b.Value);
        Assert.True(cache.Memory.UsedBytes > new FileInfo(_source).Length);
        await Assert.ThrowsAsync<ModelIntegrityException>(() => cache.AcquireAsync(Spec(new string('1', 64)) with { Version = "2" }));
    }

    private sealed class FakeS3(string root) : Amazon.S3.AmazonS3Client(new Amazon.Runtime.AnonymousAWSCredentials(),
        new Amazon.S3.AmazonS3Config { ServiceURL = "http://127.0.0.1:9", ForcePathStyle = true })
    {
        public List<(string Bucket, string Key)> Requests { get; } = [];
        public override Task<Amazon.S3.Model.GetObjectResponse> GetObjectAsync(Amazon.S3.Model.GetObjectRequest request, CancellationToken cancellationToken = default)
        {
            Requests.Add((request.BucketName, request.Key));
            return Task.FromResult(new Amazon.S3.Model.GetObjectResponse { ResponseStream = File.OpenRead(Path.Combine(root, request.BucketName, request.Key)) });
        }
    }

    [Fact]
    public async Task S3_source_reads_bucket_and_key_and_is_verified()
    {
        var root = Path.Combine(_dir, "s3");
        Directory.CreateDirectory(Path.Combine(root, "models", "gpt", "v1"));
        File.Copy(_source, Path.Combine(root, "models", "gpt", "v1", "model.onnx"));
        using var s3 = new FakeS3(root);
        var store = new ModelFileStore(Path.Combine(_dir, "cache"), s3: s3);
        var path = await store.EnsureLocalAsync(Spec(_sha, "s3://models/gpt/v1/model.onnx"));
        Assert.Equal(("models", "gpt/v1/model.onnx"), s3.Requests.Single());
        Assert.Equal(_sha, await ModelFileStore.Sha256FileAsync(path));
        await Assert.ThrowsAsync<ModelIntegrityException>(() => new ModelFileStore(Path.Combine(_dir, "c3"), s3: s3)
            .EnsureLocalAsync(Spec(new string('b', 64), "s3://models/gpt/v1/model.onnx")));
        await Assert.ThrowsAsync<InvalidOperationException>(() => new ModelFileStore(Path.Combine(_dir, "c4")).EnsureLocalAsync(Spec(_sha, "s3://models/gpt/v1/model.onnx")));
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var p = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return p;
    }
}

public sealed class ModelMemoryCacheTests
{
    private sealed class Fake(string name) : IDisposable
    {
        public string Name { get; } = name;
        public bool Disposed { get; private set; }
        public void Dispose() => Disposed = true;
    }

    private static Func<CancellationToken, Task<Fake>> L(string n, List<string>? loads = null) => _ => { loads?.Add(n); return Task.FromResult(new Fake(n)); };

    [Fact]
    public async Task Evicts_least_recently_used_unpinned_models_and_never_ones_in_use()
    {
        var time = new FakeTimeProvider();
        using var cache = new ModelMemoryCache<Fake>(100, time);
        var events = new List<ModelCacheEvent>();
        cache.Changed += events.Add;
        Fake a, b;
        using (var la = await cache.AcquireAsync("a", 40, L("a"))) a = la.Value;
        time.Advance(TimeSpan.FromSeconds(1));
        using (var lb = await cache.AcquireAsync("b", 40, L("b"))) b = lb.Value;
        time.Advance(TimeSpan.FromSeconds(1));
        using (await cache.AcquireAsync("a", 40, L("a"))) { } // a is now more recent than b
        time.Advance(TimeSpan.FromSeconds(1));
        using (await cache.AcquireAsync("c", 40, L("c"))) { }
        Assert.True(b.Disposed);
        Assert.False(a.Disposed);
        Assert.Equal(["a", "c"], cache.Entries.Select(e => e.Key).Order());
        Assert.Contains(events, e => e is { Kind: ModelCacheEventKind.Evicted, Key: "b", SizeBytes: 40 });

        // in use: cannot be evicted
        var lease = await cache.AcquireAsync("a", 40, L("a"));
        time.Advance(TimeSpan.FromSeconds(1));
        using (await cache.AcquireAsync("d", 40, L("d"))) { } // evicts c, not the leased a
        Assert.True(cache.Contains("a"));
        Assert.False(cache.Contains("c"));
        lease.Dispose();
        Assert.Equal(80, cache.UsedBytes);
    }

    [Fact]
    public async Task Pinned_models_stay_until_the_pin_expires_and_a_full_cache_says_why()
    {
        var time = new FakeTimeProvider();
        using var cache = new ModelMemoryCache<Fake>(100, time);
        using (await cache.AcquireAsync("big", 60, L("big"))) { }
        Assert.True(cache.Pin("big", TimeSpan.FromMinutes(10)));
        using (await cache.AcquireAsync("x", 40, L("x"))) { }
        time.Advance(TimeSpan.FromSeconds(1));
        using (await cache.AcquireAsync("y", 40, L("y"))) { } // evicts x (LRU unpinned), not big
        Assert.True(cache.Contains("big"));
        Assert.False(cache.Contains("x"));
        using var hold = await cache.AcquireAsync("y", 40, L("y"));
        var ex = await Assert.ThrowsAsync<ModelCacheFullException>(() => cache.AcquireAsync("z", 40, L("z")));
        Assert.Contains("pinned", ex.Message);
        await Assert.ThrowsAsync<ModelCacheFullException>(() => cache.AcquireAsync("huge", 101, L("huge")));
        time.Advance(TimeSpan.FromMinutes(11)); // pin expired
        using (await cache.AcquireAsync("z", 40, L("z"))) { }
        Assert.False(cache.Contains("big"));
    }

    [Fact]
    public async Task Concurrent_requests_share_one_load_and_a_failed_load_frees_its_reservation()
    {
        using var cache = new ModelMemoryCache<Fake>(100);
        var loads = new List<string>();
        var gate = new TaskCompletionSource();
        Func<CancellationToken, Task<Fake>> slow = async _ => { lock (loads) loads.Add("m"); await gate.Task; return new Fake("m"); };
        var t1 = cache.AcquireAsync("m", 50, slow);
        var t2 = cache.AcquireAsync("m", 50, slow);
        gate.SetResult();
        using var l1 = await t1;
        using var l2 = await t2;
        Assert.Single(loads);
        Assert.Same(l1.Value, l2.Value);
        await Assert.ThrowsAsync<InvalidOperationException>(() => cache.AcquireAsync("bad", 50, _ => throw new InvalidOperationException("boom")));
        Assert.False(cache.Contains("bad"));
        Assert.Equal(50, cache.UsedBytes);
    }
}
