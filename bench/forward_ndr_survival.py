"""How much of an NDR survives being forwarded: every bounce of ../shared/corpus/bounces is
forwarded in each client layout (tests/e2e/parse_forward_layouts.py: attached, base64,
.eml, nested, inline Outlook/Gmail/Thunderbird/Apple) and parsed again.

Baseline in the same run: the NDR parsed as it was sent.  For each layout it prints the
share of NDRs whose recipient set survives, and whose (recipient, status, reply code) set
survives exactly.  Inline layouts lose the NDR's own headers, so formats recognised only by
header (X-Google-*, vendor X- fields) cannot survive them; the misses are listed.

Usage: ``python bench/forward_ndr_survival.py [BOUNCES_DIR]``
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from parse_forward_layouts import LAYOUTS  # noqa: E402

from ndrtrack.parse.api import parse_bytes  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "corpus" / "bounces"


def triples(raw: bytes) -> set[tuple[str, str, str]]:
    result = parse_bytes(raw)
    if result.bounce is None:
        return set()
    return {(s.recipient.lower(), s.status, s.reply_code) for s in result.bounce.statuses}


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else DEFAULT
    counts: Counter[tuple[str, str]] = Counter()
    misses: dict[str, list[str]] = defaultdict(list)
    seconds: Counter[str] = Counter()
    base = 0
    for path in sorted(folder.glob("*.eml")):
        raw = path.read_bytes()
        start = time.perf_counter()
        reference = triples(raw)
        seconds["as sent"] += time.perf_counter() - start
        if not reference:
            continue
        base += 1
        for name, layout in LAYOUTS.items():
            forward = layout(raw)
            start = time.perf_counter()
            got = triples(forward)
            seconds[name] += time.perf_counter() - start
            same_recipients = {t[0] for t in got} == {t[0] for t in reference}
            counts[(name, "recipients")] += same_recipients
            counts[(name, "exact")] += got == reference
            if not same_recipients:
                misses[name].append(path.name)
    print(f"{base} NDRs with recipients (parsed as sent in {seconds['as sent']:.2f} s)")
    print(f"{'layout':20} {'recipients':>10} {'exact':>7} {'seconds':>8}")
    for name in LAYOUTS:
        print(f"{name:20} {counts[(name, 'recipients')] / base:10.1%} "
              f"{counts[(name, 'exact')] / base:7.1%} {seconds[name]:8.2f}")
    for name, files in misses.items():
        print(f"missed by {name}: {' '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
