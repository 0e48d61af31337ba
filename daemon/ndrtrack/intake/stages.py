"""The runner's pipeline: a registry of stages that other areas extend without touching it.

A stage is a synchronous function ``run(ctx) -> dict`` run in a worker thread for one spool
entry; the dict it returns is stored as the stage's result on the case (JSON).  Stages are
idempotent by spool id: the runner skips a stage already recorded ``ok`` for the case, so an
entry taken up again after a crash (at-least-once processing) never does a stage twice.

To add a stage, write a module exposing ``STAGE = Stage(name, run)`` (or ``STAGES``, a tuple)
and append the module's name to ``STAGE_MODULES``; the order there is the pipeline's order.
The first stage, ``case``, records the case and sets ``ctx.case_id`` for those after it.

Some stages load what they need on their first entry (the NDR decoder imports every format
module and reads the status-code tables: ~80 ms of CPU).  ``WARM_UPS`` names that work so
the runner does it once at start-up, before the listeners open, instead of on the first
entry — which usually arrives while the intake is busy.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ndrtrack.config import Config
from ndrtrack.model import SpoolEntry
from ndrtrack.store.base import Store

#: Modules providing ``STAGE`` or ``STAGES``, in pipeline order.
STAGE_MODULES: tuple[str, ...] = (
    "ndrtrack.intake.record",
    "ndrtrack.parse.stage",
)

#: What the stages otherwise load on their first entry: ``module`` (imported) or
#: ``module:function`` (imported, then called once without arguments).  Each must be cheap to
#: repeat and free of side effects beyond caching.
WARM_UPS: tuple[str, ...] = (
    "ndrtrack.parse.decode",           # the decoder and, through it, every format module
    "ndrtrack.parse.headers",          # read from the original message's headers
    "ndrtrack.parse.codes:knowledge",  # the status-code and reason tables (YAML)
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StageContext:
    """What a stage gets: the entry, its raw bytes, the store, the case and the config."""

    entry: SpoolEntry
    message: bytes
    store: Store
    config: Config
    case_id: int | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # earlier stages, this run


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    run: Callable[[StageContext], dict[str, Any]]
    state: str | None = None  # the case's state once this stage succeeded (None: unchanged)


def load_stages(modules: tuple[str, ...] = STAGE_MODULES) -> tuple[Stage, ...]:
    """Import the stage modules; a duplicated stage name is a programming error."""
    stages: list[Stage] = []
    for name in modules:
        module = importlib.import_module(name)
        found = getattr(module, "STAGES", None) or (module.STAGE,)
        stages.extend(found)
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate stage names in {names}")
    return tuple(stages)


def warm_up(names: tuple[str, ...] = WARM_UPS) -> list[str]:
    """Do the stages' first-entry work now; return what failed (logged, never raised).

    A failure here is no reason to stop the daemon: the stage concerned fails on its entry
    as it would have anyway, and that entry is retried or shunted as usual.
    """
    failed = []
    for name in names:
        module_name, _, function = name.partition(":")
        try:
            module = importlib.import_module(module_name)
            if function:
                getattr(module, function)()
        except Exception:
            log.exception("runner warm-up: %s failed", name)
            failed.append(name)
    return failed
