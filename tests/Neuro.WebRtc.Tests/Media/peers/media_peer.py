#!/usr/bin/python3
"""Media interop peer for Neuro.WebRtc's tests: aiortc 1.4 and PyAV on the other side of our RTP.

Run with Debian's /usr/bin/python3 (python3-aiortc). Packet files are a sequence of records, each a 16-bit
big-endian length followed by one whole RTP packet.

  vp8-encode OUT WIDTH HEIGHT FRAMES   aiortc's VP8 encoder and payloader -> RTP packets of pattern frames
  vp8-decode IN                        our VP8 RTP packets -> aiortc's depayloader and decoder -> pattern numbers (JSON)
  opus-decode IN                       our Opus RTP packets -> PyAV's Opus decoder -> dominant frequency (JSON)
  rtcp-parse IN                        our compound RTCP (one record) -> aiortc's parser -> JSON description
  rtcp-build OUT                       a compound RTCP packet built by aiortc (SR, SDES, BYE, NACK, PLI)
  vp8-live RTP_PORT RTCP_PORT SECONDS  aiortc's RTCRtpSender streaming pattern frames as plain RTP over loopback UDP
                                       to RTP_PORT, taking our RTCP (NACK, PLI, RR) on RTCP_PORT; prints what it got
  vp8-receive RTP_PORT RTCP_PORT SECONDS  aiortc's RTCRtpReceiver takes our plain RTP on RTP_PORT, sends its RTCP
                                       (NACK, PLI, RR) to RTCP_PORT; prints "ready", then (after 2 s of quiet) the
                                       pattern numbers it decoded
  opus-receive RTP_PORT RTCP_PORT SECONDS  the same with an audio RTCRtpReceiver (opus/48000/2, PT 111): prints
                                       "ready", then the dominant frequency of what it decoded

The pattern is the one the C# tests draw: a 4x2 grid of blocks, block k holding bits 3k..3k+2 of the number as the
R (4), G (2) and B (1) channels, each 230 when set and 25 when clear.
"""
import fractions
import json
import struct
import sys

import av
import numpy
from aiortc.codecs import vpx
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import (RtcpByePacket, RtcpPacket, RtcpPsfbPacket, RtcpReceiverInfo, RtcpRrPacket, RtcpRtpfbPacket,
                        RtcpSdesPacket, RtcpSenderInfo, RtcpSourceInfo, RtcpSrPacket, RtpPacket)

COLUMNS, ROWS = 4, 2


def number(i):
    # Same sequence as the C# test's Number(i).
    return 0x2D2D2D ^ (i * 0x30507)


def draw(width, height, value):
    image = numpy.zeros((height, width, 3), dtype=numpy.uint8)
    for block in range(COLUMNS * ROWS):
        bits = (value >> (3 * block)) & 7
        bx, by = block % COLUMNS, block // COLUMNS
        x0, x1 = bx * width // COLUMNS, (bx + 1) * width // COLUMNS
        y0, y1 = by * height // ROWS, (by + 1) * height // ROWS
        for c, mask in enumerate((4, 2, 1)):
            image[y0:y1, x0:x1, c] = 230 if bits & mask else 25
    return image


def read(image):
    height, width, _ = image.shape
    value = 0
    for block in range(COLUMNS * ROWS):
        bx, by = block % COLUMNS, block // COLUMNS
        x0, x1 = bx * width // COLUMNS, (bx + 1) * width // COLUMNS
        y0, y1 = by * height // ROWS, (by + 1) * height // ROWS
        mx, my = (x1 - x0) // 4, (y1 - y0) // 4
        means = image[y0 + my:y1 - my, x0 + mx:x1 - mx].reshape(-1, 3).mean(axis=0)
        bits = 0
        for c, mask in enumerate((4, 2, 1)):
            if 80 < means[c] < 175:
                return -1
            if means[c] >= 175:
                bits |= mask
        value |= bits << (3 * block)
    return value


def write_packets(path, packets):
    with open(path, "wb") as f:
        for p in packets:
            f.write(struct.pack("!H", len(p)))
            f.write(p)


def read_packets(path):
    with open(path, "rb") as f:
        data = f.read()
    packets, offset = [], 0
    while offset < len(data):
        (n,) = struct.unpack_from("!H", data, offset)
        packets.append(data[offset + 2:offset + 2 + n])
        offset += 2 + n
    return packets


