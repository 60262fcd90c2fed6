"""A stand-in for the Neko v3 server (m1k1o/neko cannot be built here), for the Neuro.Neko tests.

It speaks the parts of the v3 protocol the client uses (see /work/shared/reference-neko-protocol.md §2):
  POST /api/login {username, password}   password "neko" -> 200 {id, token, profile, state}; otherwise 401.
                                          With --cookie the token is sent as Set-Cookie NEKO_SESSION instead.
  GET  /api/ws?token=...                  (or the NEKO_SESSION cookie, or Authorization: Bearer) -> WebSocket with the
                                          {event, payload} envelope: system/init, system/heartbeat, signal/request ->
                                          signal/provide (aiortc offer: a VP8 track + a server-created "data" channel,
                                          candidates stripped from the SDP and trickled as signal/candidate),
                                          signal/answer, signal/candidate, control/request|release -> control/host,
                                          control/* input, chat/message (broadcast to every session, sender included).
  GET  /api/room/screen/shot.jpg          the current frame: PNG by default, a baseline 4:2:0 JPEG (real Neko sends JPEG) with --jpeg.
Test-only endpoints (not Neko):
  GET  /test/input                        every input received, in order: {"via":"dc"|"ws", ...}
  POST /test/chat {text}                  a chat message from another session ("admin-standin")
  POST /test/drop                         closes every WebSocket and peer connection (a dropped server)
  POST /test/garbage {count, seed}       sends `count` seeded, mutated envelopes (and raw junk) to every WebSocket
  GET  /test/state                        heartbeats received, connections seen, current host, data-channel state

The video pattern: a 320x240 frame whose top row of 16 blocks (20x20 px) spells the frame number in binary, most
significant bit first (white = 1); the rest is mid grey. The screen size announced is 1280x720, unlike the video, so a
client that maps clicks with the video size instead of screen_size is caught.
Prints {"port": N} on stdout once listening. Run with /usr/bin/python3 (Debian's python3-aiortc and python3-aiohttp).
"""
import argparse
import asyncio
import json
import logging
import secrets
import struct
import sys
import time
import zlib
from datetime import datetime, timezone

import aioice.ice
import av
from aiohttp import web, WSMsgType
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp, candidate_to_sdp
from av import VideoFrame

# aioice leaves 127.0.0.1 out of its host candidates; the tests run on loopback only.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

SCREEN_W, SCREEN_H = 1280, 720
VIDEO_W, VIDEO_H = 320, 240
BLOCK = 20
BITS = 16


class State:
    def __init__(self, args):
        self.args = args
        self.tokens = {}          # token -> session id
        self.sockets = {}         # session id -> ws
        self.pcs = {}             # session id -> RTCPeerConnection
        self.inputs = []
        self.host_id = None
        self.heartbeats = 0
        self.connections = 0
        self.frame_number = 0
        self.dc_open = 0
        self.pongs = 0


def pattern_gray(n):
    """Luma per pixel row-major, the frame number n as blocks in the top row."""
    rows = bytearray([128]) * (VIDEO_W * VIDEO_H)
    for bit in range(BITS):
        on = (n >> (BITS - 1 - bit)) & 1
        value = 255 if on else 0
        for y in range(BLOCK):
            start = y * VIDEO_W + bit * BLOCK
            rows[start:start + BLOCK] = bytes([value]) * BLOCK
    return rows


def png_gray_as_rgb(gray, w, h):
    raw = bytearray()
    for y in range(h):
        raw.append(0)
        for x in range(w):
            v = gray[y * w + x]
            raw += bytes((v, v, v))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")


