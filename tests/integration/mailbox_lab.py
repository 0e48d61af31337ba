"""Test lab for the mailbox intake: a real Dovecot on loopback, Maildir delivery, a poll driver.

``Dovecot`` runs the Debian package's binary as root with its own configuration in a temp
directory (base_dir, state_dir, log and mail all inside it), ``ssl = required`` with a
self-signed certificate made by openssl, an implicit-TLS (imaps) and a plain port that offers
STARTTLS, and users from a passwd-file.  Nothing of the system's Dovecot is touched.
"""

from __future__ import annotations

import asyncio
import imaplib
import itertools
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conftest import free_port, require_binary, require_root
from ndrtrack.intake.spool import ENVELOPE

USERS = {f"ndr{i}": f"pw-{i}-secret" for i in range(12)}

CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
auth_mechanisms = plain
auth_failure_delay = 0
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
mail_location = maildir:{root}/mail/%u
first_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
# no growing delay for repeated failed logins from 127.0.0.1 (the tests fail on purpose)
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
"""


class Dovecot:
    """A private Dovecot instance (start/stop) and a few IMAP helpers for the tests."""

    def __init__(self, extra_conf: str = "") -> None:
        self.binary = require_binary("dovecot")
        openssl = require_binary("openssl")
        require_root()
        self.root = Path(tempfile.mkdtemp(prefix="ndrtrack-dovecot-"))
        self.root.chmod(0o755)  # the mail user traverses it
        mail_user = pwd.getpwnam("dovecot")
        self.imap_port, self.imaps_port = free_port(), free_port()
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", str(self.root / "key.pem"), "-out", str(self.cafile),
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        (self.root / "passwd").write_text(
            "".join(f"{u}:{{PLAIN}}{p}\n" for u, p in USERS.items()))
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir()
        os.chown(self.root / "mail", mail_user.pw_uid, mail_user.pw_gid)
        self.conf = self.root / "dovecot.conf"
        self.conf.write_text(CONF.format(root=self.root, uid=mail_user.pw_uid,
                                         gid=mail_user.pw_gid, imap_port=self.imap_port,
                                         imaps_port=self.imaps_port) + extra_conf)
        self.process: subprocess.Popen[bytes] | None = None
        self._next_user = iter(USERS)

    @property
    def cafile(self) -> Path:
        return self.root / "cert.pem"

    @property
    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-F", "-c", str(self.conf)],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        for port in (self.imap_port, self.imaps_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        output = self.process.stdout.read() if self.process.stdout else b""
                        raise RuntimeError(
                            f"dovecot did not start: {output!r}\n{self.log}") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def new_user(self) -> tuple[str, str]:
        """A user with an empty mailbox of its own (each test takes one)."""
        user = next(self._next_user)
        return user, USERS[user]

    def connect(self, user: str) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.cafile))
        imap = imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, ssl_context=context, timeout=10)
        imap.login(user, USERS[user])
        return imap

    def append(self, user: str, messages: list[bytes], folder: str = "INBOX") -> None:
        imap = self.connect(user)
        try:
            for data in messages:
                typ, _ = imap.append(folder, None, None, data)
                assert typ == "OK"
        finally:
            imap.logout()

    def folder(self, user: str, folder: str = "INBOX") -> dict[int, tuple[bytes, bytes]]:
        """UID → (flags, message) of everything the folder holds now (\\Deleted ones too)."""
        imap = self.connect(user)
        try:
            typ, _ = imap.select(f'"{folder}"', readonly=True)
            if typ != "OK":
                return {}
            _, data = imap.uid("SEARCH", "ALL")
            result = {}
            for uid in data[0].split():
                _, parts = imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
                head, body = parts[0]
                flags = head[head.index(b"FLAGS (") + 7:].split(b")")[0]
                result[int(uid)] = (flags, body)
            return result
        finally:
            imap.logout()


def message(n: int, *, rcpt: str = "ndr-track@example.org", size: int = 0) -> bytes:
    """A small NDR-like message as the delivering MTA wrote it (Return-Path, Delivered-To)."""
    body = f"This is the mail system at host mx{n}.example.org.\r\n" + "x" * size
    return (f"Return-Path: <MAILER-DAEMON@mx{n}.example.org>\r\n"
            f"Delivered-To: {rcpt}\r\n"
            f"From: Mail Delivery System <MAILER-DAEMON@mx{n}.example.org>\r\n"
            f"To: someone{n}@example.org\r\n"
            f"Subject: Undelivered Mail Returned to Sender {n}\r\n"
            f"Message-ID: <ndr-{n}@mx{n}.example.org>\r\n\r\n{body}\r\n").encode()


# What a server without RFC 6851 MOVE and RFC 4315 UIDPLUS advertises (Dovecot's list minus
# those two): the poller must then COPY, flag \Deleted and EXPUNGE.
PLAIN_IMAP4 = ("imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT "
               "THREAD=REFERENCES MULTIAPPEND CHILDREN NAMESPACE LITERAL+ SPECIAL-USE\n")


def running_dovecot(extra_conf: str = "") -> Iterator[Dovecot]:
    """Fixture body: a started Dovecot, stopped (and its directory removed) afterwards."""
    server = Dovecot(extra_conf)
    server.start()
    try:
        yield server
    finally:
        server.stop()


_seq = itertools.count()


def deliver(maildir: Path, data: bytes, *, into: str = "new", info: str = "") -> str:
    """Write tmp/ then rename into new/ (or cur/), as the Maildir spec asks of an MTA."""
    unique = f"1764300000.M{next(_seq)}P{os.getpid()}.testhost"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "tmp" / unique).write_bytes(data)
    name = f"{unique}:2,{info}" if into == "cur" else unique
    os.rename(maildir / "tmp" / unique, maildir / into / name)
    return unique


def spool_envelopes(spool_root: Path) -> list[dict[str, Any]]:
    """Every envelope in the spool (all states but tmp/), oldest first."""
    found = []
    for state in ("new", "processing", "done", "shunt"):
        directory = spool_root / state
        if directory.is_dir():
            for entry in sorted(directory.iterdir()):
                record = json.loads((entry / ENVELOPE).read_text())
                record["message"] = (entry / "message.eml").read_bytes()
                found.append(record)
    return found


async def drive(poller: Any, polls: int = 1, timeout: float = 30.0) -> None:
    """Start a poller, wait until it has finished ``polls`` more polls, stop it."""
    target = poller.polls + polls
    await poller.start()
    try:
        deadline = time.monotonic() + timeout
        while poller.polls < target:
            assert time.monotonic() < deadline, f"no poll within {timeout}s: {poller.last_error}"
            await asyncio.sleep(0.02)
            if poller.polls < target:
                poller.poke()
    finally:
        await poller.stop()


class Captured(logging.Handler):
    """Collect the mailbox logger's lines (the daemon's logging may not propagate)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> Captured:
        logger = logging.getLogger("ndrtrack.intake.mailbox")
        logger.addHandler(self)
        self._level = logger.level
        logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("ndrtrack.intake.mailbox")
        logger.removeHandler(self)
        logger.setLevel(self._level)


