namespace Neuro.WebRtc;

/// <summary>
/// A message-preserving, unreliable, possibly reordering channel: DTLS application data between two peers, or an
/// in-memory pair in tests. SCTP runs on top of it, so SCTP never needs to know about DTLS or sockets.
/// </summary>
public interface IDatagramTransport : IAsyncDisposable
{
    /// <summary>Largest datagram <see cref="SendAsync"/> accepts (bytes).</summary>
    int MaxDatagramSize { get; }

    /// <summary>Sends one datagram. Loss is allowed; throws <see cref="ObjectDisposedException"/> once closed.</summary>
    ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken);

    /// <summary>
    /// Receives the next datagram into <paramref name="buffer"/> and returns its length, or -1 once the transport is
    /// closed. A datagram longer than the buffer is truncated (callers size buffers to <see cref="MaxDatagramSize"/>).
    /// </summary>
    ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);
}
