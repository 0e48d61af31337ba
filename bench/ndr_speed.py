"""How fast the NDR decoder reads real bounces, measured beside Sisimai in the same run.

Usage: python bench/ndr_speed.py [FOLDER] [--rounds N] [--no-sisimai]

Both decoders get the same files, read into memory first, and decode them ``rounds`` times
in one process (Python: ``decode_bytes`` = compat32 MIME parse + format dispatch + reason
classification; Sisimai: ``Sisimai->make(\\$text)`` through ``bench/sisimai_driver.pl``).
Prints emails/s for both and the ratio (target: ndrtrack ≥ 2× Sisimai).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ndrtrack.parse.decode import decode_bytes

HERE = Path(__file__).resolve().parent
DEFAULT_FOLDER = HERE.parents[1] / "shared" / "corpus" / "bounces"
_RESULT = re.compile(r"files=(\d+) rounds=(\d+) seconds=([\d.]+) records=(\d+)")


def python_rate(files: list[Path], rounds: int) -> tuple[float, int]:
    """(emails/s, records per round) for ndrtrack's decoder."""
    data = [path.read_bytes() for path in files]
    records = 0
    for raw in data:  # warm-up round: imports, regex compilation
        records += len(decode_bytes(raw).statuses)
    started = time.perf_counter()
    for _ in range(rounds):
        for raw in data:
            decode_bytes(raw)
    elapsed = time.perf_counter() - started
    return len(data) * rounds / elapsed, records


def sisimai_rate(files: list[Path], rounds: int) -> tuple[float, int] | None:
    """(emails/s, records per round) for Sisimai, or None when perl/Sisimai is missing."""
    perl = shutil.which("perl")
    if perl is None:
        return None
    command = [perl, str(HERE / "sisimai_driver.pl"), str(rounds), *map(str, files)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    match = _RESULT.search(done.stdout)
    if done.returncode != 0 or match is None:
        print(f"sisimai failed: {done.stderr.strip()[:500]}", file=sys.stderr)
        return None
    count, done_rounds, seconds, records = match.groups()
    return int(count) * int(done_rounds) / float(seconds), int(records) // int(done_rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-sisimai", action="store_true")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.folder.rglob("*.eml") if p.is_file())
    if not files:
        print(f"no .eml files under {args.folder}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in files)
    print(f"data: {len(files)} files, {size / 1e6:.2f} MB, {args.rounds} rounds")
    ours, our_records = python_rate(files, args.rounds)
    print(f"ndrtrack: {ours:9.0f} emails/s  ({our_records} records per round)")
    if args.no_sisimai:
        return 0
    theirs = sisimai_rate(files, args.rounds)
    if theirs is None:
        print("sisimai: not available")
        return 1
    print(f"sisimai:  {theirs[0]:9.0f} emails/s  ({theirs[1]} records per round)")
    print(f"ratio:    {ours / theirs[0]:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