CRASH_SCRIPT = """
import json, os, sys
from ndrtrack.config import ImapSource, MaildirSource
from ndrtrack.intake import mailbox
from ndrtrack.intake.spool import Spool

args = json.loads(sys.argv[1])
spool = Spool(args["spool"])
spool.setup()

def die(*_args, **_kwargs):
    os._exit(9)  # like kill -9: no cleanup, no flush beyond what was fsync'd

if args["kind"] == "imap":
    poller = mailbox.ImapPoller(source=ImapSource(**args["source"]), spool=spool)
else:
    poller = mailbox.MaildirPoller(source=MaildirSource(**args["source"]), spool=spool,
                                   interval=1)
if args["crash"] == "act":
    type(poller)._act = die            # stored, not yet flagged/moved/deleted
else:
    mailbox.Ledger.mark_stored = die   # in the spool, not yet in the ledger
poller._poll_guarded()
sys.exit(0)
"""


def crash_poll(kind: str, source: dict[str, Any], spool: Path, crash: str) -> int:
    """Run one poll in a child process that dies at ``crash``; return its exit status."""
    done = subprocess.run([sys.executable, "-c", CRASH_SCRIPT,
                           json.dumps({"kind": kind, "source": source, "spool": str(spool),
                                       "crash": crash})],
                          capture_output=True, timeout=60)
    assert done.returncode == 9, done.stderr.decode(errors="replace")
    return done.returncode
