"""``ndrtrack parse --jsonl FILE...`` and ``ndrtrack explain FILE``.

``parse`` prints the machine contract of DESIGN.md: one JSON object per bounced recipient
(or one object with ``kind`` for a message that is not a bounce).  ``explain`` tells a
person the same in words: what happened, to whom, what the code means, who must act and
what to do, and where in the forward the NDR was found.  Both read files as they arrived
(``.eml``; ``-`` for standard input) and exit 0 unless a file cannot be read (1, after
printing every file that could).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ndrtrack.cli import add_config_option
from ndrtrack.model import MessageKind
from ndrtrack.parse.api import ParseResult, parse_bytes, to_records
from ndrtrack.parse.codes import ACTOR_WORDS

KIND_WORDS = {
    MessageKind.BOUNCE: "a non-delivery report (bounce)",
    MessageKind.DELAYED: "a delay notice (the message is still being retried)",
    MessageKind.DELIVERED: "a delivery confirmation",
    MessageKind.FEEDBACK: "a spam complaint (feedback loop report)",
    MessageKind.AUTOREPLY: "an automatic reply",
    MessageKind.RESENT: "a forwarded or re-sent copy of a message, without an NDR",
    MessageKind.NOT_A_BOUNCE: "not a bounce",
}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parse = subparsers.add_parser(
        "parse", help="decode NDRs (also inside forwards) into one JSON object per recipient",
        description="Decode NDR files, unwrapping forwards; prints the --jsonl contract.")
    add_config_option(parse)
    parse.add_argument("--jsonl", action="store_true", default=True,
                       help="one JSON object per line (the default and only output form)")
    parse.add_argument("files", nargs="+", metavar="FILE", help="message files ('-' = stdin)")
    parse.set_defaults(func=cmd_parse)

    explain = subparsers.add_parser(
        "explain", help="explain an NDR in plain words: what happened and who must act",
        description="Explain one NDR (or forwarded NDR) for a person.")
    add_config_option(explain)
    explain.add_argument("file", metavar="FILE", help="message file ('-' = stdin)")
    explain.set_defaults(func=cmd_explain)


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def cmd_parse(args: argparse.Namespace) -> int:
    failed = False
    out = sys.stdout
    for name in args.files:
        try:
            raw = _read(name)
        except OSError as exc:
            print(f"ndrtrack parse: {name}: {exc.strerror or exc}", file=sys.stderr)
            failed = True
            continue
        for record in to_records(parse_bytes(raw), name):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()
    return 1 if failed else 0


def cmd_explain(args: argparse.Namespace) -> int:
    try:
        raw = _read(args.file)
    except OSError as exc:
        print(f"ndrtrack explain: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(parse_bytes(raw), args.file))
    return 0


def render(result: ParseResult, name: str) -> str:
    """The explanation for a person, as plain text."""
    lines = [f"{name}: {KIND_WORDS.get(result.kind, result.kind.value)}"]
    if result.layer:
        who = f" forwarded by {result.forwarder}" if result.forwarder else ""
        depth = "1 layer" if result.layer == 1 else f"{result.layer} layers"
        lines.append(f"Found inside the message, {depth} down ({result.via}){who}.")
    bounce = result.bounce
    if bounce is not None:
        lines.extend(_bounce_lines(result))
    elif result.original is not None:
        original = result.original
        lines.append("The forwarded message:")
        lines.extend(f"  {label}: {value}" for label, value in (
            ("From", original.from_header or original.sender), ("Subject", original.subject),
            ("Date", original.date.isoformat() if original.date else ""),
            ("Message-ID", original.message_id)) if value)
        if original.received:
            first = next((hop for hop in reversed(original.received)
                          if hop.from_ip or hop.from_host), original.received[-1])
            lines.append(f"  It carries {len(original.received)} Received: header(s); the "
                         f"earliest named sending server is {first.from_host or 'unknown'}"
                         f" [{first.from_ip or '?'}].")
    for error in result.errors:
        lines.append(f"(parse problem: {error})")
    return "\n".join(lines) + "\n"


def _bounce_lines(result: ParseResult) -> list[str]:
    bounce = result.bounce
    assert bounce is not None
    original = bounce.original
    lines = []
    if bounce.format:
        lines.append(f"Written by: {bounce.format}" + (
            f" at {bounce.reporting_mta}" if bounce.reporting_mta else ""))
    if original.subject or original.message_id:
        lines.append(f"About the message: {original.subject or '(no subject)'}"
                     + (f" <{original.message_id.strip('<>')}>" if original.message_id else ""))
    if original.sender:
        lines.append(f"Sent by: {original.sender}")
    for status, explanation in zip(bounce.statuses, result.explanations, strict=False):
        lines.append("")
        code = " ".join(x for x in (status.reply_code, status.status) if x)
        lines.append(f"Recipient {status.recipient}: {status.action} {code}".rstrip())
        if status.remote_mta:
            lines.append(f"  Answered by: {status.remote_mta}")
        if status.diagnostic:
            lines.append(f"  Server said: {status.diagnostic}")
        if status.reason:
            kind = "permanent" if status.permanent else "temporary"
            lines.append(f"  Reason: {status.reason} ({kind})")
        label = f"{explanation.provider} {explanation.code}".strip()
        lines.append(f"  What it means ({label}): {explanation.meaning}" if label
                     else f"  What it means: {explanation.meaning}")
        lines.append(f"  Who must act: {ACTOR_WORDS[explanation.actor]}")
        lines.append(f"  What to do: {explanation.action}")
    return lines
