"""The embedded store: one SQLite file in WAL mode, schema versioned by numbered migrations.

Migrations are the ``migrations/NNNN_name.sql`` files of this package, applied in order inside
one transaction each; ``PRAGMA user_version`` records the last one applied.  A database newer
than this code (a downgrade) is refused rather than guessed at.

One connection is shared by the daemon's threads behind a lock: SQLite serialises writers
anyway, and the runner and the log importer each write in batches.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from ndrtrack.errors import StoreError
from ndrtrack.model import SpoolEntry
from ndrtrack.store.base import Case, CaseHeaders, Store
from ndrtrack.store.sqlite_logs import SqliteLogIndex

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("ndrtrack.store.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise StoreError(f"migrations are not numbered 1..N without gaps: {versions}")
    return found


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class SqliteStore(SqliteLogIndex, Store):
    def __init__(self, path: str, *, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self.lock = threading.RLock()

    # life cycle -------------------------------------------------------------
    def setup(self) -> None:
        if self.path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self.path))
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot create directory {parent}: {exc}") from exc
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, check_same_thread=False,
                                   isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open database: {exc}") from exc
        self._conn = conn
        self._migrate()

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: store is not open")
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT), rolled back on any error."""
        with self.lock:
            conn = self.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        with self.lock:
            return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        available = migrations()
        current = self.schema_version()
        if current > len(available):
            raise StoreError(f"{self.path}: database schema version {current} is newer than "
                             f"this ndrtrack knows ({len(available)}); refusing to downgrade")
        for version, name, sql in available[current:]:
            try:
                with self.transaction() as conn:
                    for statement in _statements(sql):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {version}")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: migration {name} failed: {exc}") from exc

    # cases ------------------------------------------------------------------
    def add_case(self, entry: SpoolEntry, headers: CaseHeaders) -> int:
        now = _now()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO cases (spool_id, received_at, source, peer, helo, mail_from,"
                " rcpt_tos, from_header, to_header, subject, date_header, message_id,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (spool_id) DO NOTHING",
                (entry.id, entry.received_at.isoformat(), entry.source, entry.peer, entry.helo,
                 entry.mail_from, json.dumps(list(entry.rcpt_tos)), headers.from_header,
                 headers.to_header, headers.subject, headers.date, headers.message_id, now, now),
            )
            row = conn.execute("SELECT id FROM cases WHERE spool_id = ?", (entry.id,)).fetchone()
        return int(row[0])

    def case_id_for(self, spool_id: str) -> int | None:
        with self.lock:
            row = self.conn.execute("SELECT id FROM cases WHERE spool_id = ?",
                                    (spool_id,)).fetchone()
        return None if row is None else int(row[0])

    def record_stage(self, case_id: int, stage: str, outcome: str,
                     result: Mapping[str, Any], *, state: str | None = None) -> None:
        now = _now()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO case_stages (case_id, stage, outcome, result, done_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (case_id, stage) DO UPDATE SET"
                " outcome = excluded.outcome, result = excluded.result, done_at = excluded.done_at",
                (case_id, stage, outcome, json.dumps(result, default=str), now),
            )
            if state is not None:
                conn.execute("UPDATE cases SET state = ?, updated_at = ? WHERE id = ?",
                             (state, now, case_id))
            else:
                conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (now, case_id))

    def stage_done(self, case_id: int, stage: str) -> bool:
        with self.lock:
            row = self.conn.execute(
                "SELECT 1 FROM case_stages WHERE case_id = ? AND stage = ? AND outcome = 'ok'",
                (case_id, stage)).fetchone()
        return row is not None

    def get_case(self, case_id: int) -> Case | None:
        with self.lock:
            row = self.conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
            if row is None:
                return None
            stages = self.conn.execute(
                "SELECT stage, outcome, result, done_at FROM case_stages WHERE case_id = ?"
                " ORDER BY done_at", (case_id,)).fetchall()
        return _case(row, stages)

    def list_cases(self, *, limit: int = 50, offset: int = 0) -> list[Case]:
        with self.lock:
            rows = self.conn.execute("SELECT * FROM cases ORDER BY id DESC LIMIT ? OFFSET ?",
                                     (limit, offset)).fetchall()
        return [_case(row, []) for row in rows]

    def count_cases(self) -> int:
        with self.lock:
            return int(self.conn.execute("SELECT count(*) FROM cases").fetchone()[0])


def _case(row: sqlite3.Row, stages: list[sqlite3.Row]) -> Case:
    return Case(
        id=row["id"], spool_id=row["spool_id"], received_at=row["received_at"],
        source=row["source"], peer=row["peer"], helo=row["helo"], mail_from=row["mail_from"],
        rcpt_tos=tuple(json.loads(row["rcpt_tos"])),
        headers=CaseHeaders(from_header=row["from_header"], to_header=row["to_header"],
                            subject=row["subject"], date=row["date_header"],
                            message_id=row["message_id"]),
        state=row["state"], created_at=row["created_at"], updated_at=row["updated_at"],
        stages={s["stage"]: {"outcome": s["outcome"], "result": json.loads(s["result"]),
                             "done_at": s["done_at"]} for s in stages},
    )


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (they hold no semicolons inside literals)."""
    return [s.strip() for s in sql.split(";") if s.strip() and not _only_comments(s)]


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())