class PatternTrack(VideoStreamTrack):
    def __init__(self, state):
        super().__init__()
        self.state = state

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        self.state.frame_number += 1
        gray = pattern_gray(self.state.frame_number)
        frame = VideoFrame(width=VIDEO_W, height=VIDEO_H, format="yuv420p")
        frame.planes[0].update(bytes(gray))
        frame.planes[1].update(bytes([128]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
        frame.pts = pts
        frame.time_base = time_base
        return frame


def envelope(event, payload=None):
    msg = {"event": event}
    if payload is not None:
        msg["payload"] = payload
    return json.dumps(msg)


async def broadcast(state, event, payload):
    for ws in list(state.sockets.values()):
        try:
            await ws.send_str(envelope(event, payload))
        except Exception:
            pass


def decode_dc(data):
    """Client -> server binary input, big-endian, 3-byte header (u8 op, u16 payload length)."""
    if len(data) < 3:
        return {"op": "short", "hex": data.hex()}
    op, length = struct.unpack(">BH", data[:3])
    body = data[3:]
    try:
        if op == 0x01:
            x, y = struct.unpack(">HH", body[:4])
            return {"op": "move", "x": x, "y": y, "len": length}
        if op == 0x02:
            dx, dy = struct.unpack(">hh", body[:4])
            ctrl = body[4] if length == 5 and len(body) >= 5 else 0
            return {"op": "scroll", "dx": dx, "dy": dy, "control": ctrl, "len": length}
        if op in (0x03, 0x04):
            (key,) = struct.unpack(">I", body[:4])
            return {"op": "keydown" if op == 0x03 else "keyup", "keysym": key, "len": length}
        if op in (0x05, 0x06):
            (button,) = struct.unpack(">I", body[:4])
            return {"op": "buttondown" if op == 0x05 else "buttonup", "code": button, "len": length}
        if op == 0x07:
            hi, lo = struct.unpack(">II", body[:8])
            return {"op": "ping", "hi": hi, "lo": lo, "len": length}
    except struct.error:
        return {"op": "malformed", "hex": data.hex()}
    return {"op": "unknown", "hex": data.hex()}


async def make_peer(state, sid, ws, request_payload):
    old = state.pcs.pop(sid, None)
    if old is not None:
        await old.close()
    pc = RTCPeerConnection()
    state.pcs[sid] = pc
    video_disabled = bool((request_payload or {}).get("video", {}).get("disabled"))
    if not video_disabled:
        pc.addTrack(PatternTrack(state))
    channel = pc.createDataChannel("data")

    @channel.on("open")
    def on_open():
        state.dc_open += 1

    @channel.on("message")
    def on_message(message):
        if isinstance(message, str):
            state.inputs.append({"via": "dc", "op": "text", "text": message})
            return
        decoded = decode_dc(bytes(message))
        decoded["via"] = "dc"
        if decoded["op"] == "ping":
            now = int(time.time() * 1000)
            channel.send(struct.pack(">BH", 0x03, 19) + bytes(message)[3:11] + struct.pack(">II", now >> 32, now & 0xFFFFFFFF))
            state.pongs += 1
            return
        state.inputs.append(decoded)
        if decoded["op"] == "move":
            # The server tells every client where the cursor is: exercise the client's parser.
            channel.send(struct.pack(">BHHH", 0x01, 7, decoded["x"], decoded["y"]))

    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    # Trickle: the offer goes without candidates, which follow as signal/candidate (Neko trickles by default).
    lines = [l for l in sdp.split("\r\n") if not l.startswith("a=candidate:") and l != "a=end-of-candidates"]
    stripped = "\r\n".join(lines)
    await ws.send_str(envelope("signal/provide", {
        "sdp": stripped, "iceservers": [],
        "video": {"disabled": video_disabled, "id": "main", "video": "main", "auto": False},
        "audio": {"disabled": True}}))
    for index, transceiver_sdp in enumerate(sdp.split("\r\nm=")[1:]):
        mid = None
        for l in transceiver_sdp.split("\r\n"):
            if l.startswith("a=mid:"):
                mid = l[6:]
        for l in transceiver_sdp.split("\r\n"):
            if l.startswith("a=candidate:"):
                await ws.send_str(envelope("signal/candidate", {"candidate": l[2:], "sdpMid": mid, "sdpMLineIndex": index}))


async def handle_event(state, sid, ws, event, payload):
    if event == "client/heartbeat":
        state.heartbeats += 1
    elif event == "signal/request":
        await make_peer(state, sid, ws, payload)
    elif event == "signal/answer":
        pc = state.pcs.get(sid)
        if pc is not None:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=payload["sdp"], type="answer"))
    elif event == "signal/candidate":
        pc = state.pcs.get(sid)
        text = (payload or {}).get("candidate") or ""
        if pc is not None and text:
            if text.startswith("candidate:"):
                text = text[len("candidate:"):]
            candidate = candidate_from_sdp(text)
            candidate.sdpMid = payload.get("sdpMid")
            candidate.sdpMLineIndex = payload.get("sdpMLineIndex")
            await pc.addIceCandidate(candidate)
            state.inputs.append({"via": "signal", "op": "candidate"})
    elif event == "control/request":
        state.host_id = sid
        await broadcast(state, "control/host", {"id": sid, "has_host": True, "host_id": sid})
    elif event == "control/release":
        if state.host_id == sid:
            state.host_id = None
            await broadcast(state, "control/host", {"id": sid, "has_host": False})
    elif event.startswith("control/"):
        record = {"via": "ws", "event": event}
        record.update(payload or {})
        state.inputs.append(record)
    elif event == "chat/message":
        text = (payload or {}).get("text", "")
        state.inputs.append({"via": "chat", "text": text})
        await broadcast(state, "chat/message", {"id": sid, "created": datetime.now(timezone.utc).isoformat(),
                                                "content": {"text": text}})


