using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Neuro.WebRtc.Ice;

/// <summary>
/// One ICE-TCP connection (RFC 6544): STUN, DTLS and SRTP packets framed with a 16-bit big-endian length (RFC 4571).
/// </summary>
internal sealed class IceTcpLink : IDisposable
{
    private readonly Socket _socket;
    private readonly object _writeGate = new();
    private volatile bool _closed;

    public IceTcpLink(Socket socket, int bindIndex)
    {
        _socket = socket;
        _socket.NoDelay = true;
        BindIndex = bindIndex;
        Remote = (IPEndPoint)socket.RemoteEndPoint!;
        Local = (IPEndPoint)socket.LocalEndPoint!;
    }

    public IPEndPoint Local { get; }

    public int BindIndex { get; }
    public IPEndPoint Remote { get; }
    public bool IsClosed => _closed;

    public void Send(ReadOnlySpan<byte> packet)
    {
        if (_closed || packet.Length > ushort.MaxValue) return;
        var frame = new byte[2 + packet.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)packet.Length);
        packet.CopyTo(frame.AsSpan(2));
        try
        {
            // One lock per frame: frames from the DTLS thread and the ICE timer must not interleave on the stream.
            lock (_writeGate)
            {
                int sent = 0;
                while (sent < frame.Length) sent += _socket.Send(frame, sent, frame.Length - sent, SocketFlags.None);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Dispose();
        }
    }

    /// <summary>Reads frames until the peer closes or the token fires, handing each to <paramref name="onPacket"/>.</summary>
    public async Task ReadLoopAsync(Action<IceTcpLink, byte[]> onPacket, CancellationToken cancellationToken)
    {
        var header = new byte[2];
        try
        {
            while (!_closed)
            {
                await _socket.ReceiveExactlyAsync(header, cancellationToken).ConfigureAwait(false);
                int length = BinaryPrimitives.ReadUInt16BigEndian(header);
                if (length == 0) continue;
                var packet = new byte[length];
                await _socket.ReceiveExactlyAsync(packet, cancellationToken).ConfigureAwait(false);
                onPacket(this, packet);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or EndOfStreamException)
        {
        }
        finally
        {
            Dispose();
        }
    }

    public void Dispose()
    {
        if (_closed) return;
        _closed = true;
        try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        _socket.Dispose();
    }
}

internal static class SocketExtensions
{
    public static async ValueTask ReceiveExactlyAsync(this Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await socket.ReceiveAsync(buffer[read..], SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0) throw new EndOfStreamException();
            read += n;
        }
    }
}
