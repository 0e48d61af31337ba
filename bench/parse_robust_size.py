"""Time and peak memory of ``parse_bytes`` on 20 MB messages (the issue's robustness target:
under a second and under 200 MB peak RSS).

Four shapes, each built here (no data files): a forward with a 20 MB base64 attachment, a
20 MB plain-text body (inline-forward scanning must stay bounded), a forwarded DSN whose
returned original carries a 20 MB attachment, and 20 MB of Received lines (a mail loop).
Baseline in the same run: the bare ``BytesParser(policy=compat32)`` parse of the same bytes
(what ``parse_bytes`` used before it had its own MIME parser, ``parse/mime.py``, which cuts
leaf bodies over 2 MB and header blocks over 1 MB).

Usage: ``python bench/parse_robust_size.py [MB]``; each shape runs in a fresh subprocess so
the peak RSS is that shape's own (the message is built here and read from a file there,
so the peak counts the interpreter, the raw bytes and the parse — not the generator).
"""

from __future__ import annotations

import base64
import json
import resource
import subprocess
import sys
import tempfile
import time

DSN = (b"From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail Returned to Sender\n"
       b"Content-Type: multipart/report; report-type=delivery-status; boundary=R\n\n"
       b"--R\nContent-Type: text/plain\n\n<a@b.org>: host said: 550 5.1.1 unknown user\n"
       b"--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
       b"Final-Recipient: rfc822; a@b.org\nAction: failed\nStatus: 5.1.1\n"
       b"Diagnostic-Code: smtp; 550 5.1.1 unknown user\n\n--R\nContent-Type: message/rfc822\n\n")


def build(shape: str, megabytes: int) -> bytes:
    blob = base64.encodebytes(bytes(range(256)) * (megabytes * 3 * 1024))  # ≈ MB * 1.0
    attachment = (b"--Z\nContent-Type: application/octet-stream; name=big.bin\n"
                  b"Content-Transfer-Encoding: base64\n\n" + blob + b"--Z--\n")
    head = b"From: a@b.org\nSubject: Fwd\nContent-Type: multipart/mixed; boundary=Z\n\n"
    if shape == "attachment":
        return head + b"--Z\nContent-Type: text/plain\n\nsee attached\n" + attachment
    if shape == "headers":  # a mail loop's Received lines
        hop = b"Received: from a.example by b.example; Thu, 1 Jan 2026 00:00:00 +0000\n"
        return b"From: a@b.org\nSubject: loop\n" + hop * (megabytes * 1024 * 1024 // len(hop)) + (
            b"\nbody\n")
    if shape == "text":
        return b"From: a@b.org\nSubject: Fwd\n\n" + b"Some forwarded text, line after line.\n" * (
            megabytes * 1024 * 1024 // 38)
    original = head + b"--Z\nContent-Type: text/plain\n\nhello\n" + attachment
    return (b"From: Alice <alice@corp.example>\nSubject: Fwd: bounce\n"
            b"Content-Type: multipart/mixed; boundary=F\n\n"
            b"--F\nContent-Type: text/plain\n\nwhy?\n--F\n"
            b"Content-Type: message/rfc822\n\n" + DSN + original + b"\n--R--\n\n--F--\n")


def peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would carry the parent's peak across exec)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(shape: str, path: str, what: str) -> dict:
    """``what`` is "parse_bytes" (ndrtrack) or "compat32" (the stdlib parse alone)."""
    from email.parser import BytesParser
    from email.policy import compat32

    from ndrtrack.parse.api import parse_bytes

    with open(path, "rb") as handle:
        raw = handle.read()
    before = peak_rss_mb()
    start = time.perf_counter()
    if what == "compat32":
        BytesParser(policy=compat32).parsebytes(raw)
        kind, layer, errors = "", 0, []
    else:
        result = parse_bytes(raw)
        kind, layer, errors = result.kind.value, result.layer, list(result.errors)
    elapsed = time.perf_counter() - start
    return {"shape": shape, "bytes": len(raw), "seconds": round(elapsed, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1), "rss_before_mb": round(before, 1),
            "kind": kind, "layer": layer, "errors": errors}


def run(shape: str, path: str, what: str) -> dict:
    """One measurement in a fresh interpreter, so its peak RSS is its own."""
    out = subprocess.run([sys.executable, __file__, "--one", shape, path, what],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main(argv: list[str]) -> int:
    if len(argv) > 4 and argv[1] == "--one":
        print(json.dumps(measure(argv[2], argv[3], argv[4])))
        return 0
    megabytes = int(argv[1]) if len(argv) > 1 else 20
    for shape in ("attachment", "text", "forwarded-dsn", "headers"):
        with tempfile.NamedTemporaryFile(suffix=".eml") as handle:
            handle.write(build(shape, megabytes))
            handle.flush()
            ours = run(shape, handle.name, "parse_bytes")
            floor = run(shape, handle.name, "compat32")
        print(f"{shape:14} {ours['bytes'] / 1e6:6.1f} MB  parse_bytes {ours['seconds']:.3f} s, "
              f"peak RSS {ours['peak_rss_mb']} MB  |  compat32 parse alone "
              f"{floor['seconds']:.3f} s, peak RSS {floor['peak_rss_mb']} MB  "
              f"(before parsing: {ours['rss_before_mb']} MB)  → {ours['kind']} at layer "
              f"{ours['layer']}; notes: {'; '.join(ours['errors']) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
