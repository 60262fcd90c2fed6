using Neuro.WebRtc;
using Neuro.WebRtc.Media.Video;

namespace Neuro.Neko;

/// <summary>
/// Decodes the Neko server's VP8 video track with our receiver (jitter buffer, NACK/PLI recovery, libvpx) and pushes
/// each frame into a <see cref="VideoFrameSource"/>, so the agent sees the stream instead of polling screenshots. The
/// receiver's RTCP (receiver reports, NACK, PLI) goes back over the peer connection. Frames decoded before the offer's
/// payload type is known, or from another payload type (audio), are ignored by the receiver.
/// </summary>
public sealed class NekoVideo : IDisposable
{
    private readonly NekoClient _client;
    private readonly VideoFrameSource _frames;
    private readonly Lock _gate = new();
    private VideoReceiver? _receiver;
    private int _payloadType = -1;

    public NekoVideo(NekoClient client, VideoFrameSource frames)
    {
        _client = client;
        _frames = frames;
        client.RtpReceived += OnPacket;
    }

    /// <summary>Frames decoded so far.</summary>
    public long FramesDecoded { get; private set; }

    private void OnPacket(RtcReceivedPacket packet)
    {
        lock (_gate)
        {
            // A new offer (reconnect) may use another payload type: start a fresh receiver for it.
            if (_client.VideoPayloadType is not { } pt)
            {
                return;
            }
            if (pt != _payloadType || _receiver is null)
            {
                _receiver?.Dispose();
                _payloadType = pt;
                _receiver = new VideoReceiver(new VideoReceiverOptions { PayloadType = pt, OutputFormat = VideoPixelFormat.Rgb24 },
                    frame =>
                    {
                        FramesDecoded++;
                        _frames.Push(frame.Width, frame.Height, frame.Pixels);
                    },
                    rtcp => _ = SendRtcpAsync(rtcp));
            }
            if (packet.IsRtcp)
            {
                _receiver.ReceiveRtcp(packet.Data);
            }
            else
            {
                _receiver.ReceiveRtp(packet.Data);
            }
        }
    }

    private async Task SendRtcpAsync(byte[] rtcp)
    {
        try
        {
            if (_client.PeerConnection is { } pc)
            {
                await pc.SendRtcpAsync(rtcp, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException or IOException)
        {
            // The connection went away; a reconnect brings a new one and the receiver asks for a keyframe again.
        }
    }

    public void Dispose()
    {
        _client.RtpReceived -= OnPacket;
        lock (_gate)
        {
            _receiver?.Dispose();
            _receiver = null;
        }
    }
}
