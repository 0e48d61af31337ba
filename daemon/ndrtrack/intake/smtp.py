"""SMTP and LMTP intake: aiosmtpd protocols served from the daemon's own event loop.

The intake is the *backup internal address*: a forwarding MTA hands us NDRs and re-sent
messages.  What the forwarding server must be able to rely on:

- ``RCPT TO`` is accepted only for the configured intake addresses (case-insensitive, with
  ``+tag`` sub-addresses); anything else gets ``550 5.1.1``, so the daemon is never a relay.
- The null sender ``<>`` is accepted: a bounce may come straight to us.
- ``250 2.0.0 Ok: queued as <spool id>`` is sent only after the spool stored the message, i.e.
  it and its envelope are durable and renamed into ``new/``.  The writing happens in the
  ``SpoolWriter``'s threads, batched, so concurrent sessions share the flushes instead of
  queueing behind the loop.
- Any internal failure answers ``451 4.3.0`` (try again later), never a 5xx — a 5xx would make
  the forwarder bounce the very message we exist to read — and never leaks exception text.
- ``SIZE`` is advertised and enforced (``552 5.3.4``); connections are limited overall and per
  client IP (``421 4.7.0``); an idle session is closed with ``421 4.4.2``.

aiosmtpd's own replies carry no enhanced status codes; ``_REWRITES`` maps the few that a
client acts on to ours.  Listeners are started with ``loop.create_server`` (never aiosmtpd's
``Controller``, which runs a second loop in a thread).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Session, syntax
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from ndrtrack.config import ListenerConfig
from ndrtrack.errors import NdrtrackError, SpoolError
from ndrtrack.intake.spool import Envelope, SpoolWriter
from ndrtrack.metrics import INTAKE_BYTES, INTAKE_MESSAGES, SMTP_SESSIONS

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 100
TEMPFAIL = "451 4.3.0 Temporary failure storing the message, try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"

#: aiosmtpd's fixed replies that a client acts on, with the enhanced status code it lacks.
_REWRITES: dict[bytes, bytes] = {
    b"552 Error: message size exceeds fixed maximum message size":
        b"552 5.3.4 Message size exceeds fixed maximum message size",
    b"552 Error: Too much mail data": b"552 5.3.4 Message size exceeds fixed maximum message size",
    b"503 Error: need MAIL command": b"503 5.5.1 Error: need MAIL command",
    b"503 Error: need RCPT command": b"503 5.5.1 Error: need RCPT command",
    b"503 Error: nested MAIL command": b"503 5.5.1 Error: nested MAIL command",
}


def address_matcher(addresses: Iterable[str]) -> frozenset[str]:
    """The normalised set of intake addresses (lower case)."""
    return frozenset(a.strip().lower() for a in addresses)


def is_intake_address(address: str, accepted: frozenset[str]) -> bool:
    """True for an intake address, case-insensitive, also as ``local+tag@domain``."""
    address = address.strip().lower()
    if address in accepted:
        return True
    local, at, domain = address.rpartition("@")
    if not at or "+" not in local:
        return False
    return f"{local.split('+', 1)[0]}@{domain}" in accepted


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
#: ``<local@domain>`` of plain ASCII dot-atoms, then the end or blanks and the parameters.
#: Anything else (quoted local parts, address literals, comments, UTF-8) is left to
#: aiosmtpd's full RFC 5322 parser.
_SIMPLE_PATH = re.compile(rf"<({_DOT_ATOM}@{_DOT_ATOM})>(?:[ \t]*\Z|[ \t]+(?=[^ \t(]))")


def simple_path(arg: str) -> tuple[str, str] | None:
    """(address, parameters) of a plain ``MAIL FROM``/``RCPT TO`` path; None for the rest.

    aiosmtpd parses every path with the email package's RFC 5322 parser (and defines a class
    on each call): ~55 µs per address, a fifth of a message's CPU in the session loop.  For
    the common forms this returns exactly what that parser does (``<>`` stays ``<>``; blanks
    before the parameters are dropped, except after ``<>``); ``test_intake_smtp`` compares
    the two on generated paths.
    """
    if arg.startswith("<>"):  # the null path; the parser keeps what follows as it is
        return "<>", arg[2:]
    match = _SIMPLE_PATH.match(arg)
    if match is None:
        return None
    return match.group(1), arg[match.end():]


END_OF_DATA = b"\r\n.\r\n"
READ_CHUNK = 64 * 1024


async def read_data(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    """Read a DATA section up to ``CRLF.CRLF``; dot-unstuffed bytes, or None when over ``limit``.

    aiosmtpd reads DATA one line at a time (a Python round per line, ~130 for 10 KB); this
    reads in chunks and looks for the terminator, which keeps the session loop's CPU per
    message low enough for the spool's flushes to be what limits the rate.  The section is
    read as if preceded by CRLF, so an empty message (``.`` on the first line) ends it too.
    Bytes after the terminator go back into the reader.  An oversized message is read to its
    end and dropped (memory stays within ``limit`` plus a chunk), so the session goes on
    (RFC 5321 §4.5.3.1.10).  RFC 5321 §4.5.2: a line's leading period is removed.
    """
    buffer = bytearray(b"\r\n")
    scanned = 0
    too_big = False
    while True:
        end = buffer.find(END_OF_DATA, scanned)
        if end >= 0:
            break
        scanned = max(0, len(buffer) - len(END_OF_DATA) + 1)
        chunk = await reader.read(READ_CHUNK)
        if not chunk:
            raise ConnectionResetError("connection closed during DATA")
        if len(buffer) + len(chunk) > limit + READ_CHUNK:  # keep only what may hold the end
            too_big = True
            buffer = bytearray(buffer[-(len(END_OF_DATA) - 1):] + chunk)
            scanned = 0
        else:
            buffer += chunk
    rest = bytes(buffer[end + len(END_OF_DATA):])
    if rest:
        reader._buffer[0:0] = rest  # type: ignore[attr-defined]  # aiosmtpd does the same
    body = bytes(buffer[:end + 2]).replace(b"\r\n.", b"\r\n")
    if too_big or len(body) - 2 > limit:
        return None
    return body[2:]


@dataclass(frozen=True, slots=True)
class Policy:
    """What a listener enforces; replaced as a whole on a config reload (new sessions see it)."""

    addresses: frozenset[str]
    max_message_size: int
    max_connections: int
    max_connections_per_client: int
    idle_timeout: float

    @classmethod
    def from_config(cls, listener: ListenerConfig, addresses: Iterable[str]) -> Policy:
        return cls(addresses=address_matcher(addresses),
                   max_message_size=listener.max_message_size,
                   max_connections=listener.max_connections,
                   max_connections_per_client=listener.max_connections_per_client,
                   idle_timeout=listener.idle_timeout)


class Sessions:
    """The live sessions of one listener: connection limits and the shutdown drain."""

    def __init__(self) -> None:
        self.active: set[_IntakeMixin] = set()
        self.per_client: collections.Counter[str] = collections.Counter()
        self.closing = False

    def admit(self, protocol: _IntakeMixin, ip: str, policy: Policy) -> str | None:
        """Register a new connection; return the refusal reason when a limit is reached."""
        if self.closing:
            return SHUTTING_DOWN
        if len(self.active) >= policy.max_connections:
            return "421 4.7.0 Too many connections, try again later"
        if self.per_client[ip] >= policy.max_connections_per_client:
            return "421 4.7.0 Too many connections from your address, try again later"
        self.active.add(protocol)
        self.per_client[ip] += 1
        return None

    def release(self, protocol: _IntakeMixin, ip: str) -> None:
        if protocol in self.active:
            self.active.discard(protocol)
            self.per_client[ip] -= 1
            if self.per_client[ip] <= 0:
                del self.per_client[ip]

    def busy(self) -> int:
        """Sessions in the middle of a transaction (MAIL given, or the message being stored)."""
        return sum(1 for p in self.active if p.in_transaction())


class IntakeHandler:
    """The aiosmtpd handler: recipient policy, durable storage, safe error replies."""

    def __init__(self, *, writer: SpoolWriter, listener: IntakeListener, source: str) -> None:
        self.writer = writer
        self.listener = listener
        self.source = source

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: SmtpEnvelope,
                          address: str, mail_options: list[str]) -> str:
        if self.listener.sessions.closing:
            server.close_after_reply = True  # type: ignore[attr-defined]
            return SHUTTING_DOWN
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: SmtpEnvelope,
                          address: str, rcpt_options: list[str]) -> str:
        if not is_intake_address(address, self.listener.policy.addresses):
            log.info("rejected recipient peer=%s rcpt=<%s> reason=not-an-intake-address",
                     _peer_ip(session), address)
            return f"550 5.1.1 <{address}>: Recipient address rejected: not accepted here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        data = envelope.original_content or b""
        record = Envelope(
            mail_from="" if envelope.mail_from == "<>" else (envelope.mail_from or ""),
            rcpt_tos=tuple(envelope.rcpt_tos), peer=_peer_ip(session),
            helo=session.host_name or "", source=self.source, tls=session.ssl is not None)
        started = time.perf_counter()
        server.storing = True  # type: ignore[attr-defined]
        try:
            entry = await self.writer.store(data, record)
        except SpoolError as exc:
            INTAKE_MESSAGES.labels(self.source, "tempfail").inc()
            log.error("spool write failed peer=%s size=%d: %s", record.peer, len(data), exc)
            return self._reply(envelope, TEMPFAIL)
        except Exception:  # anything else is still "try again later", never a 5xx
            INTAKE_MESSAGES.labels(self.source, "error").inc()
            log.exception("storing a message failed peer=%s size=%d", record.peer, len(data))
            return self._reply(envelope, TEMPFAIL)
        finally:
            server.storing = False  # type: ignore[attr-defined]
        self.listener.on_stored()
        INTAKE_MESSAGES.labels(self.source, "accepted").inc()
        INTAKE_BYTES.labels(self.source).inc(len(data))
        log.info("stored source=%s peer=%s from=<%s> rcpts=%d size=%d tls=%s ms=%.1f",
                 self.source, record.peer, record.mail_from,
                 len(record.rcpt_tos), len(data), record.tls,
                 (time.perf_counter() - started) * 1000, extra={"spool_id": entry.id})
        return self._reply(envelope, f"250 2.0.0 Ok: queued as {entry.id}")

    def _reply(self, envelope: SmtpEnvelope, status: str) -> str:
        """SMTP answers once per message; LMTP once per accepted recipient (RFC 2033 §4.2)."""
        if self.source != "lmtp":
            return status
        return "\r\n".join(status for _ in envelope.rcpt_tos)

    async def handle_exception(self, error: Exception) -> str:
        INTAKE_MESSAGES.labels(self.source, "error").inc()
        log.error("intake session error (%s): %s", type(error).__name__, error,
                  exc_info=error)
        return TEMPFAIL


def _peer_ip(session: Session) -> str:
    peer = session.peer
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer or "")


if TYPE_CHECKING:  # the mixin is only ever used with aiosmtpd's SMTP (or LMTP)
    _ProtocolBase = SMTP
else:
    _ProtocolBase = object


class _IntakeMixin(_ProtocolBase):
    """What the SMTP and LMTP protocols share: limits, idle timeout, reply rewriting."""

    # The stream's buffer limit, which is also its flow-control mark: DATA arrives in large
    # reads.  Command lines stay limited by aiosmtpd (512 octets); DATA lines are not limited
    # at all — forwarded mail has lines over RFC 5321's 1000 octets, and refusing them would
    # bounce the very message we exist to read — only the message size is.
    line_length_limit = 256 * 1024

    listener: IntakeListener
    storing: bool
    close_after_reply: bool
    _refused: bool
    _client_ip: str

    def in_transaction(self) -> bool:
        envelope = getattr(self, "envelope", None)
        return self.storing or bool(envelope is not None and envelope.mail_from)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if getattr(self, "transport", None) is None:  # not the STARTTLS re-entry
            peer = transport.get_extra_info("peername")
            self._client_ip = str(peer[0]) if isinstance(peer, tuple) else str(peer or "")
            refusal = self.listener.sessions.admit(self, self._client_ip, self.listener.policy)
            if refusal is not None:
                self._refused = True
                log.warning("connection refused peer=%s: %s", self._client_ip, refusal)
                transport.write(refusal.encode() + b"\r\n")  # type: ignore[attr-defined]
                transport.close()
                return
            SMTP_SESSIONS.labels(self.listener.source).inc()
        super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        self.listener.sessions.release(self, self._client_ip)
        super().connection_lost(error)  # type: ignore[misc]

    def eof_received(self) -> bool | None:
        if self._refused:
            return None
        return super().eof_received()  # type: ignore[misc]

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's path parser, with ``simple_path`` first (the same answer, cheaper)."""
        simple = simple_path(arg)
        if simple is None:
            return super()._getaddr(arg)  # type: ignore[misc, no-any-return]
        address, rest = simple
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    def _timeout_cb(self) -> None:
        log.info("idle timeout peer=%s", self._client_ip)
        transport = getattr(self, "transport", None)
        if transport is not None and not transport.is_closing():
            transport.write(b"421 4.4.2 Idle timeout, closing connection\r\n")
        super()._timeout_cb()  # type: ignore[misc]

    async def push(self, status: str | bytes) -> None:
        raw = status.encode("utf-8" if getattr(self, "enable_SMTPUTF8", False) else "ascii") \
            if isinstance(status, str) else status
        await super().push(_REWRITES.get(raw, raw))  # type: ignore[misc]
        if self.close_after_reply:
            transport = getattr(self, "transport", None)
            if transport is not None:
                transport.close()


    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """DATA with the chunked reader above; the checks before it are aiosmtpd's."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        content = await read_data(self._reader, self.data_size_limit or 2**62)
        if content is None:
            self._set_post_data_state()
            await self.push("552 5.3.4 Message size exceeds fixed maximum message size")
            return
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)

def _init_mixin(protocol: _IntakeMixin, listener: IntakeListener) -> None:
    protocol.listener = listener
    protocol.storing = False
    protocol.close_after_reply = False
    protocol._refused = False
    protocol._client_ip = ""


class IntakeSMTP(_IntakeMixin, SMTP):
    def __init__(self, listener: IntakeListener, **kwargs: Any) -> None:
        _init_mixin(self, listener)
        super().__init__(listener.handler, **kwargs)


class IntakeLMTP(_IntakeMixin, LMTP):
    def __init__(self, listener: IntakeListener, **kwargs: Any) -> None:
        _init_mixin(self, listener)
        super().__init__(listener.handler, **kwargs)


PROTOCOLS: dict[str, type[SMTP]] = {"smtp": IntakeSMTP, "lmtp": IntakeLMTP}


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext | None:
    """A server context for STARTTLS, or None when no certificate is configured."""
    if not cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


class IntakeListener:
    """One SMTP or LMTP listener: ``start`` binds, ``stop`` drains, ``update`` applies a reload."""

    def __init__(self, *, source: str, config: ListenerConfig, addresses: Iterable[str],
                 writer: SpoolWriter,
                 on_stored: Callable[[], None] = lambda: None) -> None:
        self.source = source
        self.on_stored = on_stored
        self.config = config
        self.policy = Policy.from_config(config, addresses)
        self.sessions = Sessions()
        self.handler = IntakeHandler(writer=writer, listener=self, source=source)
        self._tls = tls_context(config.tls_cert_file, config.tls_key_file)
        self.hostname = config.hostname or socket.getfqdn()
        self._server: asyncio.Server | None = None

    @property
    def bound(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self.config.port
        return int(self._server.sockets[0].getsockname()[1])

    def _protocol(self) -> SMTP:
        return PROTOCOLS[self.source](
            self, data_size_limit=self.policy.max_message_size,
            hostname=self.hostname, tls_context=self._tls,
            timeout=self.policy.idle_timeout, ident="ndrtrack ESMTP",
            enable_SMTPUTF8=True, loop=asyncio.get_running_loop())

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._protocol, host=self.config.host,
                                                    port=self.config.port, reuse_address=True)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise NdrtrackError(f"intake.{self.source}: cannot listen on {self.config.host}:"
                                f"{self.config.port}: {reason}") from exc
        log.info("%s intake listening on %s:%d", self.source, self.config.host, self.port)

    def update(self, config: ListenerConfig, addresses: Iterable[str]) -> list[str]:
        """Apply a reloaded config; return the keys that only take effect after a restart."""
        self.policy = Policy.from_config(config, addresses)
        live = {"max_message_size", "max_connections", "max_connections_per_client",
                "idle_timeout"}
        changed = [f.name for f in dataclasses.fields(ListenerConfig) if f.name not in live
                   and getattr(config, f.name) != getattr(self.config, f.name)]
        self.config = config
        return changed

    async def stop(self, grace: float) -> None:
        """Stop accepting, let transactions in flight finish within ``grace``, then close."""
        self.sessions.closing = True
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + grace
        while self.sessions.busy() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.sessions.busy():
            log.warning("%s intake: %d transaction(s) still open after %.0fs grace; closing",
                        self.source, self.sessions.busy(), grace)
        for protocol in list(self.sessions.active):
            transport = getattr(protocol, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.write(SHUTTING_DOWN.encode() + b"\r\n")
                transport.close()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)
            except TimeoutError:
                pass
        log.info("%s intake stopped", self.source)
