"""Mailbox intake: copy messages from a local Maildir or an IMAP folder into the spool.

Some NDRs never reach the SMTP listener: the site's MTA delivers the intake address into a
Maildir, and users resend to a *backup external address* hosted outside the site when the
gateways themselves may be at fault.  The pollers here fetch those messages.

The rule is **store first, then touch the source**: a message is copied durably into the
spool (``Spool.store`` returns after fsync + rename) and only then flagged, moved or deleted
on the source.  A crash between the two must not store the message again: a per-source
ledger (``mailbox_ledger.py``) records each key — ``UIDVALIDITY:UID`` for IMAP, the unique
name for a Maildir — before and after it is stored, and a stored key is only ever
flagged/moved/deleted, never stored again, even across a restart.

Pollers run their blocking I/O (imaplib, fsync) in a worker thread with ``asyncio.to_thread``;
a failed poll (connection refused, TLS, wrong password, missing folder, full spool) is logged
with the source and the reason, counted in ``ndrtrack_mailbox_polls_total``, and retried
with exponential backoff — it never ends the poller.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import os
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from ndrtrack.config import ImapSource, MaildirSource
from ndrtrack.errors import MailboxError, SpoolError
from ndrtrack.intake.mailbox_ledger import Ledger, ledger_for
from ndrtrack.intake.spool import Envelope, Spool
from ndrtrack.intake.spool import _fsync_dir as fsync_dir  # one fsync helper for the intake
from ndrtrack.metrics import INTAKE_BYTES, INTAKE_MESSAGES, MAILBOX_POLLS

log = logging.getLogger("ndrtrack.intake.mailbox")

RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To")  # most specific first
IMAP_KEYWORD = "$NdrtrackStored"  # set by ``after: flag`` when the server keeps keywords
MAILDIR_PROCESSED = ".Processed"  # Maildir++ sub-folder for ``after: move``
DEFAULT_MAX_MESSAGE_SIZE = 25 * 1024 * 1024


# --------------------------------------------------------------------------- envelope


def envelope_for(data: bytes, *, source: str, mailbox: str, key: str, peer: str = "",
                 tls: bool = False, extra: Iterable[tuple[str, str]] = ()) -> Envelope:
    """The envelope a mailbox message carries in its headers.

    The delivering MTA recorded the envelope sender in ``Return-Path`` and the envelope
    recipient in ``Delivered-To`` (or ``X-Original-To``); ``To`` is the fallback.
    """
    headers = BytesParser(policy=compat32).parsebytes(data, headersonly=True)
    return_path = getaddresses([str(headers.get("Return-Path", ""))])
    mail_from = return_path[0][1] if return_path else ""
    rcpts: list[str] = []
    for name in RECIPIENT_HEADERS:
        values = [str(v) for v in headers.get_all(name, [])]
        rcpts = [addr for _, addr in getaddresses(values) if addr]
        if rcpts:
            break
    return Envelope(mail_from=mail_from, rcpt_tos=tuple(dict.fromkeys(rcpts)), peer=peer,
                    source=source, tls=tls,
                    extra=(("mailbox", mailbox), ("mailbox_key", key), *extra))


# --------------------------------------------------------------------------- poller base


class _Poller:
    """The poll loop shared by both sources: poll in a thread, back off on failure."""

    source = ""

    def __init__(self, *, spool: Spool, interval: float, backoff_initial: float,
                 backoff_max: float, batch: int, max_message_size: int,
                 on_stored: Callable[[], None] | None) -> None:
        self.spool = spool
        self.on_stored = on_stored  # e.g. wake the runner; called in the event loop
        self.interval = interval
        self.backoff_initial = backoff_initial
        self.backoff_max = max(backoff_max, backoff_initial)
        self.batch = batch
        self.max_message_size = max_message_size
        self.last_error = ""
        self.polls = 0  # completed polls, successful or not (lets tests wait for one)
        self._healthy = False
        self._halt = threading.Event()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._ledger: Ledger | None = None
        self._too_big: set[str] = set()

    @property
    def mailbox(self) -> str:
        """A stable name of the source (logs, the ledger's file name, the envelope)."""
        raise NotImplementedError

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._halt.clear()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"{self.source} {self.mailbox}")

    async def stop(self) -> None:
        """Finish the message in hand, then end; never stores half of anything."""
        self._halt.set()
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    def ready(self) -> bool:
        """True while the loop runs and the last poll succeeded."""
        return self._task is not None and not self._task.done() and self._healthy

    def poke(self) -> None:
        """Poll now instead of waiting out the interval (tests, SIGHUP)."""
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        failures = 0
        assert self._wake is not None
        while not self._halt.is_set():
            self._wake.clear()
            try:
                stored = await asyncio.to_thread(self._poll_guarded)
                if failures:
                    log.info("%s poll of %s works again after %d failed attempts",
                             self.source, self.mailbox, failures, extra={"source": self.source})
                failures, self._healthy, self.last_error = 0, True, ""
                MAILBOX_POLLS.labels(self.source, "ok").inc()
                delay = 0.0 if stored >= self.batch else self.interval  # more may be waiting
                if stored and self.on_stored is not None:
                    self.on_stored()
            except Exception as exc:  # noqa: BLE001 — a failed poll must never end the loop
                failures += 1
                self._healthy = False
                delay = self.backoff(failures)
                self._report(exc, failures, delay)
            self.polls += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed poll in a row."""
        return min(self.backoff_max, self.backoff_initial * 2 ** min(failures - 1, 32))

    def _report(self, exc: Exception, failures: int, delay: float) -> None:
        if isinstance(exc, MailboxError):
            kind = exc.kind
        elif isinstance(exc, SpoolError):
            kind = "spool_error"
        else:
            kind = "error"
        MAILBOX_POLLS.labels(self.source, kind).inc()
        self.last_error = f"{kind}: {exc}"
        message = "%s poll of %s failed (%s): %s; attempt %d, retrying in %gs"
        args = (self.source, self.mailbox, kind, exc, failures, delay)
        if kind == "error":
            log.error(message, *args, exc_info=exc, extra={"source": self.source})
        else:
            log.error(message, *args, extra={"source": self.source})

    def _poll_guarded(self) -> int:
        if self._ledger is None:
            ledger = ledger_for(self.spool, self.source, self.mailbox)
            ledger.recover(self.spool)
            self._ledger = ledger
        return self.poll_once()

    def poll_once(self) -> int:
        """One pass over the source; returns how many messages were newly stored."""
        raise NotImplementedError

    @property
    def ledger(self) -> Ledger:
        assert self._ledger is not None
        return self._ledger

    def _store(self, key: str, data: bytes, *, peer: str = "", tls: bool = False,
               extra: Iterable[tuple[str, str]] = ()) -> str:
        """Store one message durably and record it in the ledger; return the spool id."""
        envelope = envelope_for(data, source=self.source, mailbox=self.mailbox, key=key,
                                peer=peer, tls=tls, extra=extra)
        self.ledger.begin(key)
        try:
            entry = self.spool.store(data, envelope)
        except SpoolError:
            INTAKE_MESSAGES.labels(self.source, "tempfail").inc()
            self.ledger.begun.pop(key, None)  # nothing stored; a restart re-checks the spool
            raise
        self.ledger.mark_stored(key, entry.id)
        INTAKE_MESSAGES.labels(self.source, "accepted").inc()
        INTAKE_BYTES.labels(self.source).inc(len(data))
        log.info("stored %s message %s from %s (%d bytes)", self.source, key, self.mailbox,
                 len(data), extra={"spool_id": entry.id, "source": self.source})
        return entry.id

    def _fits(self, key: str, size: int) -> bool:
        """Oversized messages stay on the source, with one warning per process."""
        if size <= self.max_message_size:
            return True
        if key not in self._too_big:
            self._too_big.add(key)
            INTAKE_MESSAGES.labels(self.source, "refused").inc()
            log.warning("%s message %s in %s is %d bytes, over the limit of %d: left there",
                        self.source, key, self.mailbox, size, self.max_message_size,
                        extra={"source": self.source})
        return False


# --------------------------------------------------------------------------- Maildir


class MaildirPoller(_Poller):
    """Poll a local Maildir (``new/`` and ``cur/`` of the top folder)."""

    source = "maildir"

    def __init__(self, *, source: MaildirSource, spool: Spool, interval: float,
                 backoff_initial: float = 5.0, backoff_max: float = 300.0, batch: int = 500,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 on_stored: Callable[[], None] | None = None) -> None:
        super().__init__(spool=spool, interval=interval, backoff_initial=backoff_initial,
                         backoff_max=backoff_max, batch=batch, max_message_size=max_message_size,
                         on_stored=on_stored)
        self.config = source
        self.root = Path(source.path).absolute()

    @property
    def mailbox(self) -> str:
        return str(self.root)

    def listing(self) -> dict[str, Path]:
        """Unique name → file, for every message in ``new/`` and ``cur/``."""
        found: dict[str, Path] = {}
        for sub in ("new", "cur"):
            try:
                names = os.listdir(self.root / sub)
            except OSError as exc:
                raise MailboxError(f"cannot list {self.root / sub}: {exc.strerror}") from exc
            for name in names:
                if not name.startswith("."):
                    found[name.split(":", 1)[0]] = self.root / sub / name
        return found

    def poll_once(self) -> int:
        messages = self.listing()
        target = self._processed_dir() if self.config.after == "move" and messages else None
        stored = 0
        for key in sorted(messages)[: self.batch]:
            if self._halt.is_set():
                break
            path = messages[key]
            if key not in self.ledger.stored:
                try:
                    if not self._fits(key, path.stat().st_size):
                        continue
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue  # a mail client moved it meanwhile; the next poll sees it again
                self._store(key, data, extra=(("maildir_name", path.name),))
                stored += 1
            self._act(path, key, target)
        self.ledger.keep_only(set(messages))
        return stored

    def _act(self, path: Path, key: str, target: Path | None) -> None:
        """Delete, or move into ``.Processed/cur`` (``target``) with the Seen flag added."""
        try:
            if target is None:
                path.unlink()
                fsync_dir(str(path.parent))
                return
            info = path.name.split(":2,", 1)[1] if ":2," in path.name else ""
            os.rename(path, target / f"{key}:2,{''.join(sorted(set(info) | {'S'}))}")
            fsync_dir(str(target))
            fsync_dir(str(path.parent))
        except FileNotFoundError:
            pass  # gone already (a client, or our own earlier run): nothing left to do
        except OSError as exc:
            raise MailboxError(f"cannot {self.config.after} {path}: {exc.strerror}") from exc

    def _processed_dir(self) -> Path:
        folder = self.root / MAILDIR_PROCESSED
        try:
            for sub in ("tmp", "new", "cur"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            (folder / "maildirfolder").touch(exist_ok=True)
        except OSError as exc:
            raise MailboxError(f"cannot create {folder}: {exc.strerror}") from exc
        return folder / "cur"


# --------------------------------------------------------------------------- IMAP

_UID_SIZE = re.compile(rb"UID (\d+)|RFC822\.SIZE (\d+)")


def _text(exc: BaseException) -> str:
    """imaplib puts the server's bytes into its exceptions; show them as text."""
    if isinstance(exc, imaplib.IMAP4.error) and exc.args:
        arg = exc.args[0]
        return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return str(exc)


