"""``ndrtrack cases list|show``: read the cases the daemon recorded, for a person or as JSON."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from ndrtrack.cli import add_config_option
from ndrtrack.config import load_config
from ndrtrack.errors import NdrtrackError
from ndrtrack.store.base import Case, Store, open_store


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cases = subparsers.add_parser("cases", help="list and show recorded cases")
    sub = cases.add_subparsers(dest="cases_command", metavar="ACTION", required=True)

    listing = sub.add_parser("list", help="the most recent cases, newest first")
    add_config_option(listing)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help="one case with everything its stages found")
    add_config_option(show)
    show.add_argument("case_id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)


def _open(args: argparse.Namespace) -> Store:
    config = load_config(args.config)
    store = open_store(config.store.type, config.store.path)
    store.setup()
    return store


def case_json(case: Case) -> dict[str, Any]:
    data = asdict(case)
    data["stages"] = dict(case.stages)
    return data


def cmd_list(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        cases = store.list_cases(limit=args.limit)
    finally:
        store.close()
    for case in cases:
        if args.json:
            print(json.dumps(case_json(case), ensure_ascii=False))
        else:
            print(f"{case.id:>6}  {case.received_at[:19]}  {case.state:<10} {case.source:<7} "
                  f"{case.mail_from or '<>'} → {', '.join(case.rcpt_tos)}  "
                  f"{case.headers.subject!r}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        case = store.get_case(args.case_id)
    finally:
        store.close()
    if case is None:
        raise NdrtrackError(f"no case {args.case_id}")
    if args.json:
        print(json.dumps(case_json(case), ensure_ascii=False, indent=2))
        return 0
    print(_describe(case))
    return 0


def _describe(case: Case) -> str:
    lines = [
        f"case {case.id} (spool {case.spool_id}) — {case.state}",
        f"  received  {case.received_at} via {case.source} from {case.peer or '-'}"
        f" (HELO {case.helo or '-'})",
        f"  envelope  MAIL FROM:<{case.mail_from}> RCPT TO:{', '.join(case.rcpt_tos)}",
        f"  From      {case.headers.from_header}",
        f"  To        {case.headers.to_header}",
        f"  Subject   {case.headers.subject}",
        f"  Date      {case.headers.date}",
        f"  Message-ID {case.headers.message_id}",
    ]
    for name, stage in case.stages.items():
        lines.append(f"  stage {name}: {stage['outcome']} at {stage['done_at']}")
        summary = stage["result"].get("summary") if isinstance(stage["result"], dict) else None
        if summary:
            lines.extend(f"    {line}" for line in str(summary).splitlines())
        else:
            rendered = json.dumps(stage["result"], ensure_ascii=False, indent=2)
            lines.extend(f"    {line}" for line in rendered.splitlines())
    return "\n".join(lines)
