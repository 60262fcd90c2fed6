using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Neuro.Inference.Tokenization;

namespace Neuro.Inference.Generation;

public sealed class BatchingOptions
{
    /// <summary>Most sequences decoded in one forward pass.</summary>
    public int MaxBatchSize { get; set; } = 16;
    /// <summary>Tokens buffered per stream; a reader that falls this far behind is paused (skipped in decode steps) until it catches up.</summary>
    public int StreamCapacity { get; set; } = 32;
    /// <summary>When idle and a request arrives, wait this long for more before the first step (0 = start at once).</summary>
    public TimeSpan AdmissionWindow { get; set; } = TimeSpan.Zero;
}

/// <summary>Counters of a <see cref="BatchingGenerator"/> (monotonic).</summary>
public sealed class BatchStats
{
    internal long _decodeSteps, _decodeRows, _prefills, _maxBatch, _regroups;
    public long DecodeSteps => Interlocked.Read(ref _decodeSteps);
    /// <summary>Sum of batch sizes over decode steps (rows ÷ steps = mean batch size).</summary>
    public long DecodeRows => Interlocked.Read(ref _decodeRows);
    public long Prefills => Interlocked.Read(ref _prefills);
    public long MaxBatch => Interlocked.Read(ref _maxBatch);
    /// <summary>Times the batch composition changed and KV caches were regrouped (copied out and in).</summary>
    public long Regroups => Interlocked.Read(ref _regroups);
}

/// <summary>
/// Dynamic batching over one <see cref="DecoderModel"/>: a single loop thread owns every forward pass. New requests are
/// prefilled alone (batch 1) between decode steps; then all running sequences share one forward pass per decode step,
/// with their KV caches left-padded to a common length (padding masked out through attention_mask, positions per row).
/// While the composition of the batch is unchanged the presents of one step are fed back as the next step's past
/// (no copy); when a sequence joins or leaves, caches are copied back to their <see cref="SequenceState"/>s and regrouped.
/// </summary>
public sealed class BatchingGenerator : ITokenGenerator, IDisposable
{
    private readonly DecoderModel _model;
    private readonly ITextTokenizer? _tokenizer;
    private readonly BatchingOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<Request> _incoming = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;

    // loop-thread state
    private readonly List<Request> _active = [];
    private Request[]? _members;   // composition of _batchKv
    private OrtValue[]? _batchKv;  // [B, heads, _batchLen, head_dim] each
    private int _batchLen;

    public BatchStats Stats { get; } = new();
    public DecoderModel Model => _model;

    public BatchingGenerator(DecoderModel model, BatchingOptions? options = null, ITextTokenizer? tokenizer = null, ILogger? logger = null)
    {
        _model = model;
        _options = options ?? new BatchingOptions();
        if (_options.MaxBatchSize < 1 || _options.StreamCapacity < 1) throw new ArgumentOutOfRangeException(nameof(options));
        _tokenizer = tokenizer;
        _logger = logger ?? NullLogger.Instance;
        _thread = new Thread(Loop) { IsBackground = true, Name = $"neuro-batch-{model.Name}" };
        _thread.Start();
    }

    private sealed class Request(GenerationRun run, int capacity, CancellationToken ct)
    {
        public GenerationRun Run { get; } = run;
        public Channel<GeneratedToken> Channel { get; } = System.Threading.Channels.Channel.CreateBounded<GeneratedToken>(
            new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
        public CancellationToken Ct { get; } = ct;
        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public volatile bool Abandoned;  // the consumer's enumeration ended (completed, broke off, cancelled)
        public int Delivered;            // tokens handed to the consumer
        public bool Completed;           // channel completed (generation over, consumer may still be draining)
        public int Len;                  // tokens cached for this sequence inside the batch
        /// <summary>No more decode steps for it.</summary>
        public bool Stopped => Abandoned || Ct.IsCancellationRequested || Run.Done;
    }

    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(SequenceState state, IReadOnlyList<int> newTokens, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
        var req = new Request(GenerationRun.Start(_model, state, newTokens, options, _tokenizer), _options.StreamCapacity, cancellationToken);
        _incoming.Enqueue(req);
        _signal.Release();
        try
        {
            await foreach (var t in req.Channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested(); // buffered tokens are not delivered after a cancel
                Interlocked.Increment(ref req.Delivered);
                yield return t;
            }
        }
        finally
        {
            req.Abandoned = true;
            _signal.Release();
            // the loop lets go of the state within one step, dropping generated tokens this consumer never received
            await req.Released.Task.ConfigureAwait(false);
        }
    }

