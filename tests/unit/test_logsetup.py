"""Logging: one line per event (tracebacks folded), spool id in the line, JSON when asked."""

from __future__ import annotations

import io
import json
import logging

from ndrtrack.config import LoggingConfig
from ndrtrack.logsetup import configure_logging, shutdown_logging


def emit(config: LoggingConfig, records: int = 1, exception: bool = False) -> list[str]:
    stream = io.StringIO()
    configure_logging(config, stream=stream)
    log = logging.getLogger("ndrtrack.test")
    for n in range(records):
        log.info("stored %d", n, extra={"spool_id": "S1"})
    if exception:
        try:
            raise RuntimeError("disk\nfull")
        except RuntimeError:
            log.exception("cannot store", extra={"spool_id": "S2"})
    shutdown_logging()
    return stream.getvalue().splitlines()


def test_text_lines_carry_the_spool_id_and_fold_tracebacks() -> None:
    lines = emit(LoggingConfig(), exception=True)
    assert len(lines) == 2
    assert lines[0].endswith("info ndrtrack.test: stored 0 [spool_id=S1]")
    assert "error ndrtrack.test: cannot store [spool_id=S2] | Traceback" in lines[1]
    assert "RuntimeError: disk" in lines[1]


def test_json_lines_parse() -> None:
    lines = emit(LoggingConfig(format="json"), exception=True)
    records = [json.loads(line) for line in lines]
    assert records[0]["message"] == "stored 0" and records[0]["spool_id"] == "S1"
    assert "RuntimeError" in records[1]["exception"]


def test_level_filters() -> None:
    assert emit(LoggingConfig(level="warning")) == []


def test_a_burst_beyond_the_queue_never_raises_at_reconfigure_or_stop() -> None:
    lines = emit(LoggingConfig(), records=30000)
    assert 0 < len(lines) <= 30000
