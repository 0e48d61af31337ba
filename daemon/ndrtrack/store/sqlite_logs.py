"""The mail-log index in SQLite: one row per message, merged batch by batch.

``SqliteStore`` inherits this mixin; it relies on the store's ``transaction()`` and ``lock``.
Writes come as assembled chunks (``ndrtrack.logs.assemble.TraceChunk``): a chunk holding a
message's first line inserts a row keyed by (host, queue id, start time); a later chunk is
merged into the newest open row of its queue id (fields fill in, events append, each
recipient keeps its latest attempt).  Timelines are stored compactly as the lines' message
texts and parsed again (with the same format modules) only for the traces a search returns.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ndrtrack.errors import StoreError
from ndrtrack.model import LogEvent, MessageTrace, RecipientOutcome
from ndrtrack.store.base import LogQuery

_COLUMNS = ("host, mta, queue_id, started, first_at, last_at, done, message_id, sender,"
            " sender_domain, client_ip, client_key, client_host, client_host_rev, helo,"
            " outcome, links, nevents")
_MERGE = (
    f"INSERT INTO log_traces ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (host, queue_id, started) WHERE queue_id != '' DO UPDATE SET"
    " first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at),"
    " done = max(done, excluded.done),"
    " message_id = CASE WHEN message_id = '' THEN excluded.message_id ELSE message_id END,"
    " sender = CASE WHEN sender = '' THEN excluded.sender ELSE sender END,"
    " sender_domain = CASE WHEN sender = '' THEN excluded.sender_domain ELSE sender_domain END,"
    " client_ip = CASE WHEN client_ip = '' THEN excluded.client_ip ELSE client_ip END,"
    " client_key = coalesce(client_key, excluded.client_key),"
    " client_host = CASE WHEN client_host = '' THEN excluded.client_host ELSE client_host END,"
    " client_host_rev = CASE WHEN client_host_rev = '' THEN excluded.client_host_rev"
    "   ELSE client_host_rev END,"
    " helo = CASE WHEN helo = '' THEN excluded.helo ELSE helo END,"
    " outcome = CASE WHEN excluded.outcome != '' THEN excluded.outcome ELSE outcome END,"
    " links = trim(links || ' ' || excluded.links),"
    " nevents = nevents + excluded.nevents"
    " RETURNING id")
#: a message's lines live in their own table (see 0002_logs.sql); later lines append
_EVENTS = (
    "INSERT INTO log_events (trace_id, events) VALUES (?, ?) ON CONFLICT (trace_id) DO UPDATE"
    " SET events = CASE WHEN events = '' THEN excluded.events"
    "   ELSE events || char(10) || excluded.events END")
_RECIPIENT = (
    "INSERT INTO log_recipients (trace_id, recipient, domain, orig_recipient, status, dsn,"
    " relay, reply, at, attempts) VALUES (?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (trace_id, recipient) DO UPDATE SET"
    " status = CASE WHEN excluded.at >= at THEN excluded.status ELSE status END,"
    " dsn = CASE WHEN excluded.at >= at THEN excluded.dsn ELSE dsn END,"
    " relay = CASE WHEN excluded.at >= at THEN excluded.relay ELSE relay END,"
    " reply = CASE WHEN excluded.at >= at THEN excluded.reply ELSE reply END,"
    " at = max(at, excluded.at),"
    " orig_recipient = CASE WHEN excluded.orig_recipient != '' THEN excluded.orig_recipient"
    "   ELSE orig_recipient END,"
    " attempts = attempts + excluded.attempts")
_V4_PREFIX = b"\0" * 10 + b"\xff\xff"
_TRACE_ID = ("(SELECT id FROM log_traces WHERE host = ? AND queue_id = ? AND started = ?"
             " AND queue_id != '')")  # (the last term lets the partial key index serve)
_RECIPIENT_BY_KEY = _RECIPIENT.replace("VALUES (?,", f"VALUES ({_TRACE_ID},", 1)
_EVENTS_BY_KEY = _EVENTS.replace("VALUES (?,", f"VALUES ({_TRACE_ID},", 1)
_LINK_BY_KEY = f"INSERT OR IGNORE INTO log_links (value, trace_id) VALUES (?, {_TRACE_ID})"
_OPEN_ROW = ("SELECT started FROM log_traces WHERE host = ? AND queue_id = ? AND queue_id != ''"
             " AND done = 0 ORDER BY started DESC LIMIT 1")


def ip_key(ip: str) -> bytes | None:
    """16 bytes that sort like the address (IPv4 as IPv4-mapped IPv6); None if not an IP."""
    try:
        if ":" in ip:
            return socket.inet_pton(socket.AF_INET6, ip.split("%", 1)[0])
        return _V4_PREFIX + socket.inet_pton(socket.AF_INET, ip)
    except OSError:  # not an address ("unknown", a host name)
        return None


def network_range(text: str) -> tuple[bytes, bytes]:
    """First and last ``ip_key`` of an address or CIDR network."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ValueError(f"not an IP address or network: {text!r}") from exc
    first = ip_key(str(net.network_address))
    last = ip_key(str(net.broadcast_address))
    assert first is not None and last is not None
    return first, last


