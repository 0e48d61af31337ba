"""The index: merging across batches, queue-id reuse, the filter link, every search field,
retention, and imports that add nothing the second time (plain and compressed)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import SAMPLES
from ndrtrack.logs.assemble import Assembler
from ndrtrack.logs.importer import Importer
from ndrtrack.logs.ingest import LineReader
from ndrtrack.logs.syslog import Clock
from ndrtrack.store.base import LogQuery, Store, open_store

REF = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store("sqlite", str(tmp_path / "index.sqlite3"))
    s.setup()
    yield s
    s.close()


def _events(lines: list[str]) -> list[object]:
    reader = LineReader(clock=Clock("UTC", REF))
    events = [reader(line) for line in lines]
    assert None not in events, lines
    return events


def pf(t: str, prog: str, text: str, host: str = "mx1") -> str:
    return f"Nov 28 {t} {host} postfix/{prog}[1]: {text}"


MESSAGE = [
    pf("01:00:00", "smtpd", "1A2B3C4D5E: client=mail.example.org[192.0.2.10]"),
    pf("01:00:01", "cleanup", "1A2B3C4D5E: message-id=<m1@example.org>"),
    pf("01:00:01", "qmgr",
       "1A2B3C4D5E: from=<alice@example.org>, size=100, nrcpt=2 (queue active)"),
    pf("01:00:02", "smtp", "1A2B3C4D5E: to=<bob@example.net>,"
       " relay=mx.example.net[198.51.100.7]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.2.0,"
       " status=deferred (host mx.example.net[198.51.100.7] said: 450 4.2.0 Greylisted"
       " (in reply to RCPT TO command))"),
    pf("01:00:02", "local", "1A2B3C4D5E: to=<carol@corp.test>, orig_to=<c@corp.test>,"
       " relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)"),
]
LATER = [
    pf("03:10:00", "smtp", "1A2B3C4D5E: to=<bob@example.net>,"
       " relay=mx.example.net[198.51.100.7]:25, delay=7800, delays=7799/0/0.5/0.5, dsn=2.0.0,"
       " status=sent (250 2.0.0 Ok: queued as 4F5E6D7C8B)"),
    pf("03:10:00", "qmgr", "1A2B3C4D5E: removed"),
]


def test_a_deferral_that_ends_in_a_later_batch_is_one_trace(store: Store) -> None:
    store.add_events(_events(MESSAGE))  # type: ignore[arg-type]
    (trace,) = store.search(LogQuery(sender="alice@example.org"))
    assert trace.outcome == "deferred"
    store.add_events(_events(LATER))  # type: ignore[arg-type]  # a fresh assembler: merged by id
    (trace,) = store.search(LogQuery(sender="alice@example.org"))
    assert trace.queue_ids == ("1A2B3C4D5E", "4F5E6D7C8B")
    assert trace.message_id == "m1@example.org" and trace.client_ip == "192.0.2.10"
    assert trace.client == "mail.example.org"
    rcpts = {r.recipient: r for r in trace.recipients}
    assert rcpts["bob@example.net"].status == "sent" and rcpts["bob@example.net"].dsn == "2.0.0"
    assert rcpts["carol@corp.test"].orig_recipient == "c@corp.test"
    assert trace.outcome == "sent"
    assert [e.kind for e in trace.events][-2:] == ["delivery", "removed"]
    assert trace.last_at == datetime(2026, 11, 28, 3, 10, tzinfo=UTC)


def test_a_reused_queue_id_starts_a_new_trace(store: Store) -> None:
    again = [pf("05:00:00", "pickup", "1A2B3C4D5E: uid=0 from=<root>"),
             pf("05:00:00", "qmgr", "1A2B3C4D5E: from=<root@mx1>, size=10, nrcpt=1 (queue active)"),
             pf("05:00:01", "qmgr", "1A2B3C4D5E: removed")]
    store.add_events(_events(MESSAGE + LATER + again))  # type: ignore[arg-type]
    traces = store.search(LogQuery(queue_id="1A2B3C4D5E"))
    assert [t.sender for t in traces] == ["root@mx1", "alice@example.org"]  # newest first
    assert len(traces[0].events) == 3


def test_each_search_field(store: Store) -> None:
    reject = pf("02:00:00", "smtpd", "NOQUEUE: reject: RCPT from spam.example.com[203.0.113.5]: "
                "554 5.7.1 <x@corp.test>: Relay access denied; from=<s@spam.example.com> "
                "to=<x@corp.test> proto=ESMTP helo=<spam.example.com>")
    other = [line.replace("mx1", "mx2") for line in MESSAGE + LATER]
    store.add_events(_events(MESSAGE + LATER + [reject] + other))  # type: ignore[arg-type]

    def ids(**query: object) -> list[tuple[str, str]]:
        return [(t.host, t.queue_ids[0] if t.queue_ids else "") for t in
                store.search(LogQuery(**query))]  # type: ignore[arg-type]

    both = [("mx2", "1A2B3C4D5E"), ("mx1", "1A2B3C4D5E")]
    assert sorted(ids(message_id="<m1@example.org>")) == sorted(both)
    assert ids(sender="@spam.example.com") == [("mx1", "")]
    assert ids(sender="S@SPAM.example.com") == [("mx1", "")]  # case-insensitive
    assert sorted(ids(recipient="@example.net")) == sorted(both)
    assert sorted(ids(recipient="c@corp.test")) == sorted(both)  # as sent (orig_to)
    assert sorted(ids(recipient="carol@corp.test")) == sorted(both)  # as delivered
    assert sorted(ids(queue_id="4F5E6D7C8B")) == sorted(both)  # the next hop's id is a link
    assert ids(client_ip="203.0.113.0/24") == [("mx1", "")]
    assert sorted(ids(client_ip="192.0.2.10")) == sorted(both)
    assert ids(client_ip="2001:db8::/32") == []
    assert ids(client_host="example.com") == [("mx1", "")]
    assert ids(client_host="spam.example.com") == [("mx1", "")]
    assert ids(client_host="ample.com") == []  # a suffix of labels, not of characters
    assert ids(status="rejected") == [("mx1", "")]
    assert ids(host="mx2") == [("mx2", "1A2B3C4D5E")]
    late = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    assert ids(since=late, host="mx1") == [("mx1", "1A2B3C4D5E")]  # still being delivered then
    assert ids(until=datetime(2026, 11, 28, 0, 59, tzinfo=UTC)) == []
    assert len(ids(limit=1)) == 1
    with pytest.raises(ValueError):
        store.search(LogQuery(client_ip="not-an-ip"))


def test_addresses_and_message_ids_match_ignoring_ascii_case_through_their_indexes(
        store: Store) -> None:
    """0004 indexes lower(column): a search folds ASCII case as NOCASE did — not other
    letters — finds the null sender as "<>", and is answered from the index."""
    bounce = [pf("04:00:00", "pickup", "9F8E7D6C5B: uid=0 from=<>"),
              pf("04:00:00", "cleanup", "9F8E7D6C5B: message-id=<Ünï@Example.ORG>"),
              pf("04:00:01", "qmgr", "9F8E7D6C5B: from=<>, size=9, nrcpt=1 (queue active)"),
              pf("04:00:02", "local", "9F8E7D6C5B: to=<Ärger@Corp.test>, relay=local,"
                 " delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)")]
    store.add_events(_events(MESSAGE + bounce))  # type: ignore[arg-type]

    def senders(**query: str) -> list[str]:
        return [t.sender for t in store.search(LogQuery(**query))]  # type: ignore[arg-type]

    assert senders(sender="ALICE@Example.org") == ["alice@example.org"]
    assert senders(sender="<>") == [""]
    assert senders(message_id="<M1@EXAMPLE.ORG>") == ["alice@example.org"]
    assert senders(message_id="ünï@example.org") == []  # only ASCII letters fold
    assert senders(message_id="Ünï@example.org") == [""]
    assert senders(recipient="ärger@CORP.TEST") == []
    assert senders(recipient="Ärger@CORP.TEST") == [""]
    assert senders(recipient="CAROL@corp.test") == ["alice@example.org"]
    plans = {name: " ".join(r[3] for r in store.conn.execute(  # type: ignore[attr-defined]
        f"EXPLAIN QUERY PLAN SELECT 1 FROM {table} WHERE {where}", ("x",)))
        for name, table, where in [
            ("log_traces_sender", "log_traces", "lower(sender) = lower(?)"),
            ("log_traces_message_id", "log_traces",
             "lower(message_id) = lower(?) AND message_id != ''"),
            ("log_recipients_recipient", "log_recipients", "lower(recipient) = lower(?)")]}
    for name, plan in plans.items():
        assert plan.startswith("SEARCH") and f"INDEX {name} (<expr>=?)" in plan, plan


def test_smtpf_message_links_to_the_mta_queue_id(store: Store) -> None:
    lines = (SAMPLES / "logs" / "smtpf" / "mail.log").read_text().splitlines()
    store.add_events(e for e in (LineReader(clock=Clock("UTC", REF))(line) for line in lines)
                     if e is not None)  # type: ignore[misc]
    (trace,) = store.search(LogQuery(queue_id="C89BB1A304"))  # the MTA's id from #304
    assert trace.queue_ids[0] == "2AR1bZ2075400017mh"  # the filter's message (tid)
    assert "2AR1bZ207540001700" in trace.queue_ids  # and the session id the replies quote
    assert trace.sender == "app@ndrlab-corp.net" and trace.client_ip == "127.0.0.1"
    assert trace.message_id == "20261128013735.020854@vm"
    assert [(r.recipient, r.status) for r in trace.recipients] == [("bob@ndrlab-corp.net",
                                                                    "sent")]
    by_session = store.search(LogQuery(queue_id="2AR1bt207540003000"))  # two messages
    assert sorted(t.message_id for t in by_session) == ["lab-multi-1@ndrlab-sender.net",
                                                        "lab-multi-2@ndrlab-sender.net"]
    multi2 = next(t for t in by_session if t.message_id.startswith("lab-multi-2"))
    assert {r.recipient: r.status for r in multi2.recipients} == {
        "dave@ndrlab-corp.net": "sent", "nosuchuser2@ndrlab-corp.net": "rejected"}
    blocked = store.search(LogQuery(sender="blocked@ndrlab-sender.net"))
    assert [t.outcome for t in blocked] == ["rejected"]
    assert blocked[0].client_ip == "100.64.10.7"
    grey = store.search(LogQuery(queue_id="2AR1bF207540000200"))
    assert [t.outcome for t in grey] == ["deferred"]


def test_purge_removes_old_traces_and_their_rows(store: Store) -> None:
    store.add_events(_events(MESSAGE + LATER))  # type: ignore[arg-type]
    assert store.purge(datetime(2026, 11, 28, 2, 0, tzinfo=UTC)) == 0  # still active at 03:10
    assert store.purge(datetime(2026, 11, 29, tzinfo=UTC)) == 1
    assert store.search(LogQuery()) == []
    assert store.search(LogQuery(recipient="bob@example.net")) == []
    assert store.search(LogQuery(queue_id="4F5E6D7C8B")) == []


@pytest.mark.parametrize("compress", [None, gzip.open, bz2.open, lzma.open])
def test_reimport_adds_nothing(store: Store, tmp_path: Path, compress: object) -> None:
    src = SAMPLES / "logs" / "lab" / "postfix" / "postfix.log"
    importer = Importer(store=store)
    (first,) = importer.import_path(str(src))
    assert first.lines == 518
    count = len(store.search(LogQuery(limit=10_000)))
    copy = tmp_path / "postfix.log.1.x"
    if compress is None:
        copy.write_bytes(src.read_bytes())
    else:
        with compress(copy, "wb") as out:  # type: ignore[operator]
            out.write(src.read_bytes())
    (again,) = Importer(store=store).import_path(str(copy))  # the rotated, compressed copy
    assert again.lines == 0 and again.skipped_bytes == src.stat().st_size
    assert len(store.search(LogQuery(limit=10_000))) == count


def test_a_grown_file_adds_only_its_new_lines(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("\n".join(MESSAGE) + "\n")
    Importer(store=store).import_path(str(log))
    with log.open("a") as f:
        f.write("\n".join(LATER) + "\n")
    (result,) = Importer(store=store).import_path(str(log))
    assert result.lines == 2
    (trace,) = store.search(LogQuery(sender="alice@example.org"))
    assert trace.outcome == "sent" and len(trace.events) == len(MESSAGE) + len(LATER)


def test_directory_import_reads_rotated_files_oldest_first(store: Store, tmp_path: Path) -> None:
    d = tmp_path / "logs"
    d.mkdir()
    (d / "mail.log.1").write_text("\n".join(MESSAGE) + "\n")
    (d / "mail.log").write_text("\n".join(LATER) + "\n")
    old = datetime(2026, 11, 28, 2, 0).timestamp()
    os.utime(d / "mail.log.1", (old, old))
    results = Importer(store=store).import_path(str(d))
    assert [Path(r.source).name for r in results] == ["mail.log.1", "mail.log"]
    (trace,) = store.search(LogQuery(sender="alice@example.org"))
    assert trace.outcome == "sent"


def test_assembler_memory_stays_bounded() -> None:
    assembler = Assembler(idle_seconds=60)
    reader = LineReader(clock=Clock("UTC", REF))
    start = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    for i in range(300):
        t = (start + timedelta(seconds=i)).strftime("%H:%M:%S")
        ev = reader(pf(t, "smtpd", f"{i:010X}: client=a[192.0.2.1]"))  # never finished
        assert ev is not None
        assembler.feed(ev)
        if i % 50 == 49:
            assembler.drain()
    assert len(assembler) <= 61 + 50


def test_parallel_import_gives_the_same_traces(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes (forked, or spawned where forking is not safe) parse 4 KiB blocks;
    messages cut by a block end are merged again."""
    from ndrtrack.logs import importer, parallel

    src = SAMPLES / "logs" / "lab" / "postfix" / "postfix.log"
    seen = {}
    for name, workers in (("sequential", 1), ("fork", 2), ("spawn", 2)):
        monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 1)
        monkeypatch.setattr(parallel, "BLOCK_BYTES", 4096)
        monkeypatch.setattr(parallel, "_start_method", lambda name=name: name)
        store = open_store("sqlite", str(tmp_path / f"{name}.sqlite3"))
        store.setup()
        (result,) = Importer(store=store, workers=workers).import_path(str(src))
        assert result.lines == 518
        seen[name] = sorted((t.queue_ids, t.outcome, t.sender, t.message_id, len(t.events),
                             tuple((r.recipient, r.status) for r in t.recipients))
                            for t in store.search(LogQuery(limit=10_000)))
        (again,) = Importer(store=store, workers=workers).import_path(str(src))
        assert again.lines == 0
        store.close()
    assert len(seen["fork"]) == 76
    assert seen["fork"] == seen["spawn"] == seen["sequential"]