def session_of(state, request):
    token = request.query.get("token") or request.cookies.get("NEKO_SESSION")
    auth = request.headers.get("Authorization", "")
    if not token and auth.startswith("Bearer "):
        token = auth[7:]
    return state.tokens.get(token)


async def login(request):
    state = request.app["state"]
    try:
        body = await request.json()
    except Exception:
        return web.json_response({"message": "bad json"}, status=400)
    if body.get("password") != "neko":
        return web.json_response({"message": "wrong username or password"}, status=401)
    sid = f"{body.get('username', 'user')}-{secrets.token_hex(3)}"
    token = secrets.token_hex(16)
    state.tokens[token] = sid
    reply = {"id": sid, "profile": {"name": body.get("username"), "can_host": True}, "state": {}}
    if state.args.cookie:
        response = web.json_response(reply)
        response.set_cookie("NEKO_SESSION", token, httponly=True)
        return response
    reply["token"] = token
    return web.json_response(reply)


async def ws_handler(request):
    state = request.app["state"]
    sid = session_of(state, request)
    if sid is None:
        return web.json_response({"message": "invalid token"}, status=401)
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    state.connections += 1
    state.sockets[sid] = ws
    await ws.send_str(envelope("system/init", {
        "session_id": sid,
        "control_host": {"has_host": state.host_id is not None, **({"host_id": state.host_id} if state.host_id else {})},
        "screen_size": {"width": SCREEN_W, "height": SCREEN_H, "rate": 30},
        "sessions": {}, "settings": {"heartbeat_interval": state.args.heartbeat},
        "touch_events": False, "screencast_enabled": False, "webrtc": {"videos": ["main"]}}))
    await ws.send_str(envelope("chat/init", {"enabled": True}))

    async def heartbeat():
        while not ws.closed:
            await asyncio.sleep(state.args.heartbeat)
            try:
                await ws.send_str(envelope("system/heartbeat"))
            except Exception:
                return

    beat = asyncio.ensure_future(heartbeat())
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(msg.data)
                await handle_event(state, sid, ws, data.get("event", ""), data.get("payload"))
            except Exception as e:  # Neko only logs handler errors
                logging.warning("handler error: %r", e)
    finally:
        beat.cancel()
        if state.sockets.get(sid) is ws:
            del state.sockets[sid]
    return ws


async def screenshot(request):
    state = request.app["state"]
    if session_of(state, request) is None:
        return web.json_response({"message": "invalid token"}, status=401)
    gray = pattern_gray(state.frame_number)
    headers = {"X-Frame-Number": str(state.frame_number)}
    if state.args.jpeg:
        return web.Response(body=jpeg_gray(gray, VIDEO_W, VIDEO_H), content_type="image/jpeg", headers=headers)
    return web.Response(body=png_gray_as_rgb(gray, VIDEO_W, VIDEO_H), content_type="image/png", headers=headers)


