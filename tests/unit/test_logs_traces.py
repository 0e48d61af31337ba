"""Traces against the lab's ground truth: real Postfix, Exim and Sendmail logs, and what was
really sent (sender, Message-ID, queue id, each recipient's fate).  Plus the assembler rules
that the lab runs do not exercise on their own: queue-id reuse, batches, the filter link."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES
from ndrtrack.logs.importer import Importer
from ndrtrack.model import MessageTrace
from ndrtrack.store.base import LogQuery, Store, open_store

LAB = SAMPLES / "logs" / "lab"
LOGS = {"postfix": ["postfix/postfix.log"], "exim": ["exim/mainlog", "exim/rejectlog"],
        "sendmail": ["sendmail/maillog"]}

#: syslog lines carry their host; Exim's own files get the importer's --host
HOSTS = {"postfix": "mx", "exim": "lab", "sendmail": "vm"}
#: what each MTA does not log, so no index can show it (checked to stay true)
NOT_LOGGED = {
    ("postfix", "too_big_undeclared"): "Postfix logs only 'queue file size limit exceeded' "
                                       "warnings, without the sender",
    ("sendmail", "local_alias_user"): "Sendmail logs the alias target 'to=nobody' only",
}


def _store(tmp_path: Path, mta: str) -> Store:
    store = open_store("sqlite", str(tmp_path / f"{mta}.sqlite3"))
    store.setup()
    importer = Importer(store=store, fmt="exim" if mta == "exim" else "auto", host="lab")
    for rel in LOGS[mta]:
        importer.import_path(str(LAB / rel))
    return store


def _truth(mta: str) -> list[dict[str, Any]]:
    path = LAB / mta / f"ground-truth-{mta}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _expected_status(text: str) -> set[str]:
    if text.startswith("rejected"):
        return {"rejected"}
    if "then sent" in text or text.startswith(("delivered", "sent")):
        return {"sent"}
    if "expired" in text:
        return {"bounced", "expired", "deferred"}  # last attempt, or the expiry itself
    return {"bounced"}


def _recipient_status(trace: MessageTrace, addr: str) -> str | None:
    for r in trace.recipients:
        if addr in (r.recipient, r.orig_recipient):
            return "expired" if trace.outcome == "expired" and r.status == "deferred" \
                else r.status
    return None


def _cases() -> list[Any]:
    return [pytest.param(mta, case, id=f"{mta}-{case['n']:02d}-{case['scenario']}")
            for mta in LOGS for case in _truth(mta)]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Store]:
    base = tmp_path_factory.mktemp("lab-index")
    return {mta: _store(base, mta) for mta in LOGS}


@pytest.mark.parametrize("mta, case", _cases())
def test_trace_matches_ground_truth(stores: dict[str, Store], mta: str,
                                    case: dict[str, Any]) -> None:
    store = stores[mta]
    sender = case["mail_from"]
    found = store.search(LogQuery(sender=sender or "", limit=50)) if sender else []
    qid = case.get("queue_id") or ""
    if qid:
        by_id = store.search(LogQuery(queue_id=qid))
        found = by_id + [t for t in found if t not in by_id]  # + its refused recipients
        own = [t for t in by_id if t.queue_ids[0] == qid]
        assert len(own) == 1, f"{qid}: {by_id}"
        trace = own[0]
        assert trace.host == HOSTS[mta]
        assert trace.sender == sender
        assert trace.message_id == case["message_id"].strip("<>")
        assert trace.first_at is not None and trace.last_at is not None
        assert abs(trace.first_at.timestamp() - case["epoch"]) < 5
    if (mta, case["scenario"]) in NOT_LOGGED:
        assert not any(t.outcome == "rejected" and t.sender == sender for t in found)
        return
    for rcpt in case["rcpts"]:
        refused = (rcpt.get("rcpt_reply") or "2")[:1] in "45"
        want = {"rejected"} if refused else _expected_status(rcpt["expected"])
        statuses = {_recipient_status(t, rcpt["addr"]) for t in found} - {None}
        whole = {t.outcome for t in found if not t.recipients and t.outcome == "rejected"}
        assert statuses & want or whole & want, (rcpt, [(t.queue_ids, t.outcome,
                                                         t.recipients) for t in found])


def test_lab_message_ids_find_their_traces(stores: dict[str, Store]) -> None:
    for mta in LOGS:
        for case in _truth(mta):
            if case.get("queue_id"):
                traces = stores[mta].search(LogQuery(message_id=case["message_id"]))
                assert case["queue_id"] in {t.queue_ids[0] for t in traces}


def test_bounce_is_linked_to_the_message_that_caused_it(stores: dict[str, Store]) -> None:
    # Postfix: "98BA95141DC: sender non-delivery notification: 9A6135141E9"
    traces = stores["postfix"].search(LogQuery(queue_id="9A6135141E9"))
    assert {t.queue_ids[0] for t in traces} == {"98BA95141DC", "9A6135141E9"}
    parent = next(t for t in traces if t.queue_ids[0] == "98BA95141DC")
    assert parent.outcome == "bounced" and "9A6135141E9" in parent.queue_ids
    ndr = next(t for t in traces if t.queue_ids[0] == "9A6135141E9")
    assert ndr.sender == "" and ndr.recipients[0].recipient == "sender-8@bounces.test"


def test_timeline_events_are_parsed_again(stores: dict[str, Store]) -> None:
    (trace,) = stores["exim"].search(LogQuery(queue_id="1xX70n-0006ZV-1Q", limit=1))
    kinds = [e.kind for e in trace.events if e.queue_id == "1xX70n-0006ZV-1Q"]
    assert kinds[0] == "arrival" and kinds[-1] == "completed" and "delivery" in kinds
    assert all(e.at.tzinfo is not None and e.host == "lab" for e in trace.events)
    assert trace.events == tuple(sorted(trace.events, key=lambda e: e.at))
    _ = datetime.now(UTC)
