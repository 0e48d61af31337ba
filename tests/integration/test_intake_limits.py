"""The overall connection limit of a listener, apart from the per-client one.

Every client comes from its own loopback address (127.0.0.2, 127.0.0.3, ...), so the
per-client limit (10 here) can never be what refuses: only ``max_connections`` (2) can.
"""

from __future__ import annotations

import smtplib
import socket
import time

import pytest

from intakelab import Daemon

OVERALL = "421 4.7.0 Too many connections, try again later"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory):
    d = Daemon(tmp_path_factory.mktemp("limits"), {"intake": {"smtp": {
        "max_connections": 2, "max_connections_per_client": 10}}})
    d.start()
    yield d
    assert d.stop() == 0, d.log()


def client_from(d: Daemon, source_ip: str) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", d.smtp_port, timeout=10, source_address=(source_ip, 0))


def banner_from(d: Daemon, source_ip: str) -> bytes:
    with socket.create_connection(("127.0.0.1", d.smtp_port), timeout=5,
                                  source_address=(source_ip, 0)) as sock:
        return sock.makefile("rb").readline()


def test_the_overall_limit_refuses_a_new_client_with_421(daemon: Daemon) -> None:
    clients = [client_from(daemon, "127.0.0.2"), client_from(daemon, "127.0.0.3")]
    try:
        for client in clients:
            assert client.noop()[0] == 250  # both sessions are admitted and live
        banner = banner_from(daemon, "127.0.0.4")  # a third client, its first connection
        assert banner.decode().rstrip("\r\n") == OVERALL
    finally:
        for client in clients:
            client.quit()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the slots are given back once the sessions end
        if banner_from(daemon, "127.0.0.4").startswith(b"220 "):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the connection slots were not given back")
    assert "connection refused peer=127.0.0.4: 421 4.7.0 Too many connections," \
        in daemon.log()
