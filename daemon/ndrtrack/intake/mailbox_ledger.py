"""The mailbox intake's ledger: which source messages are already in the spool.

The Maildir and IMAP pollers store a message first and flag/move/delete it on the source
afterwards; a crash between the two must not store it twice.  Each source has one ledger
file under ``SPOOL/mailbox-state/``, append-only, one fsync'd line per change::

    B <key> <unix-time>     about to store <key>
    S <key> <spool-id>      <key> is in the spool as <spool-id>
    F <key>                 <key> left the source; forget it

``B`` without its ``S`` means a crash inside ``Spool.store``: ``recover`` then looks in the
spool for an entry whose envelope carries that mailbox and key, so the message is neither
lost nor stored twice.  Dead lines are compacted away once there are enough of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

from ndrtrack.errors import SpoolError
from ndrtrack.intake.spool import ENVELOPE, Spool
from ndrtrack.intake.spool import _fsync_dir as fsync_dir  # one fsync helper for both

log = logging.getLogger("ndrtrack.intake.mailbox")

STATE_DIR = "mailbox-state"


class Ledger:
    """Which messages of one source are already in the spool (see the module docstring).

    An append-only text file, one fsync'd line per change; a torn last line (crash while
    writing it) is ignored on load.  Keys are quoted so that a line always has its fields.
    """

    COMPACT_AFTER = 256  # dead lines before the file is rewritten

    def __init__(self, path: Path, mailbox: str) -> None:
        self.path = path
        self.mailbox = mailbox
        self.stored: dict[str, str] = {}  # key → spool id
        self.begun: dict[str, float] = {}  # key → time the store began
        self._dead = 0
        self._load()

    def _load(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        except OSError as exc:
            raise SpoolError(f"mailbox ledger {self.path}: cannot read: {exc.strerror}") \
                from exc
        for line in lines:
            op, _, rest = line.partition(" ")
            key, _, value = rest.partition(" ")
            if op == "B" and _is_time(value):
                self.begun[_unquote(key)] = float(value)
            elif op == "S" and value:
                self.begun.pop(_unquote(key), None)
                self.stored[_unquote(key)] = value
            elif op == "F":
                self.begun.pop(_unquote(key), None)
                self.stored.pop(_unquote(key), None)
        self._dead = max(0, len(lines) - len(self.stored) - len(self.begun))

    def _append(self, lines: list[str]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, "".join(line + "\n" for line in lines).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise SpoolError(f"mailbox ledger {self.path}: cannot write: {exc.strerror}") \
                from exc

    def begin(self, key: str) -> None:
        now = time.time()
        self._append([f"B {_quote(key)} {now:.3f}"])
        self.begun[key] = now

    def mark_stored(self, key: str, spool_id: str) -> None:
        self._append([f"S {_quote(key)} {spool_id}"])
        self.begun.pop(key, None)
        self.stored[key] = spool_id

    def keep_only(self, present: set[str]) -> None:
        """Forget stored keys that have left the source (acted upon, or removed by someone)."""
        gone = [k for k in self.stored if k not in present]
        if not gone:
            return
        self._append([f"F {_quote(k)}" for k in gone])
        for key in gone:
            del self.stored[key]
        self._dead += 3 * len(gone)  # its B, S and F lines
        if self._dead > self.COMPACT_AFTER:
            self._compact()

    def _compact(self) -> None:
        lines = [f"S {_quote(k)} {v}" for k, v in self.stored.items()]
        lines += [f"B {_quote(k)} {t:.3f}" for k, t in self.begun.items()]
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            fsync_dir(str(self.path.parent))
        except OSError as exc:
            raise SpoolError(f"mailbox ledger {self.path}: cannot compact: {exc.strerror}") \
                from exc
        self._dead = 0

    def recover(self, spool: Spool) -> None:
        """Settle keys whose store began but was not recorded as finished."""
        for key, began in list(self.begun.items()):
            spool_id = find_in_spool(spool, self.mailbox, key, since=began)
            if spool_id:
                log.info("mailbox %s: message %s was stored before a crash as %s", self.mailbox,
                         key, spool_id, extra={"spool_id": spool_id})
                self.mark_stored(key, spool_id)
            else:
                self._append([f"F {_quote(key)}"])
                del self.begun[key]


def find_in_spool(spool: Spool, mailbox: str, key: str, *, since: float) -> str | None:
    """The spool id of the entry stored from ``mailbox``/``key`` (written at or after
    ``since``), or None.  Only entries modified since then are read, so this stays cheap."""
    for state in ("new", "processing", "done", "shunt"):
        try:
            entries = list(os.scandir(spool.root / state))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                if entry.stat().st_mtime < since - 2:
                    continue
                record = json.loads((Path(entry.path) / ENVELOPE).read_bytes())
            except (OSError, ValueError):
                continue
            extra = record.get("extra") or {}
            if extra.get("mailbox") == mailbox and extra.get("mailbox_key") == key:
                return entry.name
    return None


def _is_time(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _quote(key: str) -> str:
    return key.replace("%", "%25").replace(" ", "%20").replace("\n", "%0A")


def _unquote(key: str) -> str:
    return key.replace("%0A", "\n").replace("%20", " ").replace("%25", "%")


def ledger_for(spool: Spool, kind: str, mailbox: str) -> Ledger:
    digest = hashlib.sha256(mailbox.encode()).hexdigest()[:16]
    return Ledger(spool.root / STATE_DIR / f"{kind}-{digest}.ledger", mailbox)
