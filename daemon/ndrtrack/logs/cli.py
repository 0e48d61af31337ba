"""``ndrtrack logs import|search|purge``: fill, query and trim the mail-log index."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta

from ndrtrack.config import Config, load_config
from ndrtrack.errors import ConfigError
from ndrtrack.model import MessageTrace, to_jsonable
from ndrtrack.store.base import LogQuery, Store, open_store

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FORMATS = ("auto", "syslog", "postfix", "exim", "sendmail", "smtpf", "exchange", "journal")
STATUSES = ("sent", "deferred", "bounced", "expired", "rejected", "discarded", "held",
            "suppressed", "accepted")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ndrtrack.cli import add_config_option

    logs = subparsers.add_parser("logs", help="index and search the mail logs")
    sub = logs.add_subparsers(dest="logs_command", metavar="ACTION", required=True)

    imp = sub.add_parser("import", help="index log files (plain, .gz, .bz2, .xz), dirs or -")
    imp.add_argument("paths", nargs="+", metavar="FILE|DIR|-")
    imp.add_argument("--format", choices=FORMATS, default="auto",
                     help="format of the lines (default: by program name / first lines)")
    imp.add_argument("--host", default="", help="host name for lines that carry none")
    add_config_option(imp)
    imp.set_defaults(func=cmd_import)

    search = sub.add_parser("search", help="find messages in the index")
    search.add_argument("--sender", default="", help="address or @domain")
    search.add_argument("--recipient", default="", help="address or @domain")
    search.add_argument("--message-id", default="")
    search.add_argument("--queue-id", default="", help="queue id, or a filter's session id")
    search.add_argument("--client-ip", default="", help="address or CIDR network")
    search.add_argument("--client-host", default="", help="host name suffix")
    search.add_argument("--host", default="", help="only this gateway")
    search.add_argument("--since", default="", help="ISO time or relative (30m, 2h, 7d)")
    search.add_argument("--until", default="", help="ISO time or relative (30m, 2h, 7d)")
    search.add_argument("--status", default="", choices=("", *STATUSES))
    search.add_argument("--limit", type=int, default=50)
    search.add_argument("--json", action="store_true", help="one JSON object per message")
    add_config_option(search)
    search.set_defaults(func=cmd_search)

    purge = sub.add_parser("purge", help="delete messages older than the retention")
    purge.add_argument("--days", type=int, default=0,
                       help="override logs.retention_days")
    add_config_option(purge)
    purge.set_defaults(func=cmd_purge)


def _open(config: Config) -> Store:
    store = open_store(config.store.type, config.store.path)
    store.setup()
    return store


def parse_when(text: str, now: datetime | None = None) -> datetime | None:
    """``2h``/``30m``/``7d`` before now, or an ISO 8601 time (UTC when it has no zone)."""
    if not text:
        return None
    now = now or datetime.now(UTC)
    m = _RELATIVE.match(text.strip())
    if m:
        return now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use ISO 8601 or e.g. 30m, 2h, 7d)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_import(args: argparse.Namespace) -> int:
    from ndrtrack.errors import LogFormatError
    from ndrtrack.logs.importer import Importer

    config = load_config(args.config)
    store = _open(config)
    progress = _progress if sys.stderr.isatty() else None
    importer = Importer(store=store, timezone=config.logs.timezone, fmt=args.format,
                        host=args.host, progress=progress)
    failed = False
    try:
        for path in args.paths:
            try:
                results = importer.import_path(path)
            except LogFormatError as exc:
                print(f"ndrtrack: {exc}", file=sys.stderr)
                failed = True
                continue
            for r in results:
                rate = r.lines / r.seconds if r.seconds > 0 else 0.0
                skipped = f", {r.skipped_bytes} bytes already indexed" if r.skipped_bytes else ""
                if progress is not None:
                    print("\r\033[K", end="", file=sys.stderr)
                print(f"{r.source}: {r.lines} lines, {r.traces} trace updates, "
                      f"{rate:,.0f} lines/s{skipped}")
    finally:
        store.close()
    return 1 if failed else 0


def _progress(path: str, lines: int, seconds: float) -> None:
    rate = lines / seconds if seconds > 0 else 0.0
    print(f"\r\033[K{path}: {lines:,} lines, {rate:,.0f} lines/s", end="", file=sys.stderr,
          flush=True)


def cmd_search(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        query = LogQuery(sender=args.sender, recipient=args.recipient,
                         message_id=args.message_id, queue_id=args.queue_id,
                         client_ip=args.client_ip, client_host=args.client_host, host=args.host,
                         since=parse_when(args.since), until=parse_when(args.until),
                         status=args.status, limit=args.limit)
        store = _open(config)
        try:
            traces = store.search(query)
        finally:
            store.close()
    except ValueError as exc:
        raise ConfigError([f"logs search: {exc}"]) from None
    for trace in traces:
        if args.json:
            print(json.dumps(trace_json(trace), ensure_ascii=False))
        else:
            print(timeline(trace))
    return 0


def trace_json(trace: MessageTrace) -> dict[str, object]:
    """The ``--json`` shape: one object per message, recipients with their outcome."""
    return {
        "host": trace.host, "queue_ids": list(trace.queue_ids), "message_id": trace.message_id,
        "sender": trace.sender, "client_ip": trace.client_ip, "client_host": trace.client,
        "first_at": to_jsonable(trace.first_at), "last_at": to_jsonable(trace.last_at),
        "outcome": trace.outcome,
        "recipients": [{"recipient": r.recipient, "orig_recipient": r.orig_recipient,
                        "status": r.status, "dsn": r.dsn, "relay": r.relay, "reply": r.reply,
                        "at": to_jsonable(r.at)} for r in trace.recipients],
        "events": [{"at": to_jsonable(e.at), "program": e.program, "kind": e.kind,
                    "text": e.text} for e in trace.events],
    }


def timeline(trace: MessageTrace) -> str:
    """A message as a person reads it: who, from where, what happened to each recipient."""
    ids = ", ".join(trace.queue_ids) or "no queue id"
    head = [f"== {trace.host} {ids}  [{trace.outcome or 'in progress'}]",
            f"   from <{trace.sender}>" + (f"  message-id <{trace.message_id}>"
                                           if trace.message_id else "")]
    if trace.client_ip:
        head.append(f"   client {trace.client or 'unknown'} [{trace.client_ip}]")
    for r in trace.recipients:
        orig = f" (was <{r.orig_recipient}>)" if r.orig_recipient else ""
        detail = " ".join(x for x in (r.dsn, r.relay and f"via {r.relay}") if x)
        head.append(f"   to <{r.recipient}>{orig}: {r.status} {detail}".rstrip())
        if r.reply:
            head.append(f"      {r.reply}")
    for e in trace.events:
        head.append(f"   {e.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} {e.program}: {e.text}")
    return "\n".join(head) + "\n"


def cmd_purge(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    days = args.days or config.logs.retention_days
    store = _open(config)
    try:
        removed = store.purge(datetime.now(UTC) - timedelta(days=days))
    finally:
        store.close()
    print(f"purged {removed} message traces older than {days} days")
    return 0