def _server_text(data: list[Any]) -> str:
    return " ".join(d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d)
                    for d in data if d)


class _TrackedImap(imaplib.IMAP4):
    """imaplib.IMAP4 that hands its socket out as soon as it is connected, so that
    ``ImapPoller.stop`` can cut a session hanging in the greeting, TLS or any command."""

    def __init__(self, host: str, port: int, timeout: float,
                 track: Callable[[socket.socket | None], None]) -> None:
        self._track = track
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock: socket.socket = super()._create_socket(timeout)  # type: ignore[misc]
        self._track(sock)
        return sock


class _TrackedImapSsl(imaplib.IMAP4_SSL):
    """imaplib.IMAP4_SSL that hands its TLS socket out before the handshake (see above)."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext, timeout: float,
                 track: Callable[[socket.socket | None], None]) -> None:
        self._track = track
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = imaplib.IMAP4._create_socket(self, timeout)  # type: ignore[attr-defined]
        tls = self.ssl_context.wrap_socket(sock, server_hostname=self.host,
                                           do_handshake_on_connect=False)
        self._track(tls)
        try:
            tls.do_handshake()
        except BaseException:
            tls.close()
            raise
        return tls


def _quote_mailbox(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapPoller(_Poller):
    """Poll one IMAP folder over implicit TLS (port 993) or STARTTLS; never in the clear.

    ``after``: ``flag`` sets the keyword ``$NdrtrackStored`` (``\\Seen`` where the server
    keeps no keywords) and later polls skip flagged messages; ``move`` moves to ``move_to``
    (created when missing; RFC 6851 MOVE, else COPY + expunge); ``delete`` expunges.
    """

    source = "imap"
    STOP_GRACE = 5.0  # seconds stop() lets a poll finish before cutting its connection

    def __init__(self, *, source: ImapSource, spool: Spool, backoff_initial: float = 5.0,
                 backoff_max: float = 900.0, batch: int = 200, timeout: float = 30.0,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 on_stored: Callable[[], None] | None = None) -> None:
        super().__init__(spool=spool, interval=source.poll_interval,
                         backoff_initial=backoff_initial, backoff_max=backoff_max, batch=batch,
                         max_message_size=max_message_size, on_stored=on_stored)
        self.config = source
        self.timeout = timeout
        self._sock: socket.socket | None = None  # of the session in hand, for stop()
        if not source.verify:
            log.warning("imap %s: TLS certificate verification is off", self.mailbox)

    @property
    def mailbox(self) -> str:
        c = self.config
        scheme = "imaps" if c.security == "tls" else "imap+starttls"
        return f"{scheme}://{c.username}@{c.host}:{c.port}/{c.folder}"

    async def stop(self) -> None:
        """Stop; a thread stuck on a dead connection is unblocked by shutting its socket."""
        self._halt.set()
        self.poke()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=self.STOP_GRACE)
            sock = self._sock
            if not done and sock is not None:
                with contextlib.suppress(OSError):  # the plain shutdown, also for TLS sockets
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
        await super().stop()

    # session -----------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.cafile or None)
        if not self.config.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _track(self, sock: socket.socket | None) -> None:
        self._sock = sock

    def _connect(self) -> imaplib.IMAP4:
        c = self.config
        try:
            if c.security == "tls":
                return _TrackedImapSsl(c.host, c.port, self._ssl_context(), self.timeout,
                                       self._track)
            imap: imaplib.IMAP4 = _TrackedImap(c.host, c.port, self.timeout, self._track)
        except ssl.SSLError as exc:
            raise MailboxError(f"TLS handshake failed: {exc}", kind="tls_error") from exc
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"cannot connect: {_text(exc)}", kind="connect_error") from exc
        try:
            imap.starttls(ssl_context=self._ssl_context())
            self._track(imap.sock)  # the TLS socket replaced the plain one
        except (ssl.SSLError, imaplib.IMAP4.error) as exc:
            imap.shutdown()
            raise MailboxError(f"STARTTLS failed: {_text(exc)}", kind="tls_error") from exc
        except OSError as exc:
            imap.shutdown()
            raise MailboxError(f"cannot connect: {_text(exc)}", kind="connect_error") from exc
        return imap

    @contextlib.contextmanager
    def _session(self) -> Iterator[tuple[imaplib.IMAP4, set[str]]]:
        imap = self._connect()
        try:
            try:
                imap.login(self.config.username, self.config.password)
            except imaplib.IMAP4.abort:
                raise  # the connection broke: reported below as connect_error
            except imaplib.IMAP4.error as exc:
                raise MailboxError(f"login as {self.config.username} refused: {_text(exc)}",
                                   kind="auth_error") from exc
            _, data = imap.capability()
            capabilities = set(b" ".join(d for d in data if d).decode().upper().split())
            yield imap, capabilities
        except (imaplib.IMAP4.abort, OSError) as exc:
            raise MailboxError(f"connection lost: {_text(exc)}", kind="connect_error") from exc
        finally:
            self._sock = None
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                imap.logout()

    @staticmethod
    def _checked(what: str, command: Callable[..., tuple[str, list[Any]]],
                 *args: str) -> list[Any]:
        """Run an imaplib command; a NO or BAD answer becomes a ``MailboxError``."""
        try:
            typ, data = command(*args)
        except imaplib.IMAP4.abort:
            raise  # the connection is gone: _session reports it
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"{what} failed: {_text(exc)}") from exc
        if typ != "OK":
            raise MailboxError(f"{what} answered {typ}: {_server_text(data)}")
        return list(data)

    # polling -----------------------------------------------------------------
    def poll_once(self) -> int:
        with self._session() as (imap, capabilities):
            uidvalidity, keywords = self._select(imap)
            uids = self._search(imap, keywords)
            sizes = self._sizes(imap, uids[: self.batch])
            target = self._ensure_folder(imap) if self.config.after == "move" and uids else ""
            stored, expunge = 0, []
            for uid in uids[: self.batch]:
                if self._halt.is_set():
                    break
                key = f"{uidvalidity}:{uid}"
                if key not in self.ledger.stored:
                    if not self._fits(key, sizes.get(uid, 0)):
                        continue
                    data = self._fetch(imap, uid)
                    if data is None:
                        continue  # expunged by someone else meanwhile
                    self._store(key, data, peer=self.config.host, tls=True,
                                extra=(("imap_uid", uid), ("imap_uidvalidity", uidvalidity)))
                    stored += 1
                if self._act(imap, uid, keywords, capabilities, target):
                    expunge.append(uid)
            if expunge:
                self._expunge(imap, expunge, capabilities)
            self.ledger.keep_only({f"{uidvalidity}:{uid}" for uid in uids})
        return stored

    def _select(self, imap: imaplib.IMAP4) -> tuple[str, bool]:
        self._checked(f"SELECT {self.config.folder}", imap.select,
                      _quote_mailbox(self.config.folder))
        _, validity = imap.response("UIDVALIDITY")
        _, permanent = imap.response("PERMANENTFLAGS")
        if not validity or not validity[0]:
            raise MailboxError(f"folder {self.config.folder}: the server sent no UIDVALIDITY")
        keywords = bool(permanent and permanent[0] and b"\\*" in permanent[0])
        return validity[0].decode(), keywords

    def _search(self, imap: imaplib.IMAP4, keywords: bool) -> list[str]:
        criteria = ["UNDELETED"]
        if self.config.after == "flag":
            criteria += ["UNKEYWORD", IMAP_KEYWORD] if keywords else ["UNSEEN"]
        data = self._checked("UID SEARCH", imap.uid, "SEARCH", *criteria)
        found = b" ".join(d for d in data if isinstance(d, bytes)).split()
        return sorted((u.decode() for u in found), key=int)

    def _sizes(self, imap: imaplib.IMAP4, uids: list[str]) -> dict[str, int]:
        if not uids:
            return {}
        sizes: dict[str, int] = {}
        for line in self._checked("UID FETCH", imap.uid, "FETCH", ",".join(uids),
                                  "(RFC822.SIZE)"):
            if isinstance(line, bytes):
                uid = size = None
                for m in _UID_SIZE.finditer(line):
                    uid = m.group(1) or uid
                    size = m.group(2) or size
                if uid and size:
                    sizes[uid.decode()] = int(size)
        return sizes

    def _fetch(self, imap: imaplib.IMAP4, uid: str) -> bytes | None:
        for part in self._checked("UID FETCH", imap.uid, "FETCH", uid, "(BODY.PEEK[])"):
            if isinstance(part, tuple) and len(part) == 2:
                return bytes(part[1])
        return None

    def _act(self, imap: imaplib.IMAP4, uid: str, keywords: bool, capabilities: set[str],
             target: str) -> bool:
        """Flag, move or mark deleted; True when the message still needs an expunge."""
        after = self.config.after
        if after == "flag":
            flag = IMAP_KEYWORD if keywords else "\\Seen"
            self._checked("UID STORE", imap.uid, "STORE", uid, "+FLAGS.SILENT", f"({flag})")
            return False
        if after == "move":
            if "MOVE" in capabilities:
                self._checked("UID MOVE", imap.uid, "MOVE", uid, target)
                return False
            self._checked("UID COPY", imap.uid, "COPY", uid, target)
        self._checked("UID STORE", imap.uid, "STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
        return True

    def _ensure_folder(self, imap: imaplib.IMAP4) -> str:
        target = _quote_mailbox(self.config.move_to)
        typ, data = imap.create(target)
        if typ != "OK" and "ALREADYEXISTS" not in _server_text(data):
            raise MailboxError(f"cannot create folder {self.config.move_to}: "
                               f"{_server_text(data)}")
        return target

    def _expunge(self, imap: imaplib.IMAP4, uids: list[str], capabilities: set[str]) -> None:
        if "UIDPLUS" in capabilities:  # only ours, not what someone else marked deleted
            self._checked("UID EXPUNGE", imap.uid, "EXPUNGE", ",".join(uids))
        else:
            self._checked("EXPUNGE", imap.expunge)
