"""``ndrtrack parse --jsonl`` (the DESIGN.md contract) and ``ndrtrack explain``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ndrtrack.cli import main
from ndrtrack.parse.api import RECORD_KEYS, parse_bytes, result_to_json

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
DSN = SAMPLES / "lab-dsn" / "postfix-failed-5.1.1-mixed_outcomes.eml"
RESENT = SAMPLES / "forwards" / "flanker--enclosed.eml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_parse_prints_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "parse", "--jsonl", str(DSN))
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert records
    for record in records:
        assert tuple(record) == RECORD_KEYS
        assert all(isinstance(v, str) for v in record.values())
        assert record["file"] == str(DSN) and record["recipient"] and record["explanation"]
    assert {r["format"] for r in records} == {"postfix"}


def test_non_bounce_prints_one_object_with_kind(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    plain = tmp_path / "plain.eml"
    plain.write_bytes(b"From: a@b.org\nTo: c@d.org\nSubject: hello\n\nJust a note.\n")
    code, out, _ = run(capsys, "parse", "--jsonl", str(plain), str(RESENT))
    assert code == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["kind"] == "not_a_bounce" and "recipient" not in first
    assert second["kind"] == "resent" and second["original_sender"] == "dan@example.com"


def test_unreadable_file_exits_1_but_prints_the_others(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    code, out, err = run(capsys, "parse", "--jsonl", str(tmp_path / "missing.eml"), str(DSN))
    assert code == 1
    assert "missing.eml" in err
    assert out.strip() and all(json.loads(line)["file"] == str(DSN) for line in out.splitlines())


def test_explain_tells_who_must_act(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    forwarded = tmp_path / "fwd.eml"
    forwarded.write_bytes(
        b"From: Alice <alice@corp.example>\nSubject: Fwd\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nwhy?\n"
        b"--B\nContent-Type: message/rfc822\n\n" + DSN.read_bytes() + b"\n--B--\n")
    code, out, _ = run(capsys, "explain", str(forwarded))
    assert code == 0
    assert "non-delivery report" in out
    assert "forwarded by Alice <alice@corp.example>" in out
    assert "Who must act: the sender" in out and "What to do:" in out
    assert run(capsys, "explain", str(tmp_path / "nope.eml"))[0] == 1


def test_result_json_round_trips() -> None:
    stored = result_to_json(parse_bytes(DSN.read_bytes()))
    again = json.loads(json.dumps(stored))
    assert again["kind"] == "bounce" and again["format"] == "postfix"
    assert again["bounce"]["statuses"] and again["explanations"]


def test_installed_command_reads_stdin() -> None:
    proc = subprocess.run([sys.executable, "-m", "ndrtrack.cli", "parse", "--jsonl", "-"],
                          input=DSN.read_bytes(), capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["file"] == "-"
