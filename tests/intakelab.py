"""The daemon as a subprocess on a temporary config, for the intake's integration tests.

``Daemon(tmp_path, **overrides).start()`` writes a YAML config with free loopback ports (SMTP,
LMTP, HTTP), all state under ``tmp_path``, starts ``ndrtrack serve`` and waits until
``/readyz`` says ready.  ``stop()`` sends SIGTERM and returns the exit status; ``kill()`` is
``kill -9``.  ``cases()`` reads the store directly (SQLite in WAL mode allows a second reader).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import smtplib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from conftest import free_port

INTAKE = "ndr-track@example.test"


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = value
    return result


class Daemon:
    def __init__(self, root: Path, overrides: dict[str, Any] | None = None) -> None:
        self.root = root
        self.smtp_port = free_port()
        self.lmtp_port = free_port()
        self.http_port = free_port()
        base = {
            "intake": {
                "addresses": [INTAKE],
                "smtp": {"host": "127.0.0.1", "port": self.smtp_port, "hostname": "intake.test"},
                "lmtp": {"enabled": True, "host": "127.0.0.1", "port": self.lmtp_port,
                         "hostname": "intake.test"},
            },
            "spool": {"path": str(root / "spool")},
            "store": {"path": str(root / "ndrtrack.sqlite3")},
            "http": {"host": "127.0.0.1", "port": self.http_port},
            "runner": {"poll_interval": 0.2, "backoff_initial": 0.2, "max_tries": 3},
            "logging": {"level": "info"},
        }
        self.settings = deep_merge(base, overrides or {})
        self.config_path = root / "ndrtrack.yaml"
        self.log_path = root / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.write_config(self.settings)

    @property
    def spool(self) -> Path:
        return Path(self.settings["spool"]["path"])

    def write_config(self, settings: dict[str, Any]) -> None:
        self.config_path.write_text(yaml.safe_dump(settings), encoding="utf-8")

    def start(self, timeout: float = 15.0, env: dict[str, str] | None = None) -> Daemon:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ndrtrack.cli", "serve", "-c", str(self.config_path)],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
            env={**os.environ, **(env or {})})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            if self.ready():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"daemon not ready after {timeout}s:\n{self.log()}")

    def http_get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}",
                                        timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def ready(self) -> bool:
        try:
            status, _ = self.http_get("/readyz")
        except OSError:
            return False
        return status == 200

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") \
            if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def smtp(self, **kwargs: Any) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10, **kwargs)

    def cases(self) -> list[dict[str, Any]]:
        out = subprocess.run(
            [sys.executable, "-m", "ndrtrack.cli", "cases", "list", "--json", "--limit",
             "100000", "-c", str(self.config_path)],
            capture_output=True, check=True, cwd=self.root, timeout=30)
        return [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]

    def entry_file(self, entry_id: str, name: str, timeout: float = 10.0) -> bytes:
        """One file of a spool entry, wherever the runner has moved the entry meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for state in ("new", "processing", "done", "shunt"):
                try:
                    return (self.spool / state / entry_id / name).read_bytes()
                except FileNotFoundError:
                    continue  # moved between two states while we looked
            time.sleep(0.02)
        raise AssertionError(f"spool entry {entry_id} has no {name}")

    def entries(self, state: str) -> list[str]:
        directory = self.spool / state
        return sorted(os.listdir(directory)) if directory.exists() else []

    def wait_processed(self, timeout: float = 30.0) -> None:
        """Until nothing waits in new/ or processing/."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.entries("new") and not self.entries("processing"):
                return
            time.sleep(0.05)
        raise AssertionError(f"spool not drained after {timeout}s: "
                             f"new={len(self.entries('new'))} "
                             f"processing={len(self.entries('processing'))}")


def message(subject: str = "test", message_id: str = "<1@client.test>", body: str = "hello",
            sender: str = "Sender <sender@client.test>") -> bytes:
    return (f"From: {sender}\r\nTo: {INTAKE}\r\nSubject: {subject}\r\n"
            f"Date: Sat, 28 Nov 2026 04:00:00 +0000\r\nMessage-ID: {message_id}\r\n\r\n"
            f"{body}\r\n").encode()