def test_workers_are_forked_only_while_no_other_thread_runs() -> None:
    import sys
    import threading

    from ndrtrack.logs.parallel import _start_method

    if threading.active_count() == 1:  # (another test may have left a thread running)
        assert _start_method() == ("fork" if sys.platform == "linux" else "spawn")
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert _start_method() == "spawn"
    finally:
        release.set()
        other.join()


def test_blocks_end_at_line_ends_and_the_tail_is_cut_finer(tmp_path: Path) -> None:
    """Blocks cover the file from ``start``, end just past a newline, and the last two
    blocks' worth of bytes comes in quarter-size blocks (the parent waits on the last one)."""
    from ndrtrack.logs.parallel import blocks

    log = tmp_path / "lines.log"
    log.write_bytes(b"".join(b"%05d %s\n" % (i, b"x" * (i % 37)) for i in range(4000)))
    size = log.stat().st_size
    ends = list(blocks(str(log), 100, size, 4096))
    data = log.read_bytes()
    assert ends[-1] == size and ends == sorted(set(ends))
    assert all(data[end - 1:end] == b"\n" for end in ends)
    sizes = [b - a for a, b in zip([100, *ends[:-1]], ends, strict=True)]
    assert min(sizes[:3]) >= 4096 and max(sizes[-4:]) < 4096 // 4 + 80


