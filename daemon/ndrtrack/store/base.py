"""The store interface: cases (what arrived and what the stages found) and the log index.

Implementations are picked by ``store.type`` in the config and imported only when used
(``open_store``), so a site without a server database never imports its driver.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ndrtrack.model import SpoolEntry


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


def open_store(store_type: str, path: str, **options: Any) -> Store:
    """Create (not yet set up) the store implementation ``store_type`` names."""
    implementations = {"sqlite": ("ndrtrack.store.sqlite", "SqliteStore")}
    try:
        module_name, class_name = implementations[store_type]
    except KeyError:
        raise ValueError(f"unknown store type {store_type!r}") from None
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(path, **options)
