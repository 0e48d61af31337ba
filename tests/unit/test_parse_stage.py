"""The parse stage inside the runner: real bounces and junk become cases with a parse result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from conftest import SAMPLES
from ndrtrack.config import Config
from ndrtrack.intake.runner import Runner
from ndrtrack.intake.spool import Envelope, Spool
from ndrtrack.store.cli import _describe
from ndrtrack.store.sqlite import SqliteStore

BOUNCES = SAMPLES / "bounces"


def expectations(name: str) -> list[dict]:
    lines = (BOUNCES / "expectations.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["file"] == name]


@pytest.fixture
def runner(tmp_path: Path):
    spool = Spool(tmp_path / "spool")
    spool.setup()
    store = SqliteStore(str(tmp_path / "db.sqlite3"))
    store.setup()
    yield Runner(spool=spool, store=store, config=Config())
    store.close()


def process(runner: Runner, data: bytes) -> dict:
    entry = runner.spool.store(data, Envelope(mail_from="user@example.org",
                                              rcpt_tos=("ndr-track@example.com",)))
    assert runner.process(entry.id) == "done"
    case_id = runner.store.case_id_for(entry.id)
    assert case_id is not None
    case = runner.store.get_case(case_id)
    assert case is not None and case.state == "parsed"
    assert "summary" in case.stages["parse"]["result"]
    assert _describe(case)  # `cases show` renders it
    return case.stages["parse"]["result"]


@pytest.mark.parametrize("name", ["lhost-postfix-02.eml", "lhost-exim-03.eml",
                                  "lhost-sendmail-02.eml"])
def test_bounce_is_decoded_and_counted(runner: Runner, name: str) -> None:
    path = BOUNCES / name
    if not path.exists():
        pytest.skip(f"{name} not among the project's samples")
    expected = expectations(name)
    assert expected, f"{name} has no expectation"
    reason = expected[0]["reason"]
    before = REGISTRY.get_sample_value("ndrtrack_ndr_records_total",
                                       {"format": "postfix", "reason": reason}) or 0.0
    result = process(runner, path.read_bytes())
    assert result["kind"] == "bounce" and result["parsed"] is True
    recipients = {s["recipient"] for s in result["bounce"]["statuses"]}
    assert recipients == {r["recipient"] for r in expected}
    if result["format"] == "postfix":
        after = REGISTRY.get_sample_value("ndrtrack_ndr_records_total",
                                          {"format": "postfix", "reason": reason})
        assert after == before + len(expected)


def test_junk_still_becomes_a_case_marked_as_such(runner: Runner) -> None:
    result = process(runner, b"\xff\xfe\x00garbage without headers\r\n\r\n\x00\x01")
    assert result["kind"] == "not_a_bounce"
    assert result["bounce"] is None