def jpeg_gray(gray, w, h):
    """Baseline JPEG, full-range 4:2:0, through FFmpeg's mjpeg encoder (PyAV)."""
    import fractions
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = w, h, "yuvj420p"
    codec.time_base = fractions.Fraction(1, 30)
    frame = VideoFrame(width=w, height=h, format="yuvj420p")
    frame.planes[0].update(bytes(gray))
    frame.planes[1].update(bytes([128]) * frame.planes[1].buffer_size)
    frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
    return b"".join(bytes(p) for p in codec.encode(frame))


async def test_input(request):
    return web.json_response(request.app["state"].inputs)


async def test_state(request):
    s = request.app["state"]
    return web.json_response({"heartbeats": s.heartbeats, "connections": s.connections, "host_id": s.host_id,
                              "dc_open": s.dc_open, "pongs": s.pongs, "frame_number": s.frame_number})


async def test_chat(request):
    body = await request.json()
    await broadcast(request.app["state"], "chat/message", {
        "id": "admin-standin", "created": datetime.now(timezone.utc).isoformat(), "content": {"text": body["text"]}})
    return web.json_response({"ok": True})


async def test_drop(request):
    state = request.app["state"]
    # Snapshot first: a client may reconnect while these close, and its new session must survive.
    sockets, pcs = list(state.sockets.values()), list(state.pcs.items())
    for sid, pc in pcs:
        state.pcs.pop(sid, None)
    for ws in sockets:
        await ws.close()
    for sid, pc in pcs:
        await pc.close()
    return web.json_response({"ok": True})


GARBAGE_TEMPLATES = [
    {"event": "chat/message", "payload": {"id": "x-1", "created": "2026-01-01T00:00:00Z", "content": {"text": "/task fuzz"}}},
    {"event": "control/host", "payload": {"id": "x-1", "has_host": True, "host_id": "x-1"}},
    {"event": "screen/updated", "payload": {"id": "x-1", "width": 800, "height": 600, "rate": 30}},
    {"event": "signal/candidate", "payload": {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0}},
    {"event": "send/broadcast", "payload": {"sender": "x-1", "subject": "task", "body": "fuzz"}},
    {"event": "system/heartbeat"},
    {"event": "session/state", "payload": {"id": "x-1", "is_connected": True}},
]


def mutate(rng, text):
    data = bytearray(text.encode())
    for _ in range(rng.randint(1, 4)):
        kind = rng.randint(0, 4)
        if kind == 0 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1 and data:
            data[rng.randrange(len(data))] = rng.randrange(32, 127)
        elif kind == 2:
            del data[rng.randrange(len(data) + 1):]
        elif kind == 3:
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.choice([b"{", b"}", b"[", b"]", b'"', b":", b",", b"null", b"1e999", b"-1", b"true", b'"x"'])
        else:
            at = rng.randrange(len(data) + 1)
            data[at:at] = bytes(rng.randrange(32, 127) for _ in range(rng.randint(1, 6)))
    return data.decode("utf-8", errors="replace")


async def test_garbage(request):
    import random
    body = await request.json()
    rng = random.Random(body.get("seed", 1))
    sent = 0
    for _ in range(int(body.get("count", 1000))):
        template = json.dumps(rng.choice(GARBAGE_TEMPLATES))
        text = mutate(rng, template) if rng.random() < 0.9 else template
        for ws in list(request.app["state"].sockets.values()):
            await ws.send_str(text)
            sent += 1
    return web.json_response({"sent": sent})


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cookie", action="store_true")
    parser.add_argument("--jpeg", action="store_true")
    parser.add_argument("--heartbeat", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    app = web.Application()
    app["state"] = State(args)
    app.router.add_post("/api/login", login)
    app.router.add_get("/api/ws", ws_handler)
    app.router.add_get("/api/room/screen/shot.jpg", screenshot)
    app.router.add_get("/test/input", test_input)
    app.router.add_get("/test/state", test_state)
    app.router.add_post("/test/chat", test_chat)
    app.router.add_post("/test/drop", test_drop)
    app.router.add_post("/test/garbage", test_garbage)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"port": port}) + "\n")
    sys.stdout.flush()
    # Exit when the test closes stdin, or at the deadline, so a crashed test leaves nothing behind.
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), timeout=args.seconds)
    except asyncio.TimeoutError:
        pass
    for pc in list(app["state"].pcs.values()):
        await pc.close()
    await runner.cleanup()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main())
