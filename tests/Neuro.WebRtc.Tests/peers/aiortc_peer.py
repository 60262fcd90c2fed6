"""A real aiortc peer for the transport interop tests, driven over stdin/stdout with one JSON object per line.

  offer  : aiortc offers a VP8 video track (small black frames) and a "data" channel, as the Neko server does;
           it prints {"type":"offer"} and waits for {"type":"answer"} on stdin.
  answer : aiortc reads {"type":"offer"} from stdin and prints {"type":"answer"}; every RTP packet that reaches
           its receiver (that is, that libsrtp authenticated and decrypted) is printed as {"event":"rtp",...}.

It prints {"event":"state","state":...} on each connection state change and exits when stdin closes or after
--seconds. Run it with /usr/bin/python3: that is where Debian's python3-aiortc lives.
"""
import argparse
import asyncio
import json
import logging
import sys

import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from av import VideoFrame

# aioice leaves 127.0.0.1 out of its host candidates; the tests run on loopback only.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class SmallFrames(VideoStreamTrack):
    """Black 160x120 frames at 30 fps: enough for VP8 packets, cheap on a shared 2-core box."""

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=160, height=120, format="yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts = pts
        frame.time_base = time_base
        return frame


async def read_line():
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return json.loads(line) if line.strip() else None


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["offer", "answer"])
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()

    pc = RTCPeerConnection()

    @pc.on("connectionstatechange")
    async def on_state():
        emit({"event": "state", "state": pc.connectionState})

    if args.mode == "answer":
        # Record what arrives after SRTP unprotection instead of decoding it: the tests send arbitrary payloads.
        async def record(self, packet, arrival_time_ms):
            emit({"event": "rtp", "ssrc": packet.ssrc, "seq": packet.sequence_number, "pt": packet.payload_type,
                  "payload": packet.payload.hex()})

        RTCRtpReceiver._handle_rtp_packet = record

        offer = await read_line()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        emit({"type": "answer", "sdp": pc.localDescription.sdp})
    else:
        pc.addTrack(SmallFrames())
        pc.createDataChannel("data")
        await pc.setLocalDescription(await pc.createOffer())
        emit({"type": "offer", "sdp": pc.localDescription.sdp})
        answer = await read_line()
        if answer is None:
            return
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

    # Stay up until the test closes stdin (or the deadline passes), then close cleanly.
    try:
        await asyncio.wait_for(read_line(), timeout=args.seconds)
    except asyncio.TimeoutError:
        pass
    await pc.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main())
