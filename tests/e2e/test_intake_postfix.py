"""A real Postfix relays a message to the SMTP intake, and the case appears.

Postfix (Debian package, run by ``tests/lab/postfix-lab.sh`` on loopback in a directory of its
own) accepts mail for ``intake.test`` and routes it to the daemon's SMTP port — the way a
site's MTA hands the backup internal address over.
"""

from __future__ import annotations

import shutil
import smtplib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, free_port, require_binary, require_root
from intakelab import Daemon, message

LAB = ROOT / "tests" / "lab" / "postfix-lab.sh"
INTAKE = "ndr-track@intake.test"


@pytest.fixture
def postfix_dir() -> Iterator[Path]:
    require_root()
    require_binary("postfix")
    # every parent must be traversable by the postfix user: not under pytest's 0700 tmp dirs
    directory = Path(tempfile.mkdtemp(prefix="ndrtrack-intake-postfix-", dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    subprocess.run(["bash", str(LAB), "stop", "--dir", str(directory)], capture_output=True,
                   timeout=60, check=False)
    shutil.rmtree(directory, ignore_errors=True)


def test_postfix_relays_to_the_intake_and_a_case_appears(tmp_path: Path,
                                                         postfix_dir: Path) -> None:
    d = Daemon(tmp_path, {"intake": {"addresses": [INTAKE]}}).start()
    mx_port = free_port()
    try:
        subprocess.run(["bash", str(LAB), "start", "--dir", str(postfix_dir), "--port",
                        str(mx_port), "--route", f"intake.test={d.smtp_port}"],
                       check=True, capture_output=True, timeout=120)
        data = message(subject="Undelivered Mail Returned to Sender",
                       message_id="<via-postfix@client.test>")
        with smtplib.SMTP("127.0.0.1", mx_port, timeout=30) as client:
            client.ehlo("client.test")
            refused = client.sendmail("sender@client.test", [INTAKE], data)
        assert refused == {}
        deadline = time.monotonic() + 60
        case = None
        while case is None and time.monotonic() < deadline:
            case = next((c for c in d.cases()
                         if c["headers"]["message_id"] == "<via-postfix@client.test>"), None)
            time.sleep(0.2)
        log = (postfix_dir / "log" / "postfix.log").read_text(errors="replace")
        assert case is not None, f"no case; postfix log:\n{log}\ndaemon log:\n{d.log()}"
        assert case["mail_from"] == "sender@client.test"
        assert case["rcpt_tos"] == [INTAKE]
        assert case["helo"] == "mx.example.test" and case["peer"] == "127.0.0.1"
        assert case["headers"]["subject"] == "Undelivered Mail Returned to Sender"
        # Postfix logged the hand-over with our queue answer in it
        assert "status=sent" in log and case["spool_id"] in log
        stored = d.entry_file(case["spool_id"], "message.eml")
        assert b"by mx.example.test (Postfix)" in stored  # relayed, not injected
    finally:
        assert d.stop() == 0, d.log()
