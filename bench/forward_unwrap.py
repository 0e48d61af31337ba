"""Measure the forward unwrapper on the forwards corpus (../shared/corpus/forwards).

For every sample whose source project states what the forwarded message is (sender, date,
subject, body), run the unwrapper exactly as the daemon does (the sample becomes the body of
an arriving message; its companion subject file, if any, becomes the Subject) and check
that the first embedded layer recovers:

- sender: the address (or, when the source gives none, the display name);
- date: non-empty, and equal after whitespace folding when the source gives the text;
- subject: equal after whitespace folding;
- body start: the first 60 characters of the body (whitespace folded) begin our body.

Samples the source marks as *not* forwarded must yield no layer (counted as negatives).
Attachments (rfc822, TNEF, .msg) are checked structurally: the embedded message is found
and its subject equals the one the corpus derived with olefile/email for it.

Usage: ``python bench/forward_unwrap.py [CORPUS_DIR]``; prints a table per shape/client and
the overall share of forwards fully recovered.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from collections import defaultdict
from email.message import Message
from pathlib import Path

from ndrtrack.parse.loose_dates import parse_loose_date
from ndrtrack.parse.unwrap import (
    UnwrapLog,
    header_text,
    iter_layers,
    message_text,
    parse_bytes_compat,
)

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "forwards"
BODY_PREFIX = 60
_ADDR = re.compile(r"[\w.+'-]+@[\w.-]+\.\w+")


def fold(text: str) -> str:
    return " ".join(str(text or "").split())


def arriving(path: Path, subject: str, form: str = "") -> bytes:
    """The sample as the daemon would receive it (a body text becomes a message body)."""
    raw = path.read_bytes()
    if path.suffix in (".eml", ".msg", ".tnef") or form.startswith(("full-eml", "eml")):
        if path.suffix == ".msg":
            return _wrap(raw, "application/vnd.ms-outlook", path.name)
        if path.suffix == ".tnef":
            return _wrap(raw, "application/ms-tnef", "winmail.dat")
        return raw
    ctype = "text/html" if path.suffix == ".html" else "text/plain"
    head = f"From: forwarder@example.org\nSubject: {subject}\nMIME-Version: 1.0\n"
    head += f'Content-Type: {ctype}; charset="utf-8"\nContent-Transfer-Encoding: 8bit\n\n'
    return head.encode() + raw


def _wrap(data: bytes, ctype: str, name: str) -> bytes:
    import base64

    body = base64.encodebytes(data).decode()
    return (f"From: forwarder@example.org\nSubject: fwd\nMIME-Version: 1.0\n"
            f"Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nsee\n"
            f"--B\nContent-Type: {ctype}; name=\"{name}\"\nContent-Transfer-Encoding: base64\n"
            f"Content-Disposition: attachment; filename=\"{name}\"\n\n{body}\n--B--\n").encode()


def embedded(raw: bytes) -> list[tuple[Message, str]]:
    """Every embedded layer, in the unwrapper's order."""
    log = UnwrapLog()
    return [(layer.message, layer.path) for layer in iter_layers(parse_bytes_compat(raw), log)
            if layer.depth >= 1]


def expectation(entry: dict) -> dict | None:
    """Normalise the sources' expectations to sender/date/subject/body (None = not scored)."""
    exp = entry["expected"]
    kind = entry["kind"]
    if kind.startswith("email-forward-parser"):
        if not exp.get("forwarded"):
            return {"negative": True}
        sender = exp.get("email.from") or {}
        return {"sender": sender.get("address") or sender.get("name") or "",
                "date": exp.get("email.date", ""), "subject": exp.get("email.subject", ""),
                "body": exp.get("email.body", ""), "subject_file": exp.get("subject_input_file")}
    if kind.startswith("quotequail"):
        if exp is None or exp.get("type") not in ("forward", "reply"):
            return {"negative": True} if exp is None else None
        addr = _ADDR.search(exp.get("from", ""))
        return {"sender": addr.group(0) if addr else exp.get("from", ""),
                "date": exp.get("date", ""), "subject": exp.get("subject", ""),
                "body": exp.get("text", "")}
    if "msg_tree" in (exp or {}) if isinstance(exp, dict) else False:
        inner = [line for line in exp["msg_tree"] if line.startswith("    class=")]
        if inner:
            m = re.search(r"subj='(.*)'", inner[0])
            return {"structural": True, "subject": m.group(1) if m else ""}
    return None