def domain_of(address: str) -> str:
    """The part after the last ``@``, lower-cased ("" without one).  (One ``rpartition``:
    ``rfind`` and a slice cost a method call more — a block packs ~25,000 of these.)"""
    _, at, domain = address.rpartition("@")
    return domain.lower() if at else ""


_RCOLUMNS = "recipient, domain, orig_recipient, status, dsn, relay, reply, at, attempts"
#: a block's fresh rows in a scratch file, as ``PackedTraces`` holds them (``n`` is the row's
#: index in the batch); columns without a type keep each value exactly as it was bound
_SCRATCH_TABLES = (f"CREATE TABLE traces (n INTEGER PRIMARY KEY, {_COLUMNS}, events)",
                   f"CREATE TABLE recipients (n, {_RCOLUMNS})",
                   "CREATE TABLE links (value, n)")
_FROM_SCRATCH = (
    f"INSERT INTO log_traces (id, {_COLUMNS}) SELECT n + {{base}}, {_COLUMNS}"
    " FROM log_block.traces ORDER BY n",
    "INSERT INTO log_events (trace_id, events) SELECT n + {base}, events FROM log_block.traces"
    " ORDER BY n",
    _RECIPIENT.replace("VALUES (?,?,?,?,?,?,?,?,?,?)", f"SELECT n + {{base}}, {_RCOLUMNS} FROM"
                       " log_block.recipients WHERE true ORDER BY rowid"),
    "INSERT OR IGNORE INTO log_links (value, trace_id) SELECT value, n + {base}"
    " FROM log_block.links ORDER BY rowid")


@dataclass(slots=True)
class PackedTraces:
    """Trace chunks as rows ready to insert, built where the chunks were assembled.

    Messages whose first line is in the batch (*fresh*) are rows: ``traces`` rows start with
    a 1-based index local to the batch, which the writer offsets by the table's largest id,
    and end with the message's lines (``log_events``: one row less to bind and store in a
    scratch file); ``recipients`` and ``links`` refer to that index.  Chunks that continue
    a row already written (``rest``) stay chunks: the writer finds their row first.

    An import's worker processes ``save`` their rows to a scratch SQLite file, which the
    parent — the one writer, and so the pace of a parallel import — attaches and copies with
    one ``INSERT … SELECT`` a table: binding ~5 values a line from Python (and unpickling
    them first) cost it more than twice that.  Such a batch has ``scratch`` rows numbered
    1..``nscratch`` in the file; rows in the lists follow them.
    """

    traces: list[tuple[Any, ...]] = field(default_factory=list)
    recipients: list[tuple[Any, ...]] = field(default_factory=list)
    links: list[tuple[str, int]] = field(default_factory=list)
    rest: list[Any] = field(default_factory=list)
    scratch: str = ""
    nscratch: int = 0

    def __len__(self) -> int:
        return self.nscratch + len(self.traces) + len(self.rest)

    def save(self, path: str) -> tuple[str, int, list[Any]]:
        """Write the fresh rows to a new scratch file at ``path`` (no journal, no syncs: it
        is read once and deleted); what ``opened`` takes."""
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("BEGIN")
            for ddl in _SCRATCH_TABLES:
                conn.execute(ddl)
            conn.executemany(f"INSERT INTO traces VALUES ({','.join('?' * 20)})", self.traces)
            conn.executemany(f"INSERT INTO recipients VALUES ({','.join('?' * 10)})",
                             self.recipients)
            conn.executemany("INSERT INTO links VALUES (?, ?)", self.links)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return path, len(self.traces), self.rest

    @classmethod
    def opened(cls, path: str, nscratch: int, rest: list[Any]) -> PackedTraces:
        """A batch whose fresh rows are in the scratch file ``save`` wrote."""
        return cls(rest=rest, scratch=path, nscratch=nscratch)


