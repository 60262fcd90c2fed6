"""aiortc's SCTP + data channel stack as an independent peer for our SCTP interop test.

SCTP packets travel as plain UDP datagrams on loopback (standing in for DTLS records, which carry them unchanged):
a stub takes the place of aiortc's RTCDtlsTransport, so aiortc's own SCTP code is what speaks to ours.

Usage: /usr/bin/python3 aiortc_sctp_peer.py <our-udp-port> <client|server>
  client: aiortc sends INIT (ICE "controlling"), its channel ids are odd
  server: aiortc waits for INIT, its channel ids are even
It prints "PORT <n>" once bound, echoes every message on channels we open, opens a channel "from-aiortc" and sends
"hello from aiortc" on it once the association is up, and prints events as "EVENT ..." lines. Ends on stdin EOF.
"""
import asyncio
import logging
import os
import sys

from aiortc.rtcdatachannel import RTCDataChannel, RTCDataChannelParameters
from aiortc.rtcsctptransport import RTCSctpCapabilities, RTCSctpTransport


class IceRole:
    def __init__(self, role):
        self.role = role


class DatagramDtlsStub:
    """The parts of RTCDtlsTransport that RTCSctpTransport uses."""

    def __init__(self, role, udp):
        self.state = "connected"
        self.transport = IceRole(role)
        self._udp = udp
        self._receiver = None

    def _register_data_receiver(self, receiver):
        self._receiver = receiver

    def _unregister_data_receiver(self, receiver):
        if self._receiver is receiver:
            self._receiver = None

    async def _send_data(self, data):
        self._udp.sendto(data)


class Udp(asyncio.DatagramProtocol):
    def __init__(self):
        self.stub = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if self.stub and self.stub._receiver:
            asyncio.ensure_future(self.stub._receiver._handle_data(data))

    def sendto(self, data):
        self.transport.sendto(data)


def say(*parts):
    print(*parts, flush=True)


async def main():
    if os.environ.get("AIORTC_SCTP_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    our_port = int(sys.argv[1])
    role = sys.argv[2]
    loop = asyncio.get_running_loop()
    udp_transport, udp = await loop.create_datagram_endpoint(
        Udp, local_addr=("127.0.0.1", 0), remote_addr=("127.0.0.1", our_port))
    udp.stub = DatagramDtlsStub("controlling" if role == "client" else "controlled", udp)
    sctp = RTCSctpTransport(udp.stub)

    @sctp.on("datachannel")
    def on_datachannel(channel):
        say("EVENT channel", channel.id, channel.label, channel.protocol, int(channel.ordered))

        @channel.on("message")
        def on_message(message):
            kind = "text" if isinstance(message, str) else "binary"
            say("EVENT message", channel.label, kind, len(message if kind == "binary" else message.encode()))
            channel.send(message)

        @channel.on("close")
        def on_close():
            say("EVENT closed", channel.label)

    await sctp.start(RTCSctpCapabilities(maxMessageSize=262144), 5000)
    say("PORT", udp_transport.get_extra_info("sockname")[1])

    async def open_own_channel():
        while sctp._association_state != RTCSctpTransport.State.ESTABLISHED:
            await asyncio.sleep(0.01)
        say("EVENT established")
        own = RTCDataChannel(sctp, RTCDataChannelParameters(label="from-aiortc", protocol="neko"))

        @own.on("open")
        def on_open():
            say("EVENT own-open", own.id)
            own.send("hello from aiortc")

    async def report_close():
        while sctp._association_state != RTCSctpTransport.State.ESTABLISHED:
            await asyncio.sleep(0.01)
        while sctp._association_state != RTCSctpTransport.State.CLOSED:
            await asyncio.sleep(0.01)
        say("EVENT association closed")

    asyncio.ensure_future(open_own_channel())
    asyncio.ensure_future(report_close())
    await loop.run_in_executor(None, sys.stdin.read)
    say("EVENT state", sctp._association_state.name)
    await sctp.stop()


asyncio.run(main())
