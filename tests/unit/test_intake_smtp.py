"""Pure parts of the intake: address policy, header decoding, error replies, sd_notify."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ndrtrack.app import sd_notify, watchdog_interval
from ndrtrack.intake.record import case_headers, decode_value
from ndrtrack.intake.smtp import (
    TEMPFAIL,
    IntakeHandler,
    address_matcher,
    is_intake_address,
    simple_path,
)

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


class _AiosmtpdPaths(SMTP):
    """Only aiosmtpd's own ``_getaddr``: the reference for ``simple_path``."""

    def __init__(self) -> None:  # no loop, no transport: just the parser
        self.local_part_limit = 0


_PATH_PIECES = st.sampled_from(["<", ">", "@", ".", " ", "\t", "a", "Z", "9", "-", "+", "_",
                                "'", '"', "(", ")", "[", "]", "\\", ",", ":", "é", "=",
                                "SIZE=10", "BODY=8BITMIME", "b.test", "<>"])


_ATOMISH = st.lists(st.sampled_from(["a", "Z9", "b.test", "-", "+", "_", "!", "'", ".", "..",
                                     '"', "(", "[", "é", " "]), max_size=3).map("".join)
_VALID = st.lists(st.sampled_from(["a", "Z9", "b.test", "x-y", "+t", "_", "!#", "'"]),
                  min_size=1, max_size=3).map("".join)
_TAIL = st.one_of(st.sampled_from(["", " SIZE=10", "  BODY=8BITMIME ", " ", "\t=x", " (c)"]),
                  st.lists(_PATH_PIECES, max_size=5).map("".join))
#: Mostly ``<local@domain>`` shapes (near and on the fast path), some arbitrary strings.
_PATHS = st.one_of(
    st.builds(lambda local, domain, tail: f"<{local}@{domain}>{tail}",
              st.one_of(_VALID, _ATOMISH), st.one_of(_VALID, _ATOMISH), _TAIL),
    st.lists(_PATH_PIECES, max_size=14).map("".join))


@settings(max_examples=3000, deadline=None)
@given(_PATHS)
@example("<a@b.test>")
@example("<> SIZE=100")
@example("<a.b+c@d-e.f>  BODY=8BITMIME ")
@example("<a@b.test> (comment)")
@example('<"quoted local"@b.test>')
@example("<a..b@c.test>")
@example("<a@b.test>x")
def test_simple_path_answers_as_aiosmtpd_does(arg: str) -> None:
    simple = simple_path(arg)
    if simple is not None:
        assert simple == _AiosmtpdPaths()._getaddr(arg)