def vp8_encode(out, width, height, frames):
    encoder = vpx.Vp8Encoder()
    packets, seq = [], 1000
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(draw(width, height, number(i)), format="rgb24")
        frame.pts = i * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        payloads, timestamp = encoder.encode(frame)
        for k, payload in enumerate(payloads):
            packet = RtpPacket(payload_type=96, marker=int(k == len(payloads) - 1), sequence_number=seq & 0xFFFF,
                               timestamp=timestamp, ssrc=0x5EED)
            packet.payload = payload
            packets.append(packet.serialize())
            seq += 1
    write_packets(out, packets)
    print(json.dumps({"packets": len(packets), "frames": frames}))


def vp8_decode(path):
    decoder = vpx.Vp8Decoder()
    frames, current, data, ts = [], None, b"", None
    for raw in read_packets(path):
        packet = RtpPacket.parse(raw)
        if ts is not None and packet.timestamp != ts:
            data = b""
        ts = packet.timestamp
        data += vpx.vp8_depayload(packet.payload)
        if packet.marker:
            for decoded in decoder.decode(JitterFrame(data=data, timestamp=packet.timestamp)):
                frames.append(read(decoded.to_ndarray(format="rgb24")))
            data, ts = b"", None
    print(json.dumps({"numbers": frames}))


def opus_decode(path):
    codec = av.CodecContext.create("opus", "r")
    codec.sample_rate = 48000
    codec.layout = "stereo"
    samples, timestamps, sequence = [], [], []
    payload_types, markers = set(), []
    for raw in read_packets(path):
        packet = RtpPacket.parse(raw)
        payload_types.add(packet.payload_type)
        timestamps.append(packet.timestamp)
        sequence.append(packet.sequence_number)
        markers.append(packet.marker)
        for frame in codec.decode(av.Packet(packet.payload)):
            pcm = frame.to_ndarray()
            # Planar float (channels x n) or packed (1 x n*channels); the first channel is enough.
            if frame.format.is_planar:
                samples.append(pcm[0])
            else:
                samples.append(pcm.reshape(-1, len(frame.layout.channels))[:, 0])
    signal = numpy.concatenate(samples).astype(numpy.float64)
    signal = signal[4800:]  # skip the codec's start-up (100 ms)
    spectrum = numpy.abs(numpy.fft.rfft(signal * numpy.hanning(len(signal))))
    peak = int(numpy.argmax(spectrum))
    frequency = peak * 48000 / len(signal)
    deltas = sorted({(b - a) & 0xFFFFFFFF for a, b in zip(timestamps, timestamps[1:])})
    seq_ok = all(((b - a) & 0xFFFF) == 1 for a, b in zip(sequence, sequence[1:]))
    print(json.dumps({
        "frequency": frequency,
        "rms": float(numpy.sqrt(numpy.mean(signal ** 2))),
        "samples": int(len(signal)),
        "payload_types": sorted(payload_types),
        "timestamp_deltas": deltas,
        "sequence_contiguous": seq_ok,
        "first_marker": bool(markers[0]) if markers else False,
    }))


def describe_reports(reports):
    return [{"ssrc": r.ssrc, "fraction_lost": r.fraction_lost, "packets_lost": r.packets_lost,
             "highest_sequence": r.highest_sequence, "jitter": r.jitter, "lsr": r.lsr, "dlsr": r.dlsr} for r in reports]


def rtcp_parse(path):
    out = []
    for p in RtcpPacket.parse(read_packets(path)[0]):
        if isinstance(p, RtcpSrPacket):
            i = p.sender_info
            out.append({"type": "sr", "ssrc": p.ssrc, "ntp": i.ntp_timestamp, "rtp": i.rtp_timestamp,
                        "packets": i.packet_count, "octets": i.octet_count, "reports": describe_reports(p.reports)})
        elif isinstance(p, RtcpRrPacket):
            out.append({"type": "rr", "ssrc": p.ssrc, "reports": describe_reports(p.reports)})
        elif isinstance(p, RtcpSdesPacket):
            out.append({"type": "sdes", "chunks": [{"ssrc": c.ssrc, "items": [[t, v.decode()] for t, v in c.items]}
                                                   for c in p.chunks]})
        elif isinstance(p, RtcpByePacket):
            out.append({"type": "bye", "sources": p.sources})
        elif isinstance(p, RtcpRtpfbPacket):
            out.append({"type": "rtpfb", "fmt": p.fmt, "ssrc": p.ssrc, "media_ssrc": p.media_ssrc, "lost": p.lost})
        elif isinstance(p, RtcpPsfbPacket):
            out.append({"type": "psfb", "fmt": p.fmt, "ssrc": p.ssrc, "media_ssrc": p.media_ssrc})
    print(json.dumps(out))