    private void Loop()
    {
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (_active.Count == 0 && _incoming.IsEmpty)
                {
                    _signal.Wait(stop);
                    if (_options.AdmissionWindow > TimeSpan.Zero) Thread.Sleep(_options.AdmissionWindow);
                }
                Admit();
                Step();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { break; }
            catch (Exception ex)
            {
                _logger.LogError(ex, "batched decode step failed; failing the {Count} sequences in it", _active.Count);
                DropBatch(copyBack: false);
                foreach (var r in _active) Fail(r, ex);
                _active.Clear();
            }
        }
        DropBatch(copyBack: true);
        var disposed = new ObjectDisposedException(nameof(BatchingGenerator));
        foreach (var r in _active) Fail(r, disposed);
        while (_incoming.TryDequeue(out var r)) Fail(r, disposed);
    }

    private void Admit()
    {
        while (_active.Count < _options.MaxBatchSize && _incoming.TryDequeue(out var r))
        {
            if (r.Stopped) { Finish(r); continue; }
            try
            {
                using var runOptions = new RunOptions();
                using var reg = r.Ct.Register(() => runOptions.Terminate = true);
                OrtValue logits;
                try { logits = _model.RunSingle(r.Run.State, runOptions); }
                catch (OnnxRuntimeException) when (r.Ct.IsCancellationRequested) { Finish(r); continue; }
                Interlocked.Increment(ref Stats._prefills);
                using (logits)
                {
                    if (r.Run.Accept(logits.GetTensorDataAsSpan<float>()[^_model.VocabSize..], out var token)) r.Channel.Writer.TryWrite(token);
                }
                _active.Add(r);
            }
            catch (Exception ex) { Fail(r, ex); }
        }
    }

    private void Step()
    {
        var participants = new List<Request>(_active.Count);
        foreach (var r in _active)
            if (!r.Stopped && r.Channel.Reader.Count < _options.StreamCapacity) participants.Add(r);

        if (_members is not null && !_members.SequenceEqual(participants)) DropBatch(copyBack: true);
        for (int i = _active.Count - 1; i >= 0; i--)
        {
            var r = _active[i];
            if (r.Run.Done && !r.Completed) { r.Completed = true; r.Channel.Writer.TryComplete(); }
            if (r.Abandoned && (_members is null || !_members.Contains(r))) { Finish(r); _active.RemoveAt(i); }
        }

        if (participants.Count == 0)
        {
            if (_active.Count > 0) _signal.Wait(TimeSpan.FromMilliseconds(1)); // everyone is paused on a slow reader
            return;
        }

        if (participants.Count == 1 && _batchKv is null)
        {
            var r = participants[0];
            using var logits = _model.RunSingle(r.Run.State, null);
            Count(1);
            Emit(r, logits.GetTensorDataAsSpan<float>()[^_model.VocabSize..]);
            return;
        }

        if (_batchKv is null) Gather(participants);
        int b = participants.Count, total = _batchLen + 1, v = _model.VocabSize;
        var ids = new long[b];
        var pos = new long[b];
        var mask = new long[b * total];
        for (int i = 0; i < b; i++)
        {
            var r = participants[i];
            ids[i] = r.Run.State.Tokens[r.Len];
            pos[i] = r.Len;
            mask.AsSpan(i * total + (_batchLen - r.Len), r.Len + 1).Fill(1L);
        }
        var (logitsV, presents) = _model.Run(b, 1, ids, pos, mask, _batchKv!, null);
        foreach (var old in _batchKv!) old.Dispose();
        _batchKv = presents;
        _batchLen = total;
        Count(b);
        using (logitsV)
        {
            var all = logitsV.GetTensorDataAsSpan<float>();
            for (int i = 0; i < b; i++)
            {
                participants[i].Len++;
                Emit(participants[i], all.Slice(i * v, v));
            }
        }
    }

