"""The mailbox intake inside the running daemon: a Maildir and a Dovecot IMAP folder configured
in the YAML (password from a ``password_file``) become cases, and SIGTERM still exits 0."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from mailbox_lab import Dovecot, deliver, message, running_dovecot

from intakelab import Daemon

pytestmark = pytest.mark.integration


dovecot = pytest.fixture(running_dovecot, scope="function", name="dovecot")


def test_maildir_and_imap_messages_become_cases(tmp_path: Path, dovecot: Dovecot) -> None:
    user, password = dovecot.new_user()
    dovecot.append(user, [message(1), message(2)])
    maildir = tmp_path / "Maildir"
    for n in (3, 4):
        deliver(maildir, message(n))
    secret = tmp_path / "imap.password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    daemon = Daemon(tmp_path, {"intake": {
        "maildirs": [{"path": str(maildir), "after": "move"}],
        "maildir_poll_interval": 0.2,
        "imap": [{"host": "127.0.0.1", "port": dovecot.imaps_port, "username": user,
                  "password_file": str(secret), "cafile": str(dovecot.cafile),
                  "after": "move", "poll_interval": 0.2}],
    }})
    daemon.start()
    try:
        deadline = time.monotonic() + 20
        while len(cases := daemon.cases()) < 4:
            assert time.monotonic() < deadline, daemon.log()
            time.sleep(0.1)
        time.sleep(0.5)  # a few more polls: nothing may be taken twice
        cases = daemon.cases()
        assert sorted(c["source"] for c in cases) == ["imap", "imap", "maildir", "maildir"]
        assert sorted(c["headers"]["subject"] for c in cases) == \
            [f"Undelivered Mail Returned to Sender {n}" for n in (1, 2, 3, 4)]
        imap_case = next(c for c in cases if c["source"] == "imap")
        assert imap_case["mail_from"].startswith("MAILER-DAEMON@mx")
        assert imap_case["rcpt_tos"] == ["ndr-track@example.org"]
        assert not os.listdir(maildir / "new")
        assert dovecot.folder(user) == {}
        _, metrics = daemon.http_get("/metrics")
        assert 'ndrtrack_mailbox_polls_total{result="ok",source="imap"}' in metrics
        assert password not in daemon.log()
    finally:
        assert daemon.stop() == 0, daemon.log()
