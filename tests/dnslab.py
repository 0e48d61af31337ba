"""A real authoritative DNS server for tests and benchmarks: NSD in a private temp directory.

NSD (Debian ``nsd``) normally runs as a system service with its own user and directories.
Here it runs in the foreground (``-d``), without dropping privileges or chroot, with every
file it writes (pid, xfrd state, zone list, log) inside one temp directory, and listening only
on loopback on a port chosen at start.  Zones are checked with ``nsd-checkzone`` first, so a
broken test zone fails loudly instead of turning into a confusing SERVFAIL.

A zone can be *configured without a file* (``unloaded``): NSD then answers SERVFAIL for it —
a real SERVFAIL from a real server, which is what the resolver's error path is tested on.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

SBIN = ("/usr/sbin", "/sbin")


def find(name: str) -> str | None:
    """Path of an NSD tool, also when /usr/sbin is not on PATH."""
    return shutil.which(name, path=":".join([*SBIN, "/usr/bin", "/bin"]))


def free_udp_tcp_port(host: str = "127.0.0.1", tries: int = 50) -> int:
    """A port free for both UDP and TCP on ``host`` (NSD listens on both)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(tries):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(family, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port for UDP and TCP on loopback")


class NsdServer:
    """NSD serving ``zones`` (name → zone file) on ``127.0.0.1:port`` (and ``[::1]``)."""

    def __init__(self, workdir: Path, zones: Mapping[str, Path], *,
                 unloaded: Iterable[str] = (), ipv6: bool = True) -> None:
        self.workdir = Path(workdir)
        self.zones = dict(zones)
        self.unloaded = tuple(unloaded)
        self.ipv6 = ipv6
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: what ``ResolverSettings.nameservers`` and ``--nameserver`` take."""
        return f"127.0.0.1:{self.port}"

    @property
    def address6(self) -> str:
        return f"[::1]:{self.port}"

    @property
    def log(self) -> str:
        path = self.workdir / "nsd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def check_zones(self) -> None:
        """Run ``nsd-checkzone`` on every zone file; raise with its output on a problem."""
        checker = find("nsd-checkzone")
        if checker is None:
            raise FileNotFoundError("nsd-checkzone")
        for name, path in self.zones.items():
            done = subprocess.run([checker, name, str(path)], capture_output=True, text=True,
                                  timeout=30, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"zone {name} ({path}) is broken:\n{done.stdout}{done.stderr}")

    def write_config(self) -> Path:
        work = self.workdir
        listen = [f"  ip-address: 127.0.0.1@{self.port}"]
        if self.ipv6:
            listen.append(f"  ip-address: ::1@{self.port}")
        lines = [
            "server:", *listen,
            f"  port: {self.port}",
            '  username: ""', '  chroot: ""',
            f'  zonesdir: "{work}"', '  database: ""',
            f'  pidfile: "{work}/nsd.pid"', f'  xfrdfile: "{work}/xfrd.state"',
            f'  xfrdir: "{work}"', f'  zonelistfile: "{work}/zone.list"',
            f'  logfile: "{work}/nsd.log"',
            "  server-count: 1", "  verbosity: 1", "  hide-version: yes",
            "  round-robin: no", "  minimal-responses: no",
            # Debian builds NSD with response rate limiting (200 qps per source): the tests
            # and the benchmark ask faster than that from 127.0.0.1, and RRL would answer with
            # truncated (TC) replies or drop them — turning TCP fallback and timeouts random.
            "  rrl-ratelimit: 0", "  rrl-whitelist-ratelimit: 0",
            "remote-control:", "  control-enable: no",
        ]
        for name, path in self.zones.items():
            lines += ["zone:", f"  name: {name}", f'  zonefile: "{Path(path).resolve()}"']
        for name in self.unloaded:
            lines += ["zone:", f"  name: {name}", f'  zonefile: "{work}/{name}.absent"']
        config = work / "nsd.conf"
        config.write_text("\n".join(lines) + "\n")
        checkconf = find("nsd-checkconf")
        if checkconf:
            subprocess.run([checkconf, str(config)], check=True, timeout=30,
                           capture_output=True)
        return config

    def start(self, timeout: float = 15.0) -> NsdServer:
        nsd = find("nsd")
        if nsd is None:
            raise FileNotFoundError("nsd")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.check_zones()
        self.port = free_udp_tcp_port()
        self.ipv6 = self.ipv6 and _loopback6()
        config = self.write_config()
        self.process = subprocess.Popen([nsd, "-d", "-c", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        probe = next(iter(self.zones))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"nsd exited with {self.process.returncode}:\n{self.log}")
            try:
                answer = dns.query.udp(dns.message.make_query(probe, "SOA"), "127.0.0.1",
                                       timeout=0.2, port=self.port)
            except (dns.exception.Timeout, OSError):
                time.sleep(0.05)
                continue
            if answer.rcode() == dns.rcode.NOERROR:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nsd did not answer within {timeout} s:\n{self.log}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> NsdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _loopback6() -> bool:
    """Whether ::1 exists here (containers may run without IPv6): NSD would fail to bind."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


class SilentServer:
    """A UDP socket on loopback that receives queries and never answers (for timeouts)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
