"""Score the NDR decoder against a labelled folder of real bounces.

Usage: python bench/ndr_accuracy.py [FOLDER] [--labels FILE] [--misses]

Labels are JSON lines ``{file, format, category, recipient, status, reply_code, reason,
permanent}`` (one per expected record; see the corpus README).  A predicted record matches a
label when file and recipient agree; precision/recall/F1 are over those pairs, and status,
reply-code, reason and permanent accuracy over the matched pairs.  Printed per format family
(the label's ``format``) and overall, followed by the files that produced no record.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ndrtrack.model import Bounce
from ndrtrack.parse.decode import decode_bytes

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "bounces"
FIELDS = ("status", "reply_code", "reason", "permanent")


@dataclass
class Tally:
    labels: int = 0
    predicted: int = 0
    matched: int = 0
    right: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))

    def add(self, other: Tally) -> None:
        self.labels += other.labels
        self.predicted += other.predicted
        self.matched += other.matched
        for key in FIELDS:
            self.right[key] += other.right[key]

    def scores(self) -> dict[str, float]:
        precision = self.matched / self.predicted if self.predicted else 0.0
        recall = self.matched / self.labels if self.labels else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out = {"precision": precision, "recall": recall, "f1": f1}
        for key in FIELDS:
            out[key] = self.right[key] / self.matched if self.matched else 0.0
        return out


def predictions(bounce: Bounce) -> dict[str, dict[str, object]]:
    """recipient → predicted values for one decoded message."""
    found: dict[str, dict[str, object]] = {}
    for status in bounce.statuses:
        found.setdefault(
            status.recipient.lower(),
            {
                "status": status.status,
                "reply_code": status.reply_code,
                "reason": status.reason,
                "permanent": status.permanent,
            },
        )
    return found


def load_labels(path: Path) -> dict[str, list[dict[str, object]]]:
    labels: dict[str, list[dict[str, object]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            labels[row["file"]].append(row)
    return labels


def score(
    folder: Path, labels: dict[str, list[dict[str, object]]], misses: list[str]
) -> tuple[dict[str, Tally], list[str]]:
    """Per-family tallies and the labelled files that gave no record."""
    families: dict[str, Tally] = defaultdict(Tally)
    silent: list[str] = []
    for name, rows in sorted(labels.items()):
        path = folder / name
        bounce = decode_bytes(path.read_bytes())
        predicted = predictions(bounce)
        tally = families[str(rows[0]["format"])]
        tally.labels += len(rows)
        tally.predicted += len(predicted)
        if not predicted:
            silent.append(f"{name} kind={bounce.kind.value} errors={list(bounce.errors)}")
        for row in rows:
            got = predicted.get(str(row["recipient"]).lower())
            if got is None:
                misses.append(
                    f"{name}: missing recipient {row['recipient']} (got {sorted(predicted)})"
                )
                continue
            tally.matched += 1
            for key in FIELDS:
                if got[key] == row[key]:
                    tally.right[key] += 1
                else:
                    misses.append(
                        f"{name}: {key} want {row[key]!r} got {got[key]!r} [{bounce.format}]"
                    )
        extra = set(predicted) - {str(r["recipient"]).lower() for r in rows}
        for recipient in sorted(extra):
            misses.append(f"{name}: extra recipient {recipient}")
    return families, silent


def report(families: dict[str, Tally], silent: list[str], out=sys.stdout) -> dict[str, float]:  # noqa: ANN001
    columns = ("prec", "rec", "f1", "status", "reply", "reason", "perm")
    head = f"{'family':28} {'n':>4} " + " ".join(f"{c:>6}" for c in columns)
    print(head, file=out)
    total = Tally()
    for name, tally in sorted(families.items()):
        total.add(tally)
        s = tally.scores()
        print(
            f"{name:28} {tally.labels:4} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} "
            f"{s['status']:6.3f} {s['reply_code']:6.3f} {s['reason']:6.3f} {s['permanent']:6.3f}",
            file=out,
        )
    s = total.scores()
    print("-" * len(head), file=out)
    print(
        f"{'ALL':28} {total.labels:4} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} "
        f"{s['status']:6.3f} {s['reply_code']:6.3f} {s['reason']:6.3f} {s['permanent']:6.3f}",
        file=out,
    )
    print(f"files with no output: {len(silent)}", file=out)
    for line in silent:
        print(f"  {line}", file=out)
    return s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--labels", type=Path, default=None, help="default: FOLDER/labels.jsonl")
    parser.add_argument("--misses", action="store_true", help="list every disagreement")
    args = parser.parse_args(argv)
    labels = load_labels(args.labels or args.folder / "labels.jsonl")
    misses: list[str] = []
    families, silent = score(args.folder, labels, misses)
    report(families, silent)
    if args.misses:
        print("\n".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
