"""The embedded store: migrations, idempotent cases, stage results."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ndrtrack.errors import StoreError
from ndrtrack.model import SpoolEntry
from ndrtrack.store.base import CaseHeaders, open_store
from ndrtrack.store.sqlite import SqliteStore, migrations


def entry(spool_id: str = "20261128T000000000000-000001-abcdef") -> SpoolEntry:
    return SpoolEntry(id=spool_id, received_at=datetime(2026, 11, 28, tzinfo=UTC),
                      mail_from="alice@example.org", rcpt_tos=("ndr@example.com",),
                      peer="127.0.0.1", path="/x/message.eml", helo="mx.example.org")


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(str(tmp_path / "db" / "ndrtrack.sqlite3"))
    s.setup()
    yield s
    s.close()


def test_schema_is_at_latest_version_and_in_wal_mode(store: SqliteStore) -> None:
    assert store.schema_version() == len(migrations())
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    for _ in range(2):
        s = SqliteStore(path)
        s.setup()
        version = s.schema_version()
        s.close()
    assert version == len(migrations())


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(StoreError, match="newer than this ndrtrack knows"):
        SqliteStore(str(path)).setup()


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot create directory"):
        SqliteStore(str(blocker / "sub" / "db")).setup()


def test_add_case_is_idempotent_by_spool_id(store: SqliteStore) -> None:
    first = store.add_case(entry(), CaseHeaders(subject="Undelivered Mail"))
    again = store.add_case(entry(), CaseHeaders(subject="changed"))
    assert first == again
    assert store.count_cases() == 1
    case = store.get_case(first)
    assert case is not None
    assert case.headers.subject == "Undelivered Mail"
    assert case.rcpt_tos == ("ndr@example.com",)


def test_stage_results_replace_and_move_state(store: SqliteStore) -> None:
    case_id = store.add_case(entry(), CaseHeaders())
    assert not store.stage_done(case_id, "parse")
    store.record_stage(case_id, "parse", "error", {"error": "boom"})
    assert not store.stage_done(case_id, "parse")
    store.record_stage(case_id, "parse", "ok", {"kind": "bounce"}, state="parsed")
    case = store.get_case(case_id)
    assert case is not None and case.state == "parsed"
    assert case.stages["parse"]["result"] == {"kind": "bounce"}
    assert store.stage_done(case_id, "parse")


def test_list_is_newest_first(store: SqliteStore) -> None:
    for n in range(3):
        store.add_case(entry(f"id-{n}"), CaseHeaders(subject=str(n)))
    assert [c.headers.subject for c in store.list_cases(limit=2)] == ["2", "1"]


def test_open_store_picks_implementation_by_type(tmp_path: Path) -> None:
    assert isinstance(open_store("sqlite", str(tmp_path / "x.db")), SqliteStore)
    with pytest.raises(ValueError, match="unknown store type"):
        open_store("oracle", "x")
