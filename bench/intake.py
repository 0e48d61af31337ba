"""Benchmark: the durable SMTP intake against aiosmtpd's plain ``Sink`` handler, same run.

    .venv/bin/python bench/intake.py [-n 5000] [-c 8] [--size 10240] [--rounds 3]

Both servers run as subprocesses on loopback: the real daemon (``ndrtrack serve`` on a temp
config: every message fsync'd into the spool before the 250, the runner recording cases at
the same time) and a bare aiosmtpd ``SMTP(Sink())`` started the same way (``create_server``
in one loop), which stores nothing.  One asyncio client process sends N messages of SIZE
bytes over C parallel connections to each, one command at a time (aiosmtpd does not offer
PIPELINING).  Rounds alternate Sink and durable so that load from elsewhere on the machine
falls on both alike; it prints the medians, the ratio, the servers' CPU time per message
(less sensitive to that load than the rates) and the daemon's peak RSS (VmHWM).

Targets (2-core machine): >= 1,000 messages/s durable, >= 0.5x Sink, peak RSS < 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INTAKE = "ndr-track@bench.test"

SINK_SERVER = """
import asyncio, sys
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Sink(), hostname="sink.test", data_size_limit=None, loop=loop),
        "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_message(n: int, size: int) -> bytes:
    head = (f"From: Bench <bench@client.test>\r\nTo: {INTAKE}\r\nSubject: bench {n}\r\n"
            f"Date: Sat, 28 Nov 2026 04:00:00 +0000\r\nMessage-ID: <bench-{n}@client.test>\r\n"
            "\r\n").encode()
    line = b"x" * 76 + b"\r\n"
    return head + line * max(0, (size - len(head)) // len(line))


async def expect(reader: asyncio.StreamReader, code: bytes) -> None:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            break
    if not line.startswith(code):
        raise RuntimeError(f"expected {code!r}, got {line!r}")


async def connection(port: int, messages: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await expect(reader, b"220")
    writer.write(b"EHLO client.test\r\n")
    await expect(reader, b"250")
    rcpt = f"RCPT TO:<{INTAKE}>\r\n".encode()
    for data in messages:
        writer.write(b"MAIL FROM:<bench@client.test>\r\n")
        await expect(reader, b"250")
        writer.write(rcpt)
        await expect(reader, b"250")
        writer.write(b"DATA\r\n")
        await expect(reader, b"354")
        writer.write(data + b".\r\n")
        await expect(reader, b"250")
    writer.write(b"QUIT\r\n")
    await expect(reader, b"221")
    writer.close()


async def load(port: int, total: int, conns: int, size: int) -> float:
    messages = [make_message(n, size) for n in range(total)]
    started = time.perf_counter()
    await asyncio.gather(*(connection(port, messages[i::conns]) for i in range(conns)))
    return total / (time.perf_counter() - started)


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(100)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_daemon(workdir: Path, total: int, conns: int, size: int,
               log_level: str) -> tuple[float, float, int, float]:
    port = free_port()
    config = workdir / "ndrtrack.yaml"
    config.write_text(
        f"intake:\n  addresses: [{INTAKE}]\n"
        f"  smtp: {{host: 127.0.0.1, port: {port}, hostname: bench.test,"
        f" max_connections_per_client: {conns + 2}}}\n"
        f"spool: {{path: {workdir / 'spool'}}}\nstore: {{path: {workdir / 'db.sqlite3'}}}\n"
        f"http: {{enabled: false}}\nlogging: {{level: {log_level}}}\n")
    log = (workdir / "daemon.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "ndrtrack.cli", "serve", "-c", str(config)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        wait_port(port, proc)
        cpu = cpu_seconds(proc.pid)
        rate = asyncio.run(load(port, total, conns, size))
        cpu = cpu_seconds(proc.pid) - cpu
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
    # counted once the daemon stopped, so no entry is caught between two states
    stored = sum(len(os.listdir(workdir / "spool" / s)) for s in ("new", "processing", "done"))
    return rate, rss, stored, cpu / total


def run_sink(total: int, conns: int, size: int) -> tuple[float, float]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SINK_SERVER, str(port)],
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        wait_port(port, proc)
        cpu = cpu_seconds(proc.pid)
        rate = asyncio.run(load(port, total, conns, size))
        return rate, (cpu_seconds(proc.pid) - cpu) / total
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=5000)
    parser.add_argument("-c", "--connections", type=int, default=8)
    parser.add_argument("--size", type=int, default=10 * 1024, help="bytes per message")
    parser.add_argument("--rounds", type=int, default=3,
                        help="Sink and durable runs, interleaved; medians are reported")
    parser.add_argument("--log-level", default="info", help="the daemon's logging.level")
    args = parser.parse_args()
    sinks, durables, rss_peaks, ok = [], [], [], True
    sink_cpu, durable_cpu = [], []
    for _ in range(args.rounds):
        rate, cpu = run_sink(args.messages, args.connections, args.size)
        sinks.append(rate)
        sink_cpu.append(cpu)
        workdir = Path(tempfile.mkdtemp(prefix="ndrtrack-bench-", dir="/var/tmp"))
        try:
            durable, rss, stored, cpu = run_daemon(workdir, args.messages, args.connections,
                                                   args.size, args.log_level)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        durables.append(durable)
        durable_cpu.append(cpu)
        rss_peaks.append(rss)
        ok = ok and stored == args.messages
    sink, durable = statistics.median(sinks), statistics.median(durables)
    print(f"messages: {args.messages} x {args.size} bytes over {args.connections} connections,"
          f" {args.rounds} interleaved rounds (cpus: {os.cpu_count()},"
          f" load avg: {os.getloadavg()[0]:.2f})")
    print(f"aiosmtpd Sink      : {sink:8.0f} msgs/s  (rounds: "
          f"{', '.join(f'{r:.0f}' for r in sinks)})")
    print(f"ndrtrack durable   : {durable:8.0f} msgs/s  (rounds: "
          f"{', '.join(f'{r:.0f}' for r in durables)})"
          f"{'' if ok else '  SPOOL ENTRIES MISSING'}")
    print(f"ratio durable/Sink : {durable / sink:8.2f}")
    print(f"server CPU per msg : Sink {statistics.median(sink_cpu) * 1e6:.0f} us, durable "
          f"{statistics.median(durable_cpu) * 1e6:.0f} us (all threads; the daemon's runner "
          "included)")
    print(f"daemon peak RSS    : {max(rss_peaks):8.1f} MB")
    targets = durable >= 1000 and durable / sink >= 0.5 and max(rss_peaks) < 150 and ok
    print("targets (>= 1000 msgs/s, >= 0.5x Sink, < 150 MB):", "met" if targets else "NOT met")
    return 0 if targets else 1


if __name__ == "__main__":
    sys.exit(main())
