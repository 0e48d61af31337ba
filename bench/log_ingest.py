#!/usr/bin/env python3
"""Benchmark: import a generated Postfix log into a fresh index, beside the baselines.

Prints, for the same file in the same run: ``grep -c`` (the raw scan limit), ``pflogsumm``
(Debian's Postfix log summariser) and ``ndrtrack logs import`` — lines/s and peak RSS of
each process (from ``wait4``).  Targets (issue 4): ≥ 150,000 lines/s, faster than pflogsumm,
peak RSS < 300 MB at 10M lines (memory flat in the file's size).  The machine is shared:
run it when it is quiet and report the load average printed with the numbers.

    .venv/bin/python bench/log_ingest.py --lines 1000000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_postfix_log import generate  # noqa: E402


def run(cmd: list[str], **kwargs: object) -> tuple[float, int, int]:
    """(seconds, exit status, peak RSS in MiB) of one child process."""
    started = time.perf_counter()
    kwargs.setdefault("stdout", subprocess.DEVNULL)  # (grep needs a pipe: see log_search)
    proc = subprocess.Popen(cmd, **kwargs)  # type: ignore[call-overload]
    if proc.stdout is not None:
        proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, proc.returncode, usage.ru_maxrss // 1024


def ensure_log(path: Path, lines: int, seed: int) -> None:
    if path.exists():
        return
    print(f"generating {lines:,} lines -> {path}", flush=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.writelines(generate(lines, seed))
    tmp.rename(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", default="/var/tmp/ndrtrack-bench")
    ap.add_argument("--skip-pflogsumm", action="store_true")
    args = ap.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"postfix-{args.lines}-{args.seed}.log"
    ensure_log(log, args.lines, args.seed)
    size_mb = log.stat().st_size / 2**20
    print(f"file: {log} ({args.lines:,} lines, {size_mb:,.0f} MiB); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    with tempfile.TemporaryDirectory(dir=work) as tmp:
        config = Path(tmp) / "ndrtrack.yaml"
        config.write_text(f"store:\n  path: {tmp}/index.sqlite3\n")
        ndrtrack = [sys.executable, "-m", "ndrtrack.cli", "logs", "import", "-c", str(config),
                    str(log)]
        seconds, status, rss = run(ndrtrack)
        if status != 0:
            print("import failed", file=sys.stderr)
            return 1
        index_mb = sum(f.stat().st_size for f in Path(tmp).glob("index.sqlite3*")) / 2**20
        results = [("ndrtrack logs import", seconds, rss)]
        grep_s, _, grep_rss = run(["grep", "-c", "postfix/", str(log)],
                                  stdout=subprocess.PIPE)
        results.append(("grep -c", grep_s, grep_rss))
        if not args.skip_pflogsumm and shutil.which("pflogsumm"):
            pfl_s, _, pfl_rss = run(["pflogsumm", str(log)])
            results.append(("pflogsumm", pfl_s, pfl_rss))

    print(f"{'':24} {'seconds':>9} {'lines/s':>12} {'peak RSS':>9}")
    for name, secs, mem in results:
        print(f"{name:24} {secs:9.2f} {args.lines / secs:12,.0f} {mem:7d} MB")
    print(f"index size: {index_mb:,.0f} MiB; load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
