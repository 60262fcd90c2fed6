"""Baseline for docs/neko.md: the same Neko-shaped session with aiortc on both sides (one process, loopback).

The "server" pc offers a VP8 track and creates the "data" channel (as Neko and neko_standin.py do); the "client" pc
answers. Prints offer -> data channel open, offer -> first decoded frame, and the data-channel PING/PONG round trip
(20 pings, Neko's binary layout) as one JSON line. Run with /usr/bin/python3. Not a test; a measurement.
"""
import asyncio
import json
import statistics
import struct
import time

import aioice.ice
from aiortc import RTCPeerConnection, VideoStreamTrack

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


async def main():
    server, client = RTCPeerConnection(), RTCPeerConnection()
    server.addTrack(VideoStreamTrack())
    channel = server.createDataChannel("data")

    @channel.on("message")
    def pong(message):
        channel.send(struct.pack(">BH", 0x03, 19) + bytes(message)[3:11] + bytes(8))

    opened = asyncio.get_running_loop().create_future()
    first_frame = asyncio.get_running_loop().create_future()
    replies = asyncio.Queue()

    @client.on("datachannel")
    def on_channel(ch):
        ch.on("message", lambda m: replies.put_nowait(m))
        if ch.readyState == "open":
            opened.set_result(ch)
        else:
            ch.on("open", lambda: opened.done() or opened.set_result(ch))

    @client.on("track")
    def on_track(track):
        async def read():
            await track.recv()
            first_frame.set_result(time.perf_counter())
        asyncio.ensure_future(read())

    await server.setLocalDescription(await server.createOffer())
    start = time.perf_counter()
    await client.setRemoteDescription(server.localDescription)
    await client.setLocalDescription(await client.createAnswer())
    await server.setRemoteDescription(client.localDescription)
    ch = await asyncio.wait_for(opened, 20)
    open_ms = (time.perf_counter() - start) * 1000
    frame_ms = (await asyncio.wait_for(first_frame, 20) - start) * 1000
    rtts = []
    for _ in range(20):
        t = time.perf_counter()
        ch.send(struct.pack(">BHII", 0x07, 8, 0, int(time.time() * 1000) & 0xFFFFFFFF))
        await asyncio.wait_for(replies.get(), 5)
        rtts.append((time.perf_counter() - t) * 1000)
    print(json.dumps({"offer_to_datachannel_open_ms": round(open_ms, 1), "offer_to_first_decoded_frame_ms": round(frame_ms, 1),
                      "ping_rtt_median_ms": round(statistics.median(rtts), 2), "ping_rtt_max_ms": round(max(rtts), 2)}))
    await client.close()
    await server.close()


asyncio.run(main())
