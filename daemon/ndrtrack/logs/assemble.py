"""Join log events into per-message traces, keyed by (host, queue id).

The assembler keeps the messages still in flight in memory and hands out ``TraceChunk``s —
what it learnt about a message since the last ``drain()`` — for the store to merge into one
row per message.  A chunk that contains the message's first line (``new``) creates a row; a
later chunk is merged into the row it continues, which is how a deferral that ends days
later, or lines that arrive in a later batch or after a restart, still land in one trace.

Rules that hold for every MTA:

- a *start* event (Postfix ``client=``/``pickup``, Exim ``<=``, a filter's first command)
  for a queue id whose message already ended starts a new generation: queue ids are reused;
- a *terminal* event (Postfix ``removed``, Exim ``Completed``, a filter's session end)
  closes the message; pre-queue rejects (no queue id) are closed traces of their own;
- events that name another queue id (``queued as``, the NDR it caused, the MTA's id behind a
  filter) add it to the trace's links, so a search by either id finds the trace;
- session-scoped lines (smtpf's ``SID`` lines without a message id) belong to the message the
  session is currently carrying.

Memory stays flat: closed traces leave at ``drain``; open ones idle for ``idle_seconds`` of
log time are dropped after they were written (a later line reopens them from the store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ndrtrack.logs.formats._base import Event
from ndrtrack.model import LogEvent

#: event kinds that begin a message (and so a new generation of a reused queue id)
START_KINDS = frozenset({"client", "pickup", "arrival", "session-message"})
#: event kinds after which no further line belongs to the message
END_KINDS = frozenset({"removed", "completed", "session-end"})
#: event kinds that settle the whole message regardless of recipients
EXPLICIT_OUTCOMES = {"expired": "expired", "discard": "discarded", "milter-discard": "discarded",
                     "hold": "held", "milter-hold": "held"}
#: event kinds whose sender (even an empty one) is the message's
_SENDER_KINDS = frozenset({"queued", "pickup", "arrival", "reject", "expired", "milter-reject"})
#: recipient statuses, strongest first, for a message's summary outcome
#: (a recipient refused at RCPT time decides only when no recipient was accepted)
OUTCOME_ORDER = ("bounced", "expired", "deferred", "sent", "rejected", "accepted")


@dataclass(slots=True)
class RecipientState:
    status: str = ""
    dsn: str = ""
    relay: str = ""
    reply: str = ""
    at: float = 0.0
    orig: str = ""
    attempts: int = 0


@dataclass(slots=True)
class TraceChunk:
    """What is known about one message since the last drain (one row's worth of update)."""

    host: str
    mta: str
    queue_id: str
    first_at: float
    last_at: float
    new: bool = False
    started: float | None = None  # the row's key when known (its first line's time)
    done: bool = False
    message_id: str = ""
    sender: str = ""
    sender_set: bool = False  # "<>" is a real (null) sender, distinct from "unknown"
    seen_start: bool = False  # a second start line for the same id means the id was reused
    client_ip: str = ""
    client_host: str = ""
    helo: str = ""
    outcome: str = ""
    links: list[str] = field(default_factory=list)
    recipients: dict[str, RecipientState] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    nevents: int = 0


@dataclass(slots=True)
class _Session:
    client_ip: str = ""
    client_host: str = ""
    helo: str = ""
    current: str = ""
    qids: list[str] = field(default_factory=list)
    last_at: float = 0.0


class Assembler:
    def __init__(self, *, idle_seconds: float = 3600.0, max_open: int = 200_000) -> None:
        self.idle_seconds = idle_seconds
        self.max_open = max_open
        self._open: dict[tuple[str, str], TraceChunk] = {}
        self._dirty: dict[tuple[str, str], TraceChunk] = {}
        self._finished: list[TraceChunk] = []
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._now = 0.0
        self._last_dt: datetime | None = None
        self._last_epoch = 0.0
        self._last_stamp = ""

    def __len__(self) -> int:
        return len(self._open)

    def feed(self, ev: Event | LogEvent) -> None:
        """Fold one event (a ``LogEvent`` or the formats' ``Event`` twin) into its message."""
        if type(ev) is not Event:
            ev = _as_event(ev)
        at = ev.at
        if at is self._last_dt:
            epoch = self._last_epoch
        else:
            epoch = self._last_epoch = at.timestamp()
            self._last_stamp = repr(epoch)
            self._last_dt = at
            if epoch > self._now:
                self._now = epoch
        qid = ev.queue_id
        if ev.session_id:
            qid = self._session(ev, qid, epoch)
            if not qid:
                return
        if not qid:
            if ev.kind == "reject" and (ev.sender or ev.recipient):
                self._prequeue(ev, epoch)
            return
        key = (ev.host, qid)
        chunk = self._open.get(key)
        kind = ev.kind
        if chunk is None or (kind in START_KINDS and (chunk.done or chunk.seen_start)):
            if chunk is not None:
                self._retire(key, chunk)
            chunk = TraceChunk(ev.host, ev.mta, qid, epoch, epoch, new=kind in START_KINDS)
            if chunk.new:
                chunk.started = epoch
                chunk.seen_start = True
            self._open[key] = chunk
        self._dirty[key] = chunk
        _apply(chunk, ev, epoch, self._last_stamp)

    def _session(self, ev: Any, qid: str, epoch: float) -> str:
        skey = (ev.host, ev.session_id)
        session = self._sessions.get(skey)
        if session is None:
            session = self._sessions[skey] = _Session()
        session.last_at = epoch
        if ev.client_ip and not session.client_ip:
            session.client_ip, session.client_host = ev.client_ip, ev.client_host
        if ev.helo:
            session.helo = ev.helo
        if qid and qid != session.current:
            session.current = qid
            session.qids.append(qid)
            chunk = self._open.get((ev.host, qid))
            if chunk is None or chunk.done:
                self.feed(Event(at=ev.at, host=ev.host, mta=ev.mta, program=ev.program,
                                queue_id=qid, kind="session-message",
                                client_ip=session.client_ip, client_host=session.client_host,
                                helo=session.helo, related_id=ev.session_id,
                                text=f"{ev.session_id} message {qid}"))
        if ev.kind == "session-end":
            del self._sessions[skey]
            for q in session.qids:
                chunk = self._open.get((ev.host, q))
                if chunk is not None:
                    self._dirty[(ev.host, q)] = chunk
                    _apply(chunk, ev, epoch)
            return ""
        return qid or session.current

    def _prequeue(self, ev: Any, epoch: float) -> None:
        chunk = TraceChunk(ev.host, ev.mta, "", epoch, epoch, new=True, started=epoch)
        _apply(chunk, ev, epoch)
        chunk.done = True
        chunk.outcome = "rejected"
        self._finished.append(chunk)

    def _retire(self, key: tuple[str, str], chunk: TraceChunk) -> None:
        """An older generation of a reused queue id: write what is pending and forget it."""
        if self._dirty.pop(key, None) is not None:
            self._finished.append(_summarised(chunk))

    def drain(self, *, final: bool = False) -> list[TraceChunk]:
        """Everything learnt since the last drain; forgets closed and long-idle messages."""
        out = self._finished
        self._finished = []
        for key, chunk in self._dirty.items():
            out.append(_summarised(chunk))
            if chunk.done:
                del self._open[key]
            else:
                self._open[key] = _continuation(chunk)
        self._dirty = {}
        horizon = self._now - self.idle_seconds
        if final or len(self._open) > self.max_open:
            horizon = float("inf") if final else horizon
        stale = [k for k, c in self._open.items() if c.last_at < horizon]
        for key in stale:
            del self._open[key]
        if len(self._open) > self.max_open:  # still too many: drop the oldest half
            for key, _ in sorted(self._open.items(), key=lambda kv: kv[1].last_at)[
                    :len(self._open) // 2]:
                del self._open[key]
        for skey in [k for k, s in self._sessions.items() if s.last_at < horizon]:
            del self._sessions[skey]
        return out


def _as_event(ev: Any) -> Event:
    """A ``LogEvent`` (or any record with the same fields) as the hot path's ``Event``."""
    return Event(*[getattr(ev, name) for name in Event._fields])


def _continuation(chunk: TraceChunk) -> TraceChunk:
    """An empty chunk that continues ``chunk`` (already written) in later batches."""
    return TraceChunk(chunk.host, chunk.mta, chunk.queue_id, chunk.last_at, chunk.last_at,
                      new=False, started=chunk.started, sender_set=chunk.sender_set,
                      seen_start=chunk.seen_start)


def _summarised(chunk: TraceChunk) -> TraceChunk:
    if not chunk.outcome and chunk.recipients:
        statuses = {r.status for r in chunk.recipients.values()}
        for status in OUTCOME_ORDER:
            if status in statuses:
                chunk.outcome = status
                break
    return chunk


def _apply(chunk: TraceChunk, ev: Event, epoch: float, stamp: str = "") -> None:
    """Fold one event into a chunk (the per-kind rules live in the small tables above).

    The event is unpacked once: reading its fields as attributes cost ~1 µs a line."""
    (_at, _host, _mta, program, _qid, kind, message_id, sender, recipient, client_ip,
     client_host, _relay, status, _dsn, _reply, text, _source, _orig, helo, related_id,
     session_id) = ev
    # the stored line: "epoch<TAB>program<TAB>text", enough to parse it again for a timeline
    # (``stamp`` is repr(epoch) when the caller has it: the assembler keeps it per second)
    if "\n" in text or "\t" in text:
        text = text.replace("\n", " ").replace("\t", " ")
    chunk.events.append(f"{stamp or repr(epoch)}\t{program}\t{text}")
    chunk.nevents += 1
    if epoch > chunk.last_at:
        chunk.last_at = epoch
    if epoch < chunk.first_at:
        chunk.first_at = epoch
    if message_id and not chunk.message_id:
        chunk.message_id = message_id
    if kind in _SENDER_KINDS or (sender and not chunk.sender_set):
        if sender or kind in ("queued", "arrival"):
            chunk.sender = sender
            chunk.sender_set = True
    if client_ip and not chunk.client_ip:
        chunk.client_ip, chunk.client_host = client_ip, client_host
    if helo and not chunk.helo:
        chunk.helo = helo
    if related_id and related_id not in chunk.links:
        chunk.links.append(related_id)
    if session_id and session_id not in chunk.links:
        chunk.links.append(session_id)
    if recipient and status:
        if ";" in recipient:
            _recipients(chunk, ev, epoch)
        else:
            _attempt(chunk, ev, epoch, recipient, ev.reply)
    elif kind == "handoff" and status:  # a filter passed the message on (or failed to)
        for state in chunk.recipients.values():
            if state.status == "accepted":
                state.status, state.dsn, state.reply, state.at = (
                    status, ev.dsn, ev.reply, epoch)
    elif kind == "reject" and not chunk.queue_id:
        chunk.outcome = "rejected"
    if kind in END_KINDS:
        chunk.done = True
    if status == "rejected" and not recipient:
        chunk.outcome = "rejected"  # the whole message (MAIL FROM, end of DATA, milter)
        chunk.done = True  # no "removed"/"Completed" follows a refused message
    if kind in EXPLICIT_OUTCOMES:
        chunk.outcome = EXPLICIT_OUTCOMES[kind]
    elif status in EXPLICIT_OUTCOMES:
        chunk.outcome = EXPLICIT_OUTCOMES[status]


def _recipients(chunk: TraceChunk, ev: Any, epoch: float) -> None:
    """``a;b`` (Exchange) names several recipients, with parallel replies."""
    replies = ev.reply.split(";")
    for i, addr in enumerate(ev.recipient.split(";")):
        if addr:
            _attempt(chunk, ev, epoch, addr, replies[i] if i < len(replies) else ev.reply)


def _attempt(chunk: TraceChunk, ev: Any, epoch: float, addr: str, reply: str) -> None:
    state = chunk.recipients.get(addr)
    if state is None:
        state = chunk.recipients[addr] = RecipientState()
    if epoch >= state.at:
        state.status, state.dsn, state.relay, state.reply, state.at = (
            ev.status, ev.dsn, ev.relay, reply, epoch)
    if ev.orig_recipient:
        state.orig = ev.orig_recipient
    state.attempts += 1