def pack_traces(chunks: Iterable[Any]) -> PackedTraces:
    """Rows of the fresh chunks (first line known), the others kept for merging."""
    packed = PackedTraces()
    fresh: list[Any] = []
    for chunk in chunks:
        (fresh if chunk.new and chunk.started is not None else packed.rest).append(chunk)
    _pack_fresh(packed, fresh)
    return packed


def _pack_fresh(packed: PackedTraces, chunks: list[Any]) -> None:
    traces, recipients, links = packed.traces, packed.recipients, packed.links
    for n, c in enumerate(chunks, packed.nscratch + len(traces) + 1):
        traces.append((n, *_row(c, c.started), "\n".join(c.events)))
        for addr, r in c.recipients.items():
            recipients.append((n, addr, domain_of(addr), r.orig, r.status, r.dsn, r.relay,
                               r.reply, r.at, r.attempts))
        for link in c.links:
            links.append((link, n))


@contextmanager
def _attached(conn: sqlite3.Connection, scratch: str) -> Iterator[None]:
    """The batch's scratch file attached as ``log_block`` (outside any transaction)."""
    if not scratch:
        yield
        return
    conn.execute("ATTACH DATABASE ? AS log_block", (scratch,))
    try:
        yield
    finally:
        conn.execute("DETACH DATABASE log_block")


