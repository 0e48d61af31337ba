"""Logging: one line per event, text or JSON, written off the event loop.

Records go through a bounded queue to a listener thread that writes them, so a slow stderr
(journald under load, a full pipe) never blocks the event loop.  When the queue is full a
record is dropped and counted rather than stalling SMTP sessions.  Context such as the spool
id travels as ``extra={"spool_id": ...}`` and is printed in both formats.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.handlers
import queue
import sys
from datetime import UTC, datetime
from typing import Any

from ndrtrack.config import LoggingConfig
from ndrtrack.metrics import LOG_RECORDS_DROPPED

CONTEXT_KEYS = ("spool_id", "case_id", "peer", "source", "queue_id")

_listener: _Listener | None = None


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        context = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_KEYS
                           if getattr(record, k, None) not in (None, ""))
        line = f"{stamp} {record.levelname.lower()} {record.name}: {record.getMessage()}"
        if context:
            line += f" [{context}]"
        if record.exc_text:
            line += " | " + record.exc_text.replace("\n", " | ")
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value not in (None, ""):
                data[key] = value
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


class _Listener(logging.handlers.QueueListener):
    def enqueue_sentinel(self) -> None:
        """Wait for room: a full queue at stop or SIGHUP must not raise (the base class would)."""
        self.queue.put(self._sentinel)  # type: ignore[attr-defined]  # typeshed lacks both


class _DroppingQueueHandler(logging.handlers.QueueHandler):

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """Merge args and render the traceback now (it cannot cross threads), keep the rest."""
        record = copy.copy(record)
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            LOG_RECORDS_DROPPED.inc()


def configure_logging(config: LoggingConfig, stream: Any = None) -> None:
    """(Re)configure the ``ndrtrack`` loggers; safe to call again on SIGHUP."""
    global _listener
    if _listener is not None:
        _listener.stop()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if config.format == "json" else TextFormatter())
    q: queue.Queue[logging.LogRecord] = queue.Queue(maxsize=10000)
    _listener = _Listener(q, handler, respect_handler_level=False)
    _listener.start()
    root = logging.getLogger("ndrtrack")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(_DroppingQueueHandler(q))
    root.setLevel(config.level.upper())
    root.propagate = False


def shutdown_logging() -> None:
    """Flush what is queued (at exit)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