def rtcp_build(path):
    packets = [
        RtcpSrPacket(ssrc=0x11223344,
                     sender_info=RtcpSenderInfo(ntp_timestamp=0xE1234567_89ABCDEF, rtp_timestamp=123456,
                                                packet_count=1000, octet_count=1_000_000),
                     reports=[RtcpReceiverInfo(ssrc=0x55667788, fraction_lost=25, packets_lost=-3,
                                               highest_sequence=0x0001FFFF, jitter=77, lsr=0xABCD1234, dlsr=65536)]),
        RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=0x11223344, items=[(1, b"aiortc-cname")])]),
        RtcpRtpfbPacket(fmt=1, ssrc=0x11223344, media_ssrc=0x55667788, lost=[100, 101, 102, 105, 140]),
        RtcpPsfbPacket(fmt=1, ssrc=0x11223344, media_ssrc=0x55667788, fci=b""),
        RtcpByePacket(sources=[0x11223344]),
    ]
    write_packets(path, [b"".join(bytes(p) for p in packets)])
    print(json.dumps({"packets": len(packets)}))


class _PatternTrack:
    """A 320x240 video track whose frame i shows number(i); paced at 30 fps by aiortc's VideoStreamTrack."""

    def __new__(cls):
        from aiortc.mediastreams import VideoStreamTrack

        class Track(VideoStreamTrack):
            def __init__(self):
                super().__init__()
                self.count = 0

            async def recv(self):
                pts, time_base = await self.next_timestamp()
                frame = av.VideoFrame.from_ndarray(draw(320, 240, number(self.count)), format="rgb24")
                frame.pts, frame.time_base = pts, time_base
                self.count += 1
                return frame

        return Track()


class _PlainTransport:
    """Stands in for RTCDtlsTransport: RTP and RTCP go out unprotected as UDP datagrams (SRTP is not under test)."""

    def __init__(self, sock, peer):
        self.state = "connected"
        self._stats_id = "plain"
        self.sock, self.peer = sock, peer

    def _register_rtp_sender(self, sender, parameters):
        pass

    def _register_rtp_receiver(self, receiver, parameters):
        pass

    def _unregister_rtp_receiver(self, receiver):
        pass

    def _unregister_rtp_sender(self, sender):
        pass

    def _get_stats(self):
        from aiortc.stats import RTCStatsReport
        return RTCStatsReport()

    async def _send_rtp(self, data):
        self.sock.sendto(data, self.peer)


def vp8_live(rtp_port, rtcp_port, seconds):
    import asyncio
    import socket

    from aiortc.rtcrtpparameters import RTCRtcpParameters, RTCRtpCodecParameters, RTCRtpSendParameters
    from aiortc.rtcrtpsender import RTCRtpSender
    from aiortc.rtp import RTCP_PSFB_PLI, RTCP_RTPFB_NACK

    async def run():
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        inbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        inbound.bind(("127.0.0.1", rtcp_port))
        inbound.setblocking(False)
        track = _PatternTrack()
        sender = RTCRtpSender(track, _PlainTransport(out, ("127.0.0.1", rtp_port)))
        await sender.send(RTCRtpSendParameters(
            codecs=[RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)],
            rtcp=RTCRtcpParameters(cname="aiortc-live"), muxId="0"))
        got = {"nack_packets": 0, "nacked_sequences": 0, "plis": 0, "reports": 0, "report_ssrc_ok": True}
        loop = asyncio.get_event_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            try:
                data = await asyncio.wait_for(loop.sock_recv(inbound, 2048), timeout=deadline - loop.time())
            except asyncio.TimeoutError:
                break
            for packet in RtcpPacket.parse(data):
                if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                    got["nack_packets"] += 1
                    got["nacked_sequences"] += len(packet.lost)
                elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
                    got["plis"] += 1
                elif isinstance(packet, RtcpRrPacket):
                    got["reports"] += 1
                    got["report_ssrc_ok"] &= all(r.ssrc == sender._ssrc for r in packet.reports)
                await sender._handle_rtcp_packet(packet)
        await sender.stop()
        got["frames_sent"] = track.count
        got["ssrc"] = sender._ssrc
        print(json.dumps(got))

    asyncio.run(run())