def _insert_fresh(conn: sqlite3.Connection, packed: PackedTraces) -> bool:
    """Plain bulk inserts of the fresh rows, ids offset here (the write lock is held).
    False — nothing written — if any key already exists (a reused queue id within one
    second): the caller then merges them one by one."""
    if not packed.traces and not packed.nscratch:
        return True
    base = int(conn.execute("SELECT coalesce(max(id), 0) FROM log_traces").fetchone()[0])
    copies = [sql.format(base=base) for sql in _FROM_SCRATCH] if packed.nscratch else []
    conn.execute("SAVEPOINT log_fresh")
    try:
        if copies:
            conn.execute(copies[0])
        conn.executemany(f"INSERT INTO log_traces (id, {_COLUMNS}) VALUES"
                         f" (? + {base},?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         [row[:-1] for row in packed.traces])
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK TO log_fresh")
        conn.execute("RELEASE log_fresh")
        return False
    conn.execute("RELEASE log_fresh")
    for sql in copies[1:]:
        conn.execute(sql)
    conn.executemany(f"INSERT INTO log_events (trace_id, events) VALUES (? + {base}, ?)",
                     [(row[0], row[-1]) for row in packed.traces])
    conn.executemany(_RECIPIENT.replace("VALUES (?,", f"VALUES (? + {base},", 1),
                     packed.recipients)
    conn.executemany(f"INSERT OR IGNORE INTO log_links (value, trace_id) VALUES (?, ? + {base})",
                     packed.links)
    return True


def _load_scratch(conn: sqlite3.Connection, packed: PackedTraces) -> None:
    """The scratch file's rows into the lists, before them (for the merge one by one)."""
    if not packed.nscratch:
        return
    def rows(sql: str) -> list[Any]:
        return [tuple(r) for r in conn.execute(sql)]
    packed.traces[:0] = rows("SELECT * FROM log_block.traces ORDER BY n")
    packed.recipients[:0] = rows("SELECT * FROM log_block.recipients ORDER BY rowid")
    packed.links[:0] = rows("SELECT * FROM log_block.links ORDER BY rowid")
    packed.nscratch = 0


def _merge_fresh(conn: sqlite3.Connection, packed: PackedTraces) -> None:
    """The fresh rows merged one by one, in order (some key already exists)."""
    _load_scratch(conn, packed)
    ids = {row[0]: conn.execute(_MERGE, row[1:-1]).fetchone()[0] for row in packed.traces}
    conn.executemany(_EVENTS, [(ids[row[0]], row[-1]) for row in packed.traces])
    conn.executemany(_RECIPIENT, [(ids[r[0]], *r[1:]) for r in packed.recipients])
    conn.executemany("INSERT OR IGNORE INTO log_links (value, trace_id) VALUES (?, ?)",
                     [(link, ids[n]) for link, n in packed.links])


#: connection settings while a bulk load runs (restored after it):
#: - foreign_keys: rows, recipients and links are written together, parents first: checking
#:   each child's parent again cost ~8% of the writer's time;
#: - secure_delete: Debian's SQLite zeroes every freed cell and page; a bulk load frees
#:   nothing but the cells B-tree balancing moves (their content stays in the file anyway):
#:   ~4% of the writer's instructions and of the index build;
#: - wal_autocheckpoint: a checkpoint every 40 MiB of log instead of every 4: each one waits
#:   for two fsyncs (1M-line bench log: the writer's wall time 1.71 -> 1.50 s, same CPU).
_BULK_PRAGMAS = {"foreign_keys": 0, "secure_delete": 0, "wal_autocheckpoint": 10_000}


def _set_pragmas(conn: sqlite3.Connection, values: dict[str, int]) -> dict[str, int]:
    """Set each pragma; returns the values they had."""
    old = {name: int(conn.execute(f"PRAGMA {name}").fetchone()[0]) for name in values}
    for name, value in values.items():
        conn.execute(f"PRAGMA {name} = {int(value)}")
    return old


class SqliteLogIndex:
    """Mixin for ``SqliteStore``: ``add_events``, ``add_traces``, ``search``, ``purge``."""

    lock: Any

    @property
    def conn(self) -> sqlite3.Connection:  # provided by SqliteStore
        raise NotImplementedError

    def transaction(self) -> Any:  # provided by SqliteStore
        raise NotImplementedError

    # writing ------------------------------------------------------------------
    def add_events(self, events: Iterable[LogEvent]) -> int:
        from ndrtrack.logs.assemble import Assembler  # logs -> store is the usual direction

        assembler = Assembler()
        for ev in events:
            assembler.feed(ev)
        return self.add_traces(assembler.drain())

    def add_traces(self, chunks: Sequence[Any] | PackedTraces, *,
                   checkpoint: tuple[str, int, str] | None = None) -> int:
        """Write trace chunks, or a ``PackedTraces`` a worker process built from them."""
        packed = chunks if isinstance(chunks, PackedTraces) else pack_traces(chunks)
        try:
            with self.lock, _attached(self.conn, packed.scratch), self.transaction() as conn:
                if not getattr(self, "_log_tuned", False):
                    conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: index pages stay hot
                    self._log_tuned = True
                written = len(packed)
                orphans, continued, rest = _split_continuations(conn, packed.rest)
                _pack_fresh(packed, orphans)  # new messages after all (few)
                if not _insert_fresh(conn, packed):
                    _merge_fresh(conn, packed)
                _merge_many(conn, continued)
                for chunk in rest:
                    self._merge(conn, chunk)
                if checkpoint is not None:
                    fingerprint, position, path = checkpoint
                    conn.execute(
                        "INSERT INTO log_checkpoints (fingerprint, position, path, updated_at)"
                        " VALUES (?,?,?,?) ON CONFLICT (fingerprint) DO UPDATE SET"
                        " position = max(position, excluded.position), path = excluded.path,"
                        " updated_at = excluded.updated_at",
                        (fingerprint, position, path, time.time()))
        except sqlite3.Error as exc:
            raise StoreError(f"log index: cannot write: {exc}") from exc
        return written

    def _merge(self, conn: sqlite3.Connection, chunk: Any) -> None:
        started = chunk.started
        if started is None and chunk.queue_id:
            row = conn.execute(_OPEN_ROW, (chunk.host, chunk.queue_id)).fetchone()
            started = row[0] if row is not None else chunk.first_at
        elif started is None:
            started = chunk.first_at
        row = conn.execute(_MERGE, _row(chunk, started)).fetchone()
        trace_id = row[0]
        conn.execute(_EVENTS, (trace_id, "\n".join(chunk.events)))
        if chunk.recipients:
            conn.executemany(_RECIPIENT, [
                (trace_id, addr, domain_of(addr), r.orig, r.status, r.dsn, r.relay, r.reply,
                 r.at, r.attempts) for addr, r in chunk.recipients.items()])
        if chunk.links:
            conn.executemany("INSERT OR IGNORE INTO log_links (value, trace_id) VALUES (?, ?)",
                             [(link, trace_id) for link in chunk.links])

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Into an empty index, insert without the search indexes and build them at the end:
        building an index once is ~3× cheaper than keeping it sorted row by row.  The unique
        key index stays (merges need it).  An interrupted load is repaired by
        ``_ensure_log_indexes`` on the next import or search."""
        with self.lock:
            empty = self.conn.execute("SELECT 1 FROM log_traces LIMIT 1").fetchone() is None
            if empty:
                for name in [n for n, _ in _index_statements()]:
                    self.conn.execute(f"DROP INDEX IF EXISTS {name}")
            saved = _set_pragmas(self.conn, _BULK_PRAGMAS)
        try:
            yield
        finally:
            try:
                if empty:
                    self._ensure_log_indexes(force=True)
            finally:
                with self.lock:
                    _set_pragmas(self.conn, saved)

    def _ensure_log_indexes(self, *, force: bool = False) -> None:
        if getattr(self, "_log_indexes_ok", False) and not force:
            return
        with self.lock:
            for _name, sql in _index_statements():
                self.conn.execute(sql)
            self._log_indexes_ok = True

    def log_checkpoint(self, fingerprint: str) -> int:
        self._ensure_log_indexes()
        with self.lock:
            row = self.conn.execute("SELECT position FROM log_checkpoints WHERE fingerprint = ?",
                                    (fingerprint,)).fetchone()
        return 0 if row is None else int(row[0])

    def purge(self, before: datetime) -> int:
        try:
            with self.transaction() as conn:
                cursor = conn.execute("DELETE FROM log_traces WHERE last_at < ?",
                                      (before.timestamp(),))
                return cursor.rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"log index: cannot purge: {exc}") from exc

    # reading ------------------------------------------------------------------
    def search(self, query: LogQuery) -> list[MessageTrace]:
        self._ensure_log_indexes()
        where, params = _conditions(query)
        sql = ("SELECT * FROM log_traces" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY first_at DESC LIMIT ?")
        with self.lock:
            rows = self.conn.execute(sql, (*params, max(1, query.limit))).fetchall()
            recipients: dict[int, list[sqlite3.Row]] = {}
            events: dict[int, str] = {}
            ids = [row["id"] for row in rows]
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                marks = ",".join("?" * len(part))
                for r in self.conn.execute("SELECT * FROM log_recipients WHERE trace_id IN"
                                           f" ({marks}) ORDER BY at", part):
                    recipients.setdefault(r["trace_id"], []).append(r)
                events.update(self.conn.execute(  # type: ignore[arg-type]
                    f"SELECT trace_id, events FROM log_events WHERE trace_id IN ({marks})", part))
        return [_trace(row, recipients.get(row["id"], []), events.get(row["id"], ""))
                for row in rows]


_INDEX = re.compile(r"CREATE INDEX (log_\w+) ON (.*)", re.S)
_DROP_INDEX = re.compile(r"DROP INDEX (?:IF EXISTS )?(log_\w+)$")


def _index_statements() -> list[tuple[str, str]]:
    """(name, CREATE INDEX IF NOT EXISTS …) of the log index's search indexes, from the
    migrations (the single source of the schema): an index a later migration drops or
    defines again is taken as it was left."""
    from ndrtrack.store.sqlite import migrations

    found: dict[str, str] = {}
    for _version, _name, sql in migrations():
        for statement in sql.split(";"):
            body = "\n".join(line for line in statement.splitlines()
                             if not line.strip().startswith("--")).strip()
            dropped = _DROP_INDEX.match(body)
            if dropped is not None:
                found.pop(dropped.group(1), None)
            m = _INDEX.match(body)
            if m is not None:
                found[m.group(1)] = (f"CREATE INDEX IF NOT EXISTS {m.group(1)} ON "
                                     f"{m.group(2)}")
    return list(found.items())


def _split_continuations(conn: sqlite3.Connection, chunks: list[Any]
                          ) -> tuple[list[Any], list[Any], list[Any]]:
    """Sort continuation chunks with one query per 400 ids instead of one per chunk:

    - *orphans*: no open row for the queue id (e.g. an NDR Postfix made itself, whose first
      line is cleanup's) — new messages after all, bulk-inserted like fresh ones;
    - *continued*: the newest open row's start time is now known, merged in bulk;
    - the rest (no queue id, or an id twice in the batch): merged one by one, in order.
    """
    keyed = [c for c in chunks if c.queue_id and c.started is None]
    keys = [(c.host, c.queue_id) for c in keyed]
    if not keyed or len(set(keys)) != len(keys):
        return [], [], chunks
    started: dict[tuple[str, str], float] = {}
    for i in range(0, len(keys), 400):
        part = keys[i:i + 400]
        values = ",".join(["(?,?)"] * len(part))
        rows = conn.execute(  # one key-index probe per id (an IN list would scan)
            "SELECT v.column1, v.column2, (SELECT max(started) FROM log_traces WHERE"
            " host = v.column1 AND queue_id = v.column2 AND queue_id != '' AND done = 0)"
            f" FROM (VALUES {values}) AS v", [x for key in part for x in key])
        started.update(((r[0], r[1]), r[2]) for r in rows if r[2] is not None)
    orphans: list[Any] = []
    continued: list[Any] = []
    rest = [c for c in chunks if not (c.queue_id and c.started is None)]
    for chunk, key in zip(keyed, keys, strict=True):
        chunk.started = started.get(key, chunk.first_at)
        (continued if key in started else orphans).append(chunk)
    return orphans, continued, rest


def _merge_many(conn: sqlite3.Connection, chunks: list[Any]) -> None:
    """Merge chunks whose row key (host, queue id, start) is known: three bulk statements."""
    if not chunks:
        return
    conn.executemany(_MERGE.replace(" RETURNING id", ""), [_row(c, c.started) for c in chunks])
    conn.executemany(_EVENTS_BY_KEY, [(c.host, c.queue_id, c.started, "\n".join(c.events))
                                      for c in chunks])
    conn.executemany(_RECIPIENT_BY_KEY, [
        (c.host, c.queue_id, c.started, addr, domain_of(addr), r.orig, r.status, r.dsn,
         r.relay, r.reply, r.at, r.attempts)
        for c in chunks for addr, r in c.recipients.items()])
    conn.executemany(_LINK_BY_KEY, [(link, c.host, c.queue_id, c.started)
                                    for c in chunks for link in c.links])


def _row(chunk: Any, started: float) -> tuple[Any, ...]:
    sender = chunk.sender
    host = chunk.client_host
    rev = host.lower()[::-1] if host and host != "unknown" else ""
    return (chunk.host, chunk.mta, chunk.queue_id, started, chunk.first_at, chunk.last_at,
            int(chunk.done), chunk.message_id, sender, domain_of(sender), chunk.client_ip,
            ip_key(chunk.client_ip) if chunk.client_ip else None, host, rev, chunk.helo,
            chunk.outcome, " ".join(chunk.links), chunk.nevents)


def _conditions(q: LogQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if q.sender:
        if q.sender.startswith("@"):
            where.append("sender_domain = ? COLLATE BINARY")  # (stored lower-cased: 0003)
            params.append(q.sender[1:].lower())
        else:
            where.append("lower(sender) = lower(?)")  # "<>": the null sender (see 0004)
            params.append(q.sender.strip("<>"))
    if q.recipient:
        alone = not (q.sender or q.message_id or q.queue_id or q.client_ip or q.client_host
                     or q.host or q.since or q.until or q.status)
        if q.recipient.startswith("@") and alone:
            # a whole (maybe our own) domain: walk the (domain, trace_id) index from the
            # newest rows instead of collecting every match; ids grow with time, and a margin
            # covers imports that wrote older messages later
            where.append("id IN (SELECT trace_id FROM log_recipients WHERE domain = ?"
                         " COLLATE BINARY ORDER BY trace_id DESC LIMIT ?)")
            params += [q.recipient[1:].lower(), max(1, q.limit) * 4]
        elif q.recipient.startswith("@"):
            where.append("id IN (SELECT trace_id FROM log_recipients WHERE domain = ?"
                         " COLLATE BINARY)")
            params.append(q.recipient[1:].lower())
        else:  # the address as sent, or as rewritten by an alias (orig_to)
            where.append("id IN (SELECT trace_id FROM log_recipients"
                         " WHERE lower(recipient) = lower(?)"
                         " UNION SELECT trace_id FROM log_recipients WHERE orig_recipient = ?"
                         " COLLATE NOCASE AND orig_recipient != '')")
            params += [q.recipient.strip("<>")] * 2
    if q.message_id:
        where.append("lower(message_id) = lower(?) AND message_id != ''")
        params.append(q.message_id.strip().strip("<>"))
    if q.queue_id:
        where.append("id IN (SELECT id FROM log_traces WHERE queue_id = ? AND queue_id != ''"
                     " UNION SELECT trace_id FROM log_links WHERE value = ?)")
        params += [q.queue_id, q.queue_id]
    if q.client_ip:
        first, last = network_range(q.client_ip)
        if first == last:  # one address: equality lets the index give newest first
            where.append("client_key = ?")
            params.append(first)
        else:
            where.append("client_key BETWEEN ? AND ?")
            params += [first, last]
    if q.client_host:
        rev = q.client_host.lower().strip(".")[::-1]
        where.append("(client_host_rev = ? OR (client_host_rev >= ? AND client_host_rev < ?))")
        params += [rev, rev + ".", rev + "/"]
    if q.host:
        where.append("host = ?")
        params.append(q.host)
    if q.since is not None:
        where.append("last_at >= ?")
        params.append(q.since.timestamp())
    if q.until is not None:
        where.append("first_at <= ?")
        params.append(q.until.timestamp())
    if q.status:
        where.append("(outcome = ? OR EXISTS (SELECT 1 FROM log_recipients"
                     " WHERE trace_id = log_traces.id AND status = ?))")
        params += [q.status, q.status]
    return where, params


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _trace(row: sqlite3.Row, recipients: list[sqlite3.Row], lines: str) -> MessageTrace:
    from ndrtrack.logs.formats import reparse  # the format modules read their own lines

    ids = [row["queue_id"]] if row["queue_id"] else []
    ids += [link for link in row["links"].split() if link not in ids]
    events = []
    for line in lines.split("\n") if lines else ():
        epoch, program, text = line.split("\t", 2)
        events.append(reparse(row["mta"], row["host"], _when(float(epoch)), program, text))
    return MessageTrace(
        host=row["host"], queue_ids=tuple(ids), message_id=row["message_id"],
        sender=row["sender"], client=row["client_host"], client_ip=row["client_ip"],
        outcome=row["outcome"], first_at=_when(row["first_at"]), last_at=_when(row["last_at"]),
        events=tuple(sorted(events, key=lambda e: e.at)),
        recipients=tuple(RecipientOutcome(
            recipient=r["recipient"], status=r["status"], dsn=r["dsn"], relay=r["relay"],
            reply=r["reply"], at=_when(r["at"]) if r["at"] else None,
            orig_recipient=r["orig_recipient"]) for r in recipients),
    )