def check(layers: list[tuple[Message, str]], exp: dict) -> dict[str, bool]:
    """Score the first embedded layer (a reply's quoted message is not a forward)."""
    if exp.get("negative"):
        return {"negative": not layers or layers[0][1].endswith("inline-reply")}
    if exp.get("structural"):
        subjects = [fold(header_text(m, "Subject")) for m, _ in layers]
        return {"found": bool(layers), "subject": fold(exp["subject"]) in subjects}
    msg = layers[0][0] if layers else None
    if msg is None:
        return {k: False for k in ("sender", "date", "subject", "body") if k in exp}
    got = {"sender": header_text(msg, "From"), "date": header_text(msg, "Date"),
           "subject": header_text(msg, "Subject")}
    result = {}
    if exp.get("sender"):
        result["sender"] = exp["sender"].lower() in got["sender"].lower()
    if exp.get("date"):
        want = exp["date"]
        exact = fold(want) == fold(got["date"])
        result["date"] = bool(got["date"]) if want.startswith("<") else exact
        result["date_read"] = parse_loose_date(got["date"]) is not None
    if exp.get("subject"):
        result["subject"] = fold(exp["subject"]) == fold(got["subject"])
    if exp.get("body"):
        result["body"] = fold(message_text(msg)).startswith(fold(exp["body"])[:BODY_PREFIX])
    return result


def main(argv: list[str]) -> int:
    base = Path(argv[1]) if len(argv) > 1 else DEFAULT
    meta = {r["path"]: r for r in csv.DictReader(open(base / "SOURCES.tsv"), delimiter="\t")}
    rows: dict[str, list[dict[str, bool]]] = defaultdict(list)
    misses: list[str] = []
    seconds = 0.0
    seen: set[str] = set()
    for line in open(base / "expected.jsonl", encoding="utf-8"):
        entry = json.loads(line)
        exp = expectation(entry)
        if exp is None or entry["path"] in seen:
            continue
        seen.add(entry["path"])
        subject = ""
        if exp.get("subject_file"):
            subject = (base / exp["subject_file"].removeprefix("samples/")).read_text("utf-8")
        form = meta.get(entry["path"], {}).get("form", "")
        raw = arriving(base / entry["path"], subject.strip() or "Fwd: (see below)", form)
        start = time.perf_counter()
        layers = embedded(raw)
        seconds += time.perf_counter() - start
        result = check(layers, exp)
        m = meta.get(entry["path"], {})
        rows[f"{m.get('shape', '?')}/{m.get('client', '?')}"].append(result)
        if not _recovered(result):
            misses.append(f"  {entry['path']}: {result}")
    seconds += structural(base, meta, seen, rows, misses)
    return report(rows, misses, seconds)


def structural(base: Path, meta: dict, seen: set[str], rows: dict, misses: list[str]) -> float:
    """Attached forwards without field-level expectations: the embedded message is found
    (with a sender or subject), and the decoy bounce is not descended into."""
    seconds = 0.0
    for path, m in meta.items():
        if path in seen or m["shape"] not in ("attachment", "tnef") and m["role"] != (
                "distractor-ndr-of-forward"):
            continue
        raw = arriving(base / path, "Fwd: attached", m["form"])
        start = time.perf_counter()
        layers = embedded(raw)
        seconds += time.perf_counter() - start
        if m["role"].startswith("distractor"):
            result = {"decoy": not layers}
        else:
            result = {"found": any(header_text(msg, "From") or header_text(msg, "Subject")
                                   for msg, _ in layers)}
        rows[f"{m['shape']}/{m['client']}"].append(result)
        if not all(result.values()):
            misses.append(f"  {path}: {result}")
    return seconds


def _recovered(result: dict[str, bool]) -> bool:
    """Sender, date, subject and body start (the datetime reading is reported apart)."""
    return all(v for k, v in result.items() if k != "date_read")


def report(rows: dict[str, list[dict[str, bool]]], misses: list[str], seconds: float) -> int:
    total = ok = 0
    print(f"{'shape/client':32} {'n':>4} {'all':>6}  sender   date  subject  body"
          "  date→datetime")
    for key in sorted(rows):
        results = rows[key]
        n, full = len(results), sum(_recovered(r) for r in results)
        total, ok = total + n, ok + full

        def rate(field: str, results: list[dict[str, bool]] = results) -> str:
            have = [r[field] for r in results if field in r]
            return f"{sum(have) / len(have):6.0%}" if have else "     -"

        print(f"{key:32} {n:4} {full / n:6.0%}  {rate('sender')} {rate('date')} "
              f"{rate('subject'):>7} {rate('body')} {rate('date_read'):>9}")
    print(f"\nfully recovered: {ok}/{total} = {ok / max(total, 1):.1%} "
          f"(negatives count when no forward is reported); {seconds * 1000:.0f} ms unwrapping")
    if misses:
        print("misses:")
        print("\n".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