    private void Count(int b)
    {
        Interlocked.Increment(ref Stats._decodeSteps);
        Interlocked.Add(ref Stats._decodeRows, b);
        if (b > Stats._maxBatch) Interlocked.Exchange(ref Stats._maxBatch, b);
    }

    private static void Emit(Request r, ReadOnlySpan<float> logits)
    {
        if (r.Run.Accept(logits, out var token)) r.Channel.Writer.TryWrite(token);
    }

    /// <summary>Copies each participant's cache into left-padded batch tensors and releases the per-sequence copies.</summary>
    private void Gather(List<Request> participants)
    {
        int b = participants.Count, h = _model.Heads, dh = _model.HeadDim;
        int maxLen = 0;
        foreach (var r in participants) { r.Len = r.Run.State.CachedLength; maxLen = Math.Max(maxLen, r.Len); }
        var kv = new OrtValue[2 * _model.Layers];
        for (int t = 0; t < kv.Length; t++)
        {
            kv[t] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [b, h, maxLen, dh]);
            var dst = kv[t].GetTensorMutableDataAsSpan<float>();
            for (int i = 0; i < b; i++)
            {
                var r = participants[i];
                int pad = maxLen - r.Len;
                var src = r.Run.State.Kv![t].GetTensorDataAsSpan<float>();
                for (int head = 0; head < h; head++)
                {
                    var row = dst.Slice(((i * h + head) * maxLen) * dh, maxLen * dh);
                    row[..(pad * dh)].Clear();
                    src.Slice(head * r.Len * dh, r.Len * dh).CopyTo(row[(pad * dh)..]);
                }
            }
        }
        foreach (var r in participants) r.Run.State.DetachKvForBatch();
        _batchKv = kv;
        _batchLen = maxLen;
        _members = [.. participants];
        Interlocked.Increment(ref Stats._regroups);
    }

    /// <summary>Copies each member's rows (without padding) back into its <see cref="SequenceState"/>, then frees the batch tensors.</summary>
    private void DropBatch(bool copyBack)
    {
        if (_batchKv is null || _members is null) return;
        int h = _model.Heads, dh = _model.HeadDim, total = _batchLen;
        for (int i = 0; i < _members.Length; i++)
        {
            var r = _members[i];
            if (!copyBack) { r.Run.State.DropCache(); continue; }
            int pad = total - r.Len;
            var own = new OrtValue[_batchKv.Length];
            for (int t = 0; t < own.Length; t++)
            {
                own[t] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [1, h, r.Len, dh]);
                var dst = own[t].GetTensorMutableDataAsSpan<float>();
                var src = _batchKv[t].GetTensorDataAsSpan<float>();
                for (int head = 0; head < h; head++)
                    src.Slice(((i * h + head) * total + pad) * dh, r.Len * dh).CopyTo(dst.Slice(head * r.Len * dh, r.Len * dh));
            }
            r.Run.State.ReplaceKv(own, r.Len);
        }
        foreach (var t in _batchKv) t.Dispose();
        _batchKv = null;
        _members = null;
        _batchLen = 0;
    }

    private static void Finish(Request r)
    {
        // tokens generated ahead into the stream buffer but never received are not part of the conversation
        if (r.Abandoned) r.Run.State.TruncateTo(r.Run.PromptEnd + Volatile.Read(ref r.Delivered));
        r.Run.End();
        r.Channel.Writer.TryComplete();
        r.Released.TrySetResult();
    }

    private static void Fail(Request r, Exception ex)
    {
        r.Run.End();
        r.Channel.Writer.TryComplete(ex);
        r.Released.TrySetResult();
    }

    public void Dispose()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        _signal.Release();
        _thread.Join();
        _stop.Dispose();
    }
}
