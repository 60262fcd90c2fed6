using System.Net;
using System.Net.Sockets;

namespace Neuro.WebRtc.Tests.Sctp;

/// <summary>Datagrams over a connected loopback UDP socket: the stand-in for DTLS when talking to a foreign peer.</summary>
public sealed class UdpDatagramTransport : IDatagramTransport
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private volatile bool _closed;

    public UdpDatagramTransport() => _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));

    public int LocalPort => ((IPEndPoint)_socket.LocalEndPoint!).Port;
    public int MaxDatagramSize => 1500;

    public void Connect(int remotePort) => _socket.Connect(new IPEndPoint(IPAddress.Loopback, remotePort));

    public async ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        try
        {
            await _socket.SendAsync(datagram, SocketFlags.None, cancellationToken);
        }
        catch (SocketException)
        {
            // ICMP port unreachable before the peer is up: a lost datagram, which SCTP handles.
        }
    }

    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_closed) return -1;
            try
            {
                return await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            }
            catch (SocketException) when (!_closed)
            {
                // ConnectionRefused from an earlier send's ICMP error; keep listening.
            }
            catch (ObjectDisposedException)
            {
                return -1;
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _closed = true;
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
