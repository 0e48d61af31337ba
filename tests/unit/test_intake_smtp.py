"""Pure parts of the intake: address policy, header decoding, error replies, sd_notify."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from ndrtrack.app import sd_notify, watchdog_interval
from ndrtrack.intake.record import case_headers, decode_value
from ndrtrack.intake.smtp import TEMPFAIL, IntakeHandler, address_matcher, is_intake_address

ACCEPTED = address_matcher(["ndr-track@Example.test", "bounces+keep@example.test"])


@pytest.mark.parametrize(("address", "expected"), [
    ("ndr-track@example.test", True),
    ("NDR-TRACK@EXAMPLE.TEST", True),
    ("ndr-track+anything@example.test", True),
    ("ndr-track+a+b@example.test", True),
    ("bounces+keep@example.test", True),   # a configured address that itself has a +
    ("bounces@example.test", False),
    ("ndr-track@example.test.other", False),
    ("ndr-trackx@example.test", False),
    ("x+ndr-track@example.test", False),
    ("ndr-track", False),
    ("", False),
])
def test_intake_address_policy(address: str, expected: bool) -> None:
    assert is_intake_address(address, ACCEPTED) is expected


def test_header_decoding() -> None:
    assert decode_value("=?utf-8?q?R=C3=A9union?=\r\n =?utf-8?q?_pr=C3=A9vue?=") \
        == "Réunion prévue"
    assert decode_value("plain   folded\r\n\ttext") == "plain folded text"
    assert decode_value("=?bogus-charset?q?abc?=") == "=?bogus-charset?q?abc?="
    assert decode_value(None) == ""


def test_eight_bit_headers_are_read_as_utf8() -> None:
    headers = case_headers("Subject: Réunion annulée\r\n\r\nbody".encode())
    assert headers.subject == "Réunion annulée"
    assert case_headers(b"no headers at all").subject == ""


def test_handle_exception_is_a_temporary_failure_without_internals() -> None:
    handler = IntakeHandler.__new__(IntakeHandler)
    handler.source = "smtp"
    reply = asyncio.run(handler.handle_exception(OSError(28, "No space left on device")))
    assert reply == TEMPFAIL
    assert reply.startswith("451 4.3.0") and "space" not in reply


def test_sd_notify_writes_to_the_notify_socket(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        assert sd_notify("READY=1")
        assert server.recv(100) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not sd_notify("READY=1")


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 5.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert watchdog_interval() is None
