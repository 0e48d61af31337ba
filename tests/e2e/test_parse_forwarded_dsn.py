"""End to end: real DSNs from Postfix, Exim and Sendmail, forwarded in every client layout.

For each lab DSN (tests/samples/lab-dsn) and each layout (parse_forward_layouts.LAYOUTS), the
forward goes through ``parse_bytes`` exactly as an intake message would; every recipient with
its status and reply code must survive the forwarding, the NDR must be found below the top
layer, and the forwarder must be named.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from parse_forward_layouts import FORWARDER, LAYOUTS  # noqa: E402

from ndrtrack.model import MessageKind  # noqa: E402
from ndrtrack.parse.api import parse_bytes, to_records  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "lab-dsn"
DSNS = sorted(SAMPLES.glob("*.eml"))


def _triples(raw: bytes) -> set[tuple[str, str, str]]:
    result = parse_bytes(raw)
    assert result.bounce is not None, result
    return {(s.recipient.lower(), s.status, s.reply_code) for s in result.bounce.statuses}


@pytest.fixture(scope="module")
def direct() -> dict[str, set[tuple[str, str, str]]]:
    """What the decoder reads from each DSN as it was sent (the reference)."""
    return {p.name: _triples(p.read_bytes()) for p in DSNS}


def test_samples_present() -> None:
    assert len(DSNS) >= 6
    for mta in ("postfix", "exim", "sendmail"):
        assert any(p.name.startswith(mta) for p in DSNS), mta


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("sample", DSNS, ids=lambda p: p.stem)
def test_forwarded_dsn_keeps_recipients_and_codes(
    sample: Path, layout: str, direct: dict[str, set[tuple[str, str, str]]]
) -> None:
    forward = LAYOUTS[layout](sample.read_bytes())
    result = parse_bytes(forward)
    assert result.kind in (MessageKind.BOUNCE, MessageKind.DELAYED), (result.kind, result.errors)
    assert result.layer >= 1
    assert result.forwarder == FORWARDER
    got = {(s.recipient.lower(), s.status, s.reply_code) for s in result.bounce.statuses}
    assert got == direct[sample.name]
    records = to_records(result, "forward.eml")
    assert {r["recipient"].lower() for r in records} == {t[0] for t in got}
    assert all(r["explanation"] for r in records)


@pytest.mark.parametrize("layout", ["rfc822", "inline-gmail"])
def test_forwarded_dsn_with_crlf_line_ends(layout: str) -> None:
    sample = SAMPLES / "postfix-failed-5.1.1-mixed_outcomes.eml"
    forward = LAYOUTS[layout](sample.read_bytes()).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    result = parse_bytes(forward)
    assert result.kind == MessageKind.BOUNCE
    assert {s.recipient for s in result.bounce.statuses} == {
        s.recipient for s in parse_bytes(sample.read_bytes()).bounce.statuses}
