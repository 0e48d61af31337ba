"""The registry of mail-log formats: every module here that defines ``FORMAT``.

Syslog-carried lines are dispatched by program name — the part before the first ``/``
(``postfix/smtpd`` → ``postfix``, ``sm-mta`` → ``sendmail``) — through one dict built from the
formats' ``programs``; a file whose lines carry no program (Exim's mainlog, Exchange's CSV)
is read with the format its source declares or that its first lines reveal (``sniff``).
"""

from __future__ import annotations

from datetime import datetime

from ndrtrack.logs.formats._base import LogFormat
from ndrtrack.logs.syslog import Envelope
from ndrtrack.model import LogEvent
from ndrtrack.plugins import discover


def _discover() -> tuple[LogFormat, ...]:
    found = discover(__name__, __path__, LogFormat)
    return tuple(sorted(found, key=lambda f: f.name))


REGISTRY: tuple[LogFormat, ...] = _discover()
BY_NAME: dict[str, LogFormat] = {f.name: f for f in REGISTRY}
BY_MTA: dict[str, LogFormat] = {f.mta: f for f in REGISTRY}
_BY_PROGRAM: dict[str, LogFormat] = {p: f for f in REGISTRY for p in f.programs}
_program_cache: dict[str, LogFormat | None] = {}
PROGRAM_CACHE = _program_cache  # read directly on the hot path (a miss calls for_program)


def for_program(program: str) -> LogFormat | None:
    """The format that reads lines of syslog identifier ``program`` (cached per name)."""
    try:
        return _program_cache[program]
    except KeyError:
        pass
    base = program.split("/", 1)[0]
    fmt = _BY_PROGRAM.get(base)
    if fmt is None:  # instance names: postfix-out/smtp, exim4-daemon, sm-msp-queue
        fmt = next((f for p, f in _BY_PROGRAM.items() if base.startswith(p)), None)
    if len(_program_cache) < 10_000:
        _program_cache[program] = fmt
    return fmt


def sniff(lines: list[str]) -> LogFormat | None:
    """A format that recognises the first lines of a file as its own (non-syslog) file."""
    return next((f for f in REGISTRY if f.sniff(lines)), None)


def reparse(mta: str, host: str, at: datetime, program: str, text: str) -> LogEvent:
    """An event read back from the index: parsed again by its format, or kept as text."""
    env = Envelope(at, host, program, "", text)
    fmt = BY_MTA.get(mta) or for_program(program)
    ev = fmt.read(env) if fmt is not None else None
    if ev is None:
        return LogEvent(at=at, host=host, mta=mta, program=program, text=text)
    return LogEvent(*ev)
