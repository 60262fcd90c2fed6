using System.Threading.Channels;
using Neuro.WebRtc.Ice;
using Neuro.WebRtc.Sdp;
using Neuro.WebRtc.Srtp;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace Neuro.WebRtc.Dtls;

public enum DtlsRole { Client, Server }

/// <summary>A DTLS handshake that did not complete: fingerprint mismatch, no common SRTP profile, alert, timeout.</summary>
public sealed class DtlsHandshakeException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The DTLS association ended after it was established; the message says who ended it and how.</summary>
public sealed class DtlsClosedException(string message) : Exception(message);

/// <summary>
/// A DTLS 1.2 association over the ICE-selected pair (BouncyCastle does the protocol). Its application data is exposed
/// as an <see cref="IDatagramTransport"/> for SCTP; the SRTP keys come out of the handshake.
/// </summary>
public sealed class DtlsSession : IDatagramTransport
{
    private readonly IceDtlsLink _link;
    private readonly DtlsTransport _transport;
    private readonly Channel<byte[]> _received = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest });
    private readonly Thread _reader;
    private readonly DtlsSrtpState _state;
    private readonly TaskCompletionSource<string> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _closed;

    private DtlsSession(IceDtlsLink link, DtlsTransport transport, SrtpKeys keys, CertificateFingerprint remoteFingerprint, DtlsSrtpState state)
    {
        _link = link;
        _state = state;
        _transport = transport;
        SrtpKeys = keys;
        RemoteFingerprint = remoteFingerprint;
        MaxDatagramSize = transport.GetSendLimit();
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "dtls-read" };
        _reader.Start();
    }

    public SrtpKeys SrtpKeys { get; }
    public CertificateFingerprint RemoteFingerprint { get; }
    public int MaxDatagramSize { get; }

    /// <summary>Completes, with the reason, when the association ends: closed by us, by the peer, or its path gone.</summary>
    public Task<string> Ended => _ended.Task;

    /// <summary>
    /// Runs the handshake on the agent's selected pair. Fails with <see cref="DtlsHandshakeException"/> when the peer's
    /// certificate does not hash to <paramref name="expectedRemote"/>, or on timeout or cancellation.
    /// </summary>
    public static async Task<DtlsSession> HandshakeAsync(IceAgent ice, DtlsRole role, DtlsCertificate certificate, CertificateFingerprint expectedRemote,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        var link = new IceDtlsLink(ice);
        var state = new DtlsSrtpState(certificate, expectedRemote, (int)timeout.TotalMilliseconds);
        var crypto = new BcTlsCrypto(new SecureRandom());
        // BouncyCastle's handshake blocks its thread; closing the link makes its next receive throw, which ends it.
        using var registration = cancellationToken.Register(link.Close);
        var handshake = Task.Factory.StartNew(() => role == DtlsRole.Client
                ? new DtlsClientProtocol().Connect(new DtlsSrtpClient(crypto, state), link)
                : new DtlsServerProtocol().Accept(new DtlsSrtpServer(crypto, state), link),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        DtlsTransport transport;
        try
        {
            transport = await handshake.WaitAsync(timeout + TimeSpan.FromSeconds(1), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            link.Close();
            cancellationToken.ThrowIfCancellationRequested();
            string reason = state.FailureReason ?? (e is TimeoutException ? $"no DTLS handshake within {timeout.TotalSeconds} s" : "DTLS handshake failed: " + e.Message);
            throw new DtlsHandshakeException(reason, e);
        }
        var profile = SrtpProfile.FromDtlsId(state.SelectedProfile)!;
        var keys = SrtpKeys.FromKeyingMaterial(profile, state.KeyingMaterial!, role == DtlsRole.Client);
        return new DtlsSession(link, transport, keys, state.RemoteFingerprint!, state);
    }

    private void ReadLoop()
    {
        var buffer = new byte[Math.Max(_transport.GetReceiveLimit(), 1)];
        try
        {
            while (!_closed && !_link.IsClosed)
            {
                int n = _transport.Receive(buffer, 0, buffer.Length, 200);
                if (n >= 0) _received.Writer.TryWrite(buffer.AsSpan(0, n).ToArray());
            }
        }
        catch (Exception)
        {
            // Closed by us, a fatal alert or close_notify from the peer, or the ICE path gone: readers see -1. This
            // is a thread of its own, so nothing may escape it.
        }
        finally
        {
            _received.Writer.TryComplete();
            _ended.TrySetResult(_closed ? "closed locally"
                : _state.PeerAlert == AlertDescription.close_notify ? "the peer closed the DTLS association (close_notify)"
                : _state.PeerAlert is { } alert ? $"the peer sent DTLS alert {AlertDescription.GetText(alert)}"
                : "the DTLS transport closed");
        }
    }

    public ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_closed || _link.IsClosed, this);
        if (datagram.Length > MaxDatagramSize) throw new ArgumentException($"datagram of {datagram.Length} bytes exceeds {MaxDatagramSize}", nameof(datagram));
        try
        {
            _transport.Send(datagram.ToArray(), 0, datagram.Length);
        }
        catch (IOException) when (_link.IsClosed)
        {
            throw new ObjectDisposedException(nameof(DtlsSession));
        }
        return ValueTask.CompletedTask;
    }

    public async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            byte[] datagram = await _received.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            int n = Math.Min(datagram.Length, buffer.Length);
            datagram.AsSpan(0, n).CopyTo(buffer.Span);
            return n;
        }
        catch (ChannelClosedException)
        {
            return -1;
        }
    }

    public ValueTask DisposeAsync()
    {
        if (_closed) return ValueTask.CompletedTask;
        _closed = true;
        try { _transport.Close(); } catch (IOException) { } // sends close_notify
        _link.Close();
        _reader.Join(TimeSpan.FromSeconds(1));
        return ValueTask.CompletedTask;
    }
}

/// <summary>BouncyCastle's view of the ICE pair: DTLS records in from the demultiplexer, out on the selected pair.</summary>
internal sealed class IceDtlsLink(IceAgent ice) : DatagramTransport
{
    private volatile bool _closed;

    public bool IsClosed => _closed;

    // One UDP datagram on a typical 1500-byte MTU path minus IP/UDP headers; DTLS fragments handshake messages to fit.
    public int GetReceiveLimit() => 1500 - 28;
    public int GetSendLimit() => 1500 - 28 - 20;

    public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);

    public int Receive(Span<byte> buffer, int waitMillis)
    {
        if (_closed) throw new IOException("the DTLS link is closed");
        byte[]? packet;
        try
        {
            if (!ice.DtlsPackets.TryTake(out packet, waitMillis <= 0 ? 1 : waitMillis)) return ice.DtlsPackets.IsCompleted ? Closed() : -1;
        }
        catch (ObjectDisposedException)
        {
            return Closed();
        }
        int n = Math.Min(packet.Length, buffer.Length);
        packet.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    private int Closed()
    {
        _closed = true;
        throw new IOException("the ICE transport closed");
    }

    public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

    public void Send(ReadOnlySpan<byte> buffer)
    {
        if (_closed) throw new IOException("the DTLS link is closed");
        ice.Send(buffer);
    }

    public void Close() => _closed = true;
}
