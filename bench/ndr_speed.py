"""How fast the NDR decoder reads real bounces, measured beside Sisimai in the same run.

Usage: python bench/ndr_speed.py [FOLDER] [--rounds N] [--no-sisimai]

Both decoders get the same files, read into memory first, decode them once untimed (warm-up:
imports, regex compilation, Sisimai's lazily loaded modules), then ``rounds`` times
in one process (Python: ``decode_bytes`` = MIME parse into the compat32 tree by
``parse/mime.py`` + format dispatch + reason classification; Sisimai: ``Sisimai->make(\\$text)``
through ``bench/sisimai_driver.pl``).  Prints emails/s for both and the ratio (target:
ndrtrack ≥ 2× Sisimai), by wall clock and by CPU time: on a shared machine the CPU figures
are the steadier comparison.  Also timed: ``parse_bytes``, the daemon's whole parse stage
(unwrapping forwards + decode + plain-language explanations), which Sisimai has no match for.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ndrtrack.parse.api import parse_bytes
from ndrtrack.parse.decode import decode_bytes

HERE = Path(__file__).resolve().parent
DEFAULT_FOLDER = HERE.parents[1] / "shared" / "corpus" / "bounces"
_RESULT = re.compile(r"files=(\d+) rounds=(\d+) seconds=([\d.]+) cpu=([\d.]+) records=(\d+)")


class Rate:
    """Emails per second by wall clock and by CPU time (the fairer figure on a shared host)."""

    def __init__(self, emails: int, wall: float, cpu: float, records: int) -> None:
        self.wall = emails / wall
        self.cpu = emails / cpu if cpu > 0 else float("inf")
        self.records = records


def timed(function: Callable[[bytes], Any], count: Callable[[Any], int], files: list[Path],
          rounds: int) -> Rate:
    """``function`` on the files from memory: one untimed warm-up round (imports, regex
    compilation) that counts records, then ``rounds`` timed rounds."""
    data = [path.read_bytes() for path in files]
    records = sum(count(function(raw)) for raw in data)
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        for raw in data:
            function(raw)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return Rate(len(data) * rounds, wall, cpu, records)


def python_rate(files: list[Path], rounds: int) -> Rate:
    """ndrtrack's decoder on the files."""
    return timed(decode_bytes, lambda bounce: len(bounce.statuses), files, rounds)


def stage_rate(files: list[Path], rounds: int) -> Rate:
    """The daemon's parse stage (``parse_bytes``) on the same files, the same way."""
    return timed(parse_bytes, lambda result: len(result.explanations), files, rounds)


def sisimai_rate(files: list[Path], rounds: int) -> Rate | None:
    """Sisimai on the same files, or None when perl or Sisimai is missing."""
    perl = shutil.which("perl")
    if perl is None:
        return None
    command = [perl, str(HERE / "sisimai_driver.pl"), str(rounds), *map(str, files)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    match = _RESULT.search(done.stdout)
    if done.returncode != 0 or match is None:
        print(f"sisimai failed: {done.stderr.strip()[:500]}", file=sys.stderr)
        return None
    count, done_rounds, seconds, cpu, records = match.groups()
    emails = int(count) * int(done_rounds)
    return Rate(emails, float(seconds), float(cpu), int(records) // int(done_rounds))


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
    ours = python_rate(files, args.rounds)
    print(f"ndrtrack: {ours.wall:7.0f} emails/s wall, {ours.cpu:7.0f} emails/s CPU "
          f"({ours.records} records per round)")
    stage = stage_rate(files, args.rounds)
    print(f"  parse_bytes (unwrap+decode+explain): {stage.wall:7.0f} emails/s wall, "
          f"{stage.cpu:7.0f} emails/s CPU")
    if args.no_sisimai:
        return 0
    theirs = sisimai_rate(files, args.rounds)
    if theirs is None:
        print("sisimai: not available")
        return 1
    print(f"sisimai:  {theirs.wall:7.0f} emails/s wall, {theirs.cpu:7.0f} emails/s CPU "
          f"({theirs.records} records per round)")
    print(f"ratio:    {ours.wall / theirs.wall:7.2f}x wall, {ours.cpu / theirs.cpu:7.2f}x CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
