"""The store interface: cases (what arrived and what the stages found) and the log index.

Implementations are picked by ``store.type`` in the config and imported only when used
(``open_store``), so a site without a server database never imports its driver.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ndrtrack.model import LogEvent, MessageTrace, SpoolEntry


@dataclass(frozen=True, slots=True)
class CaseHeaders:
    """The forwarder's message as it arrived: who sent it and what it says it is."""

    from_header: str = ""
    to_header: str = ""
    subject: str = ""
    date: str = ""
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    spool_id: str
    received_at: str
    source: str
    peer: str
    helo: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    headers: CaseHeaders
    state: str
    created_at: str
    updated_at: str
    stages: Mapping[str, Mapping[str, Any]]  # stage name -> {"outcome", "result", "done_at"}


class Store(abc.ABC):
    """What the daemon and the CLI need from a database."""

    @abc.abstractmethod
    def setup(self) -> None:
        """Open the database and bring its schema to the current version."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def is_open(self) -> bool:
        """True between a successful ``setup`` and ``close`` (for /readyz)."""

    @abc.abstractmethod
    def schema_version(self) -> int: ...

    # cases ---------------------------------------------------------------
    @abc.abstractmethod
    def add_case(self, entry: SpoolEntry, headers: CaseHeaders) -> int:
        """Record a case for a spool entry; idempotent: the same spool id gives the same id."""

    @abc.abstractmethod
    def case_id_for(self, spool_id: str) -> int | None: ...

    @abc.abstractmethod
    def record_stage(self, case_id: int, stage: str, outcome: str,
                     result: Mapping[str, Any], *, state: str | None = None) -> None:
        """Store (replace) what ``stage`` found for a case; optionally move its state on."""

    @abc.abstractmethod
    def stage_done(self, case_id: int, stage: str) -> bool: ...

    @abc.abstractmethod
    def get_case(self, case_id: int) -> Case | None: ...

    @abc.abstractmethod
    def list_cases(self, *, limit: int = 50, offset: int = 0) -> list[Case]: ...

    @abc.abstractmethod
    def count_cases(self) -> int: ...

    # log index -------------------------------------------------------------
    @abc.abstractmethod
    def add_events(self, events: Iterable[LogEvent]) -> int:
        """Join ``events`` into traces and merge them into the index; returns traces written.

        Any batching is correct (a message's lines may come in several calls); importers that
        keep an ``Assembler`` across batches call ``add_traces`` directly, which is cheaper.
        """

    @abc.abstractmethod
    def add_traces(self, chunks: Sequence[Any], *,
                   checkpoint: tuple[str, int, str] | None = None) -> int:
        """Merge assembled ``TraceChunk``s; record ``(fingerprint, position, path)`` in the
        same transaction so a restart neither loses nor repeats lines."""

    @abc.abstractmethod
    def log_checkpoint(self, fingerprint: str) -> int:
        """How far the stream with this fingerprint was indexed (0: not at all)."""

    @abc.abstractmethod
    def search(self, query: LogQuery) -> list[MessageTrace]:
        """The messages matching ``query``, newest first, each with its recipients and
        its timeline of events."""

    @abc.abstractmethod
    def purge(self, before: datetime) -> int:
        """Delete messages whose last line is older than ``before``; returns how many."""

    @contextlib.contextmanager
    def bulk_load(self) -> Iterator[None]:
        """A large import follows: an implementation may defer its search indexes' upkeep
        (and must have rebuilt them when the block ends, even on error)."""
        yield


@dataclass(frozen=True, slots=True)
class LogQuery:
    """A search of the mail-log index; every field set narrows it (they are ANDed).

    ``sender``/``recipient``: an address, or ``@domain`` for any address of that domain;
    ``message_id`` with or without ``<>``; ``queue_id``: any id the message is known by (its
    own, the next hop's, the NDR it caused, a filter's session or message id);
    ``client_ip``: an address or a CIDR network; ``client_host``: a host name suffix
    (``example.com`` matches ``mx1.example.com``); ``since``/``until``: the message was seen
    (first to last line) within that time; ``status``: the message's outcome or any
    recipient's (``sent deferred bounced expired rejected discarded held``); newest first.
    """

    sender: str = ""
    recipient: str = ""
    message_id: str = ""
    queue_id: str = ""
    client_ip: str = ""
    client_host: str = ""
    host: str = ""
    since: datetime | None = None
    until: datetime | None = None
    status: str = ""
    limit: int = 100


def open_store(store_type: str, path: str, **options: Any) -> Store:
    """Create (not yet set up) the store implementation ``store_type`` names."""
    implementations = {"sqlite": ("ndrtrack.store.sqlite", "SqliteStore")}
    try:
        module_name, class_name = implementations[store_type]
    except KeyError:
        raise ValueError(f"unknown store type {store_type!r}") from None
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(path, **options)