def dominant_frequency(signal):
    spectrum = numpy.abs(numpy.fft.rfft(signal * numpy.hanning(len(signal))))
    return int(numpy.argmax(spectrum)) * 48000 / len(signal)


def receive(kind, rtp_port, rtcp_port, seconds, on_frame):
    """Runs aiortc's RTCRtpReceiver on plain RTP from RTP_PORT until SECONDS pass or 2 s of quiet."""
    import asyncio
    import socket
    import time

    from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
    from aiortc.rtcrtpreceiver import RemoteStreamTrack, RTCRtpReceiver

    codec = (RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96) if kind == "video" else
             RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111))

    async def run():
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        inbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        inbound.bind(("127.0.0.1", rtp_port))
        inbound.setblocking(False)
        receiver = RTCRtpReceiver(kind, _PlainTransport(out, ("127.0.0.1", rtcp_port)))
        receiver._track = RemoteStreamTrack(kind=kind)
        receiver._set_rtcp_ssrc(0x1111)
        await receiver.receive(RTCRtpReceiveParameters(codecs=[codec]))

        async def consume():
            while True:
                on_frame(await receiver._track.recv())

        consumer = asyncio.ensure_future(consume())
        loop = asyncio.get_event_loop()
        deadline = loop.time() + seconds
        packets = 0
        print("ready", flush=True)
        while loop.time() < deadline:
            try:
                # Ends after SECONDS, or once the sender has been quiet for 2 s.
                data = await asyncio.wait_for(loop.sock_recv(inbound, 2048), timeout=min(2.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                break
            if len(data) >= 2 and 192 <= data[1] <= 223:
                for packet in RtcpPacket.parse(data):
                    await receiver._handle_rtcp_packet(packet)
            else:
                packets += 1
                await receiver._handle_rtp_packet(RtpPacket.parse(data), int(time.time() * 1000))
        await asyncio.sleep(0.5)  # let the decoder thread finish the last frames
        consumer.cancel()
        await receiver.stop()
        return packets

    return asyncio.run(run())


def opus_receive(rtp_port, rtcp_port, seconds):
    chunks = []

    def on_frame(frame):
        pcm = frame.to_ndarray()  # s16 packed stereo from aiortc's Opus decoder: 1 x (2n)
        chunks.append(pcm.reshape(-1, len(frame.layout.channels))[:, 0])

    packets = receive("audio", rtp_port, rtcp_port, seconds, on_frame)
    signal = numpy.concatenate(chunks).astype(numpy.float64) if chunks else numpy.zeros(1)
    steady = signal[4800:] if len(signal) > 9600 else signal
    print(json.dumps({"packets": packets, "samples": int(len(signal)), "frequency": dominant_frequency(steady),
                      "rms": float(numpy.sqrt(numpy.mean(steady ** 2)))}))


def vp8_receive(rtp_port, rtcp_port, seconds):
    numbers, sizes = [], set()

    def on_frame(frame):
        sizes.add((frame.width, frame.height))
        numbers.append(read(frame.to_ndarray(format="rgb24")))

    packets = receive("video", rtp_port, rtcp_port, seconds, on_frame)
    print(json.dumps({"numbers": numbers, "packets": packets, "sizes": sorted(sizes)}))


def main(argv):
    command = argv[1]
    if command == "vp8-encode":
        vp8_encode(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    elif command == "vp8-decode":
        vp8_decode(argv[2])
    elif command == "opus-decode":
        opus_decode(argv[2])
    elif command == "rtcp-parse":
        rtcp_parse(argv[2])
    elif command == "rtcp-build":
        rtcp_build(argv[2])
    elif command == "opus-receive":
        opus_receive(int(argv[2]), int(argv[3]), float(argv[4]))
    elif command == "vp8-receive":
        vp8_receive(int(argv[2]), int(argv[3]), float(argv[4]))
    elif command == "vp8-live":
        vp8_live(int(argv[2]), int(argv[3]), float(argv[4]))
    else:
        raise SystemExit("unknown command " + command)


if __name__ == "__main__":
    main(sys.argv)
