using System.Threading.Channels;

namespace Neuro.WebRtc.Tests.Sctp;

/// <summary>How one direction of an in-memory link misbehaves. All randomness comes from <see cref="Seed"/>.</summary>
public sealed class LinkProfile
{
    public double Loss { get; init; }
    public double Duplicate { get; init; }

    /// <summary>Share of datagrams held back by <see cref="ReorderDelay"/>, so later ones overtake them.</summary>
    public double Reorder { get; init; }

    public TimeSpan ReorderDelay { get; init; } = TimeSpan.FromMilliseconds(4);
    public TimeSpan Delay { get; init; }
    public int Seed { get; init; } = 1;

    /// <summary>Test hook: return true to drop this datagram (called before the random loss).</summary>
    public Func<byte[], bool>? Drop { get; init; }

    public static LinkProfile Perfect { get; } = new();
}

/// <summary>
/// One end of an in-memory datagram link. Datagrams are copied on send; loss, duplication, reordering and delay
/// are applied per direction from a seeded random source.
/// </summary>
public sealed class InMemoryDatagramTransport : IDatagramTransport
{
    private readonly Channel<byte[]> _inbox = Channel.CreateUnbounded<byte[]>();
    private readonly LinkProfile _outbound;
    private readonly Random _random;
    private readonly object _gate = new();
    private readonly PriorityQueue<byte[], long> _delayed = new();
    private readonly CancellationTokenSource _stop = new();
    private InMemoryDatagramTransport _peer = null!;
    private Task? _pump;
    private long _sequence;
    private volatile bool _closed;

    private InMemoryDatagramTransport(LinkProfile outbound, int maxDatagramSize)
    {
        _outbound = outbound;
        _random = new Random(outbound.Seed);
        MaxDatagramSize = maxDatagramSize;
    }

    public static (InMemoryDatagramTransport A, InMemoryDatagramTransport B) CreatePair(
        LinkProfile? aToB = null, LinkProfile? bToA = null, int maxDatagramSize = 1500)
    {
        var a = new InMemoryDatagramTransport(aToB ?? LinkProfile.Perfect, maxDatagramSize);
        var b = new InMemoryDatagramTransport(bToA ?? LinkProfile.Perfect, maxDatagramSize);
        a._peer = b;
        b._peer = a;
        a.StartPumpIfNeeded();
        b.StartPumpIfNeeded();
        return (a, b);
    }

    public int MaxDatagramSize { get; }
    public long Sent => Interlocked.Read(ref _sent);
    public long Dropped => Interlocked.Read(ref _dropped);
    private long _sent, _dropped;

    public ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (datagram.Length > MaxDatagramSize) throw new ArgumentException("datagram larger than MaxDatagramSize");
        Interlocked.Increment(ref _sent);
        var copy = datagram.ToArray();
        if (_outbound.Drop?.Invoke(copy) == true)
        {
            Interlocked.Increment(ref _dropped);
            return ValueTask.CompletedTask;
        }
        bool lose, duplicate, reorder;
        lock (_random)
        {
            lose = _random.NextDouble() < _outbound.Loss;
            duplicate = _random.NextDouble() < _outbound.Duplicate;
            reorder = _random.NextDouble() < _outbound.Reorder;
        }
        if (lose)
        {
            Interlocked.Increment(ref _dropped);
            return ValueTask.CompletedTask;
        }
        Forward(copy, reorder);
        if (duplicate) Forward((byte[])copy.Clone(), false);
        return ValueTask.CompletedTask;
    }

    private void Forward(byte[] datagram, bool reorder)
    {
        long delayMs = (long)_outbound.Delay.TotalMilliseconds + (reorder ? (long)_outbound.ReorderDelay.TotalMilliseconds : 0);
        if (delayMs <= 0 && _pump is null)
        {
            _peer._inbox.Writer.TryWrite(datagram);
            return;
        }
        lock (_gate)
        {
            // Ties keep send order: the priority is the due time, refined by a sequence number.
            _delayed.Enqueue(datagram, (Environment.TickCount64 + delayMs) * 1_000_000 + (_sequence++ % 1_000_000));
        }
    }

    private void StartPumpIfNeeded()
    {
        if (_outbound.Delay <= TimeSpan.Zero && _outbound.Reorder <= 0) return;
        _pump = Task.Run(async () =>
        {
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    await Task.Delay(1, _stop.Token);
                    long now = Environment.TickCount64;
                    lock (_gate)
                    {
                        while (_delayed.TryPeek(out var datagram, out long due) && due / 1_000_000 <= now)
                        {
                            _delayed.Dequeue();
                            _peer._inbox.Writer.TryWrite(datagram);
                        }
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
    }

    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            var datagram = await _inbox.Reader.ReadAsync(cancellationToken);
            int n = Math.Min(datagram.Length, buffer.Length);
            datagram.AsSpan(0, n).CopyTo(buffer.Span);
            return n;
        }
        catch (ChannelClosedException)
        {
            return -1;
        }
    }

    /// <summary>Receives with a timeout; null when nothing arrived in time (for tests that speak raw SCTP).</summary>
    public async Task<byte[]?> TryReceiveAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[MaxDatagramSize];
        try
        {
            int n = await ReceiveAsync(buffer, cts.Token);
            return n < 0 ? null : buffer[..n];
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _closed = true;
        _stop.Cancel();
        if (_pump is not null) await _pump;
        _inbox.Writer.TryComplete();
        _peer._inbox.Writer.TryComplete();
        _stop.Dispose();
    }
}
