namespace Neuro.WebRtc.Tests.Sctp;

/// <summary>Drops a seeded share of datagrams in both directions of any transport (for interop under loss).</summary>
public sealed class LossyDatagramTransport(IDatagramTransport inner, double loss, int seed) : IDatagramTransport
{
    private readonly Random _random = new(seed);

    /// <summary>Share of datagrams dropped; may be changed while running.</summary>
    public double Loss
    {
        get => Volatile.Read(ref _loss);
        set => Volatile.Write(ref _loss, value);
    }

    private double _loss = loss;

    public int MaxDatagramSize => inner.MaxDatagramSize;
    public long Dropped => Interlocked.Read(ref _dropped);
    private long _dropped;

    private bool Lose()
    {
        lock (_random)
        {
            if (_random.NextDouble() >= Loss) return false;
        }
        Interlocked.Increment(ref _dropped);
        return true;
    }

    public ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken) =>
        Lose() ? ValueTask.CompletedTask : inner.SendAsync(datagram, cancellationToken);

    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            int n = await inner.ReceiveAsync(buffer, cancellationToken);
            if (n < 0 || !Lose()) return n;
        }
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
