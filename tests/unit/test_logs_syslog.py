"""Syslog envelopes: RFC 3164 (year inference, zones), RFC 3339/ISO, RFC 5424, journal JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ndrtrack.logs.syslog import Clock, parse_line

REF = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("line, at, host, program, pid, message", [
    ("Nov 28 01:09:16 mx postfix/smtpd[22403]: connect from localhost[127.0.0.1]",
     datetime(2026, 11, 28, 1, 9, 16, tzinfo=UTC), "mx", "postfix/smtpd", "22403",
     "connect from localhost[127.0.0.1]"),
    ("Jul  5 06:52:11 prd-mx1 postfix/cleanup[21893]: 3mPVKl0Mhjz7sXv: message-id=<a@b>",
     datetime(2026, 7, 5, 6, 52, 11, tzinfo=UTC), "prd-mx1", "postfix/cleanup", "21893",
     "3mPVKl0Mhjz7sXv: message-id=<a@b>"),
    ("Nov 28 01:09:16.123456 mx postfix/qmgr[1]: ABC123: removed",  # postlogd, high precision
     datetime(2026, 11, 28, 1, 9, 16, 123456, tzinfo=UTC), "mx", "postfix/qmgr", "1",
     "ABC123: removed"),
    ("2026-11-28T01:37:12.342614+00:00 vm smtpf[20754]: #599 ready",
     datetime(2026, 11, 28, 1, 37, 12, 342614, tzinfo=UTC), "vm", "smtpf", "20754", "#599 ready"),
    ("2026-11-28T02:37:12+01:00 vm sm-mta[7]: x",
     datetime(2026, 11, 28, 1, 37, 12, tzinfo=UTC), "vm", "sm-mta", "7", "x"),
    ("<22>1 2026-11-28T01:09:16.5Z mx postfix/smtpd 22403 - - connect from a[192.0.2.1]",
     datetime(2026, 11, 28, 1, 9, 16, 500000, tzinfo=UTC), "mx", "postfix/smtpd", "22403",
     "connect from a[192.0.2.1]"),
    ('<22>1 2026-11-28T01:09:16Z mx exim - ID47 [ex@32473 iut="3"] 1xX70h-0006Yu-2O Completed',
     datetime(2026, 11, 28, 1, 9, 16, tzinfo=UTC), "mx", "exim", "",
     "1xX70h-0006Yu-2O Completed"),
    ("<34>Nov 28 01:09:16 postfix/smtpd[9]: no host in this one",
     datetime(2026, 11, 28, 1, 9, 16, tzinfo=UTC), "", "postfix/smtpd", "9",
     "no host in this one"),
])
def test_envelopes(line: str, at: datetime, host: str, program: str, pid: str,
                   message: str) -> None:
    env = parse_line(line, Clock("UTC", REF))
    assert env is not None
    assert (env.at, env.host, env.program, env.pid, env.message) == (at, host, program, pid,
                                                                      message)


def test_journal_json_export() -> None:
    record = {"__REALTIME_TIMESTAMP": "1795828156174000", "_HOSTNAME": "mx",
              "SYSLOG_IDENTIFIER": "postfix/qmgr", "_PID": "99",
              "MESSAGE": "2DB9E5141CF: removed"}
    env = parse_line(json.dumps(record), Clock("UTC", REF))
    assert env is not None
    assert env.at == datetime(2026, 11, 28, 1, 9, 16, 174000, tzinfo=UTC)
    assert (env.host, env.program, env.pid, env.message) == ("mx", "postfix/qmgr", "99",
                                                             "2DB9E5141CF: removed")
    binary = dict(record, MESSAGE=list(b"caf\xc3\xa9"))
    env = parse_line(json.dumps(binary), Clock("UTC", REF))
    assert env is not None and env.message == "café"


def test_year_is_inferred_and_advances_across_new_year() -> None:
    clock = Clock("UTC", datetime(2027, 1, 1, 0, 30, tzinfo=UTC))  # file written just after
    lines = ["Dec 31 23:59:58 mx postfix/qmgr[1]: A1B2C3D4E5: removed",
             "Jan  1 00:00:01 mx postfix/qmgr[1]: A1B2C3D4E6: removed"]
    first, second = (parse_line(line, clock) for line in lines)
    assert first is not None and second is not None
    assert first.at == datetime(2026, 12, 31, 23, 59, 58, tzinfo=UTC)
    assert second.at == datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_a_stamp_after_the_reference_belongs_to_the_previous_year() -> None:
    env = parse_line("Dec 30 10:00:00 mx postfix/qmgr[1]: x", Clock("UTC", REF))
    assert env is not None and env.at.year == 2025


def test_configured_zone_applies_to_zoneless_stamps() -> None:
    env = parse_line("Nov 28 01:09:16 mx postfix/smtpd[1]: x", Clock("Europe/Berlin", REF))
    assert env is not None
    assert env.at.tzinfo == ZoneInfo("Europe/Berlin")
    assert env.at.astimezone(UTC) == datetime(2026, 11, 28, 0, 9, 16, tzinfo=UTC)


@pytest.mark.parametrize("line", ["", "garbage", "Foo 28 01:09:16 mx x[1]: y", "{not json",
                                  "<13>1 bad"])
def test_lines_without_an_envelope(line: str) -> None:
    assert parse_line(line, Clock("UTC", REF)) is None


def _ascii_lines() -> list[str]:
    from conftest import SAMPLES

    lines = [line for path in sorted((SAMPLES / "logs").rglob("*")) if path.is_file()
             for line in path.read_text("utf-8", "replace").splitlines() if line.isascii()]
    base = "Nov 28 01:09:16 mx postfix/smtpd[22403]: text"
    for c in map(chr, range(128)):  # every ASCII character where host, program, pid, stamp go
        lines += [base.replace("mx", f"m{c}x"), base.replace("smtpd", f"sm{c}tpd"),
                  base.replace("224", f"2{c}4"), base.replace("01:09", f"0{c}:09"),
                  base.replace("]: ", f"]:{c}"), f"Nov 28 01:09:16 {c}mx prog: text"]
    return lines


def test_the_ascii_envelope_pattern_matches_as_the_unicode_one() -> None:
    """ASCII lines take a pattern with ``\\s``/``\\d`` spelled out: same groups, every line."""
    from ndrtrack.logs.syslog import _RFC3164, _RFC3164_ASCII

    lines = _ascii_lines()
    assert len(lines) > 1000
    for line in lines:
        fast, full = _RFC3164_ASCII.match(line), _RFC3164.match(line)
        assert (fast and fast.groups()) == (full and full.groups()), line
