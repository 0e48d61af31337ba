"""A built-in syslog receiver, so gateways can send their mail logs straight to ndrtrack.

UDP: one message per datagram.  TCP (RFC 6587): octet counting (``LEN SP MSG``) or
newline-delimited frames, told apart per frame by whether it starts with a digit.  Messages
are RFC 5424 or RFC 3164 with their ``<PRI>``; a 3164 message without a host name gets the
sender's address.  Events join the same assembler and are written every ``flush_seconds``
(the write runs in a worker thread so the event loop never waits for the disk).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from ndrtrack.config import LogsConfig
from ndrtrack.logs.assemble import Assembler
from ndrtrack.logs.ingest import LineReader
from ndrtrack.logs.metrics import LOG_TRACES, SYSLOG_MESSAGES
from ndrtrack.logs.syslog import Clock
from ndrtrack.store.base import Store

log = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024


class _Sink:
    """Shared by both transports: parse, assemble, count; flushed by the receiver."""

    def __init__(self, timezone: str) -> None:
        self.reader = LineReader(clock=Clock(timezone, datetime.now(UTC)), source="syslog")
        self.assembler = Assembler()
        self.pending = 0

    def message(self, raw: bytes, peer: str, transport: str) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r\n\x00")
        if text.startswith("\ufeff"):
            text = text[1:]
        self.reader.host = peer  # only used for messages that carry no host name
        ev = self.reader(text)
        SYSLOG_MESSAGES.labels(transport, "parsed" if ev is not None else "unknown").inc()
        if ev is not None:
            self.assembler.feed(ev)
            self.pending += 1


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, sink: _Sink) -> None:
        self.sink = sink

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        for line in data.split(b"\n"):
            if line.strip():
                self.sink.message(line, str(addr[0]), "udp")


async def _read_frames(reader: asyncio.StreamReader, sink: _Sink, peer: str) -> None:
    """RFC 6587 framing: octet counting when a frame starts with a digit, else LF-delimited."""
    while True:
        first = await reader.read(1)
        if not first:
            return
        if first.isdigit():
            digits = first + await reader.readuntil(b" ")
            length = int(digits[:-1])
            if length > MAX_FRAME:
                raise ValueError(f"frame of {length} bytes")
            sink.message(await reader.readexactly(length), peer, "tcp")
        else:
            line = first + await reader.readuntil(b"\n")
            if line.strip():
                sink.message(line, peer, "tcp")


class SyslogReceiver:
    """Daemon service: listens on ``logs.syslog`` (UDP and/or TCP) while running."""

    def __init__(self, *, config: LogsConfig, store: Store, flush_seconds: float = 1.0) -> None:
        self.config = config
        self.store = store
        self.flush_seconds = flush_seconds
        self.sink = _Sink(config.timezone)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config.syslog
        if cfg.udp:
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self.sink), local_addr=(cfg.host, cfg.port))
        if cfg.tcp:
            self._tcp = await asyncio.start_server(self._client, cfg.host, cfg.port,
                                                   limit=MAX_FRAME)
        self._flusher = asyncio.create_task(self._flush_loop(), name="syslog flush")
        log.info("syslog receiver on %s:%d (udp=%s tcp=%s)", cfg.host, cfg.port, cfg.udp, cfg.tcp)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        peer = str(writer.get_extra_info("peername", ("?",))[0])
        try:
            await _read_frames(reader, self.sink, peer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                ConnectionError) as exc:
            SYSLOG_MESSAGES.labels("tcp", "error").inc()
            log.info("syslog client %s: %s", peer, exc)
        finally:
            writer.close()
            if task is not None:
                self._clients.discard(task)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            await self.flush()

    async def flush(self) -> int:
        """Write what was received so far (also called on stop)."""
        if not self.sink.pending:
            return 0
        chunks = self.sink.assembler.drain()
        self.sink.pending = 0
        self.sink.reader.publish()
        started = time.monotonic()
        try:
            written = await asyncio.to_thread(self.store.add_traces, chunks)
        except Exception:  # keep receiving; the batch is logged as lost
            log.exception("syslog receiver: writing %d traces failed", len(chunks))
            return 0
        LOG_TRACES.labels("syslog").inc(written)
        log.debug("syslog receiver: wrote %d traces in %.3fs", written,
                  time.monotonic() - started)
        return written

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            try:
                await self._flusher
            except asyncio.CancelledError:
                pass
            self._flusher = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            await self._tcp.wait_closed()
            self._tcp = None
        await self.flush()

