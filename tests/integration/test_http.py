"""/metrics, /healthz and /readyz over real HTTP, parsed as Prometheus would."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from ndrtrack import metrics
from ndrtrack.config import HttpConfig
from ndrtrack.http import HttpService


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def _exercise(ready: dict[str, bool]) -> dict[str, tuple[int, str]]:
    scrapes = []
    service = HttpService(config=HttpConfig(port=0), readiness=lambda: dict(ready),
                          before_scrape=lambda: scrapes.append(1))
    await service.start()
    try:
        assert service.port
        results = {}
        for path in ("/metrics", "/healthz", "/readyz"):
            results[path] = await asyncio.to_thread(fetch, service.port, path)
        ready["spool"] = False
        results["/readyz-down"] = await asyncio.to_thread(fetch, service.port, "/readyz")
    finally:
        await service.stop()
    assert scrapes, "before_scrape runs on every scrape"
    return results


def test_endpoints_answer_and_metrics_parse() -> None:
    metrics.INTAKE_MESSAGES.labels(source="smtp", result="accepted").inc()
    results = asyncio.run(_exercise({"smtp": True, "spool": True}))
    status, body = results["/metrics"]
    assert status == 200
    names = {family.name for family in text_string_to_metric_families(body)}
    for expected in ("ndrtrack_build_info", "ndrtrack_intake_messages", "ndrtrack_spool_entries",
                     "ndrtrack_runner_processed", "ndrtrack_runner_seconds"):
        assert expected in names
    assert results["/healthz"] == (200, "ok\n")
    assert results["/readyz"][0] == 200
    status, body = results["/readyz-down"]
    assert status == 503 and '"spool": false' in body


def test_every_area_exports_its_families_from_the_first_scrape() -> None:
    """DNS and log-index families exist before any lookup or import has run."""
    code = ("import asyncio, sys\n"
            "from ndrtrack.http import make_app\n"
            "from prometheus_client import REGISTRY, generate_latest\n"
            "make_app(lambda: {})\n"
            "sys.stdout.write(generate_latest(REGISTRY).decode())\n")
    body = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    names = {family.name for family in text_string_to_metric_families(body)}
    assert {"ndrtrack_dns_queries", "ndrtrack_log_lines", "ndrtrack_intake_messages"} <= names