def test_lines_are_counted_by_mta_program_and_result(store: Store, tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    def value(mta: str, program: str, result: str) -> float:
        return REGISTRY.get_sample_value(
            "ndrtrack_log_lines_total", {"mta": mta, "program": program, "result": result}) or 0

    log = tmp_path / "mixed.log"
    log.write_text("\n".join(MESSAGE) + "\nNov 28 01:00:03 mx1 postfix/smtpd[1]: 1A2B3C4D5F: to=<x"
                   "\nNov 28 01:00:03 mx1 dovecot[2]: imap-login: Login: user=<a>\nnonsense\n")
    before = (value("postfix", "postfix/smtp", "parsed"), value("postfix", "postfix/smtpd",
                                                                "unknown"),
              value("none", "dovecot", "unknown"), value("none", "none", "error"))
    Importer(store=store).import_path(str(log))
    after = (value("postfix", "postfix/smtp", "parsed"), value("postfix", "postfix/smtpd",
                                                               "unknown"),
             value("none", "dovecot", "unknown"), value("none", "none", "error"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]


def test_bulk_load_rebuilds_the_search_indexes(store: Store) -> None:
    def indexes() -> set[str]:
        rows = store.conn.execute(  # type: ignore[attr-defined]
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'log_%'")
        return {r[0] for r in rows}

    def pragmas() -> list[int]:
        return [store.conn.execute(f"PRAGMA {name}").fetchone()[0]  # type: ignore[attr-defined]
                for name in ("foreign_keys", "secure_delete", "wal_autocheckpoint")]

    complete = indexes()
    assert {"log_traces_sender", "log_recipients_domain", "log_traces_key"} <= complete
    before = pragmas()
    with store.bulk_load():
        assert indexes() == {"log_traces_key"} | {n for n in complete if "autoindex" in n}
        assert pragmas() == [0, 0, 10_000]
        store.add_events(_events(MESSAGE))  # type: ignore[arg-type]
    assert indexes() == complete
    assert pragmas() == before
    store.conn.execute("DROP INDEX log_traces_sender")  # type: ignore[attr-defined]
    store._log_indexes_ok = False  # type: ignore[attr-defined]  # a new process: checks once
    assert [t.sender for t in store.search(LogQuery(sender="alice@example.org"))] == [
        "alice@example.org"]
    assert indexes() == complete
    with store.bulk_load():  # not empty: nothing is dropped
        assert indexes() == complete


def test_domain_indexes_are_rebuilt_as_the_last_migration_left_them(store: Store) -> None:
    """0003 redefines the domain indexes (BINARY: domains are stored lower-cased); a bulk
    load rebuilds them that way, and a domain search still ignores case."""
    from ndrtrack.store.sqlite_logs import _index_statements

    names = [name for name, _ in _index_statements()]
    assert len(names) == len(set(names))
    with store.bulk_load():
        store.add_events(_events(MESSAGE))  # type: ignore[arg-type]
    sql = dict(store.conn.execute(  # type: ignore[attr-defined]
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'log_%'"))
    assert "COLLATE BINARY" in sql["log_traces_sender_domain"]
    assert "COLLATE BINARY" in sql["log_recipients_domain"]
    assert [t.sender for t in store.search(LogQuery(sender="@EXAMPLE.org"))] == [
        "alice@example.org"]
    assert len(store.search(LogQuery(recipient="@Example.NET"))) == 1
    assert len(store.search(LogQuery(recipient="@Example.NET", sender="@example.org"))) == 1


def test_a_whole_recipient_domain_returns_its_newest_messages(store: Store) -> None:
    lines = [pf(f"01:{i // 60:02d}:{i % 60:02d}", "smtpd",
                f"NOQUEUE: reject: RCPT from a[192.0.2.1]: 550 5.1.1 <u{i}@corp.test>: "
                f"Recipient address rejected: User unknown; from=<s{i}@example.org> "
                f"to=<u{i}@corp.test> proto=ESMTP helo=<a>") for i in range(30)]
    store.add_events(_events(lines))  # type: ignore[arg-type]
    got = store.search(LogQuery(recipient="@corp.test", limit=5))
    assert [t.sender for t in got] == [f"s{i}@example.org" for i in range(29, 24, -1)]
    narrowed = store.search(LogQuery(recipient="@corp.test", sender="s3@example.org"))
    assert [t.sender for t in narrowed] == ["s3@example.org"]


def test_a_batch_from_a_scratch_file_writes_what_its_chunks_write(tmp_path: Path) -> None:
    """A parallel import's blocks travel as scratch SQLite files; the index gets the same
    rows as from the chunks themselves — also when a message's key is already there (the
    second batch repeats the first message: merged one by one)."""
    from ndrtrack.store.sqlite_logs import PackedTraces, pack_traces

    def chunks(lines: list[str]) -> list[object]:
        assembler = Assembler()
        for ev in _events(lines):
            assembler.feed(ev)  # type: ignore[arg-type]
        return assembler.drain(final=True)  # type: ignore[return-value]

    contents = {}
    for name in ("chunks", "scratch"):
        store = open_store("sqlite", str(tmp_path / f"{name}.sqlite3"))
        store.setup()
        for i, batch in enumerate((MESSAGE, MESSAGE + LATER)):
            if name == "scratch":
                saved = pack_traces(chunks(batch)).save(str(tmp_path / f"{i}.scratch"))
                assert saved[1] == 1  # the message's first line is in the batch: a fresh row
                store.add_traces(PackedTraces.opened(*saved))  # type: ignore[arg-type]
            else:
                store.add_traces(chunks(batch))
        conn = store.conn  # type: ignore[attr-defined]
        contents[name] = [sorted(tuple(r) for r in conn.execute(f"SELECT * FROM {table}"))
                          for table in ("log_traces", "log_events", "log_recipients",
                                        "log_links")]
        store.close()
    assert contents["scratch"] == contents["chunks"]
    traces, events, recipients, links = contents["scratch"]
    assert len(traces) == 1 and len(recipients) == 2 and len(links) == 1
