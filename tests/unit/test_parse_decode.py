"""The NDR decoder against real bounces: one case per sample file, LF and CRLF.

Expectations live beside the samples (tests/samples/bounces/expectations.jsonl); the
meta-tests fail when a sample has no expectation or a registered format has no sample.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from ndrtrack.model import Bounce, MessageKind
from ndrtrack.parse.decode import decode_bytes, decode_message
from ndrtrack.parse.formats import REGISTRY

FOLDER = Path(__file__).resolve().parents[1] / "samples" / "bounces"


def _expectations() -> dict[str, list[dict]]:
    table: dict[str, list[dict]] = defaultdict(list)
    for line in (FOLDER / "expectations.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            table[row["file"]].append(row)
    return dict(table)


EXPECTED = _expectations()


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _check(bounce: Bounce, rows: list[dict]) -> None:
    assert bounce.format == rows[0]["format"]
    assert bounce.kind.value == rows[0]["kind"]
    got = {s.recipient: s for s in bounce.statuses}
    want = {r["recipient"]: r for r in rows if "recipient" in r}
    assert set(got) == set(want)
    for recipient, row in want.items():
        status = got[recipient]
        assert (status.status, status.reply_code, status.reason, status.permanent) == (
            row["status"],
            row["reply_code"],
            row["reason"],
            row["permanent"],
        ), recipient


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name: str, crlf: bool) -> None:
    raw = (FOLDER / name).read_bytes()
    bounce = decode_bytes(_crlf(raw) if crlf else raw)
    assert bounce.errors == ()
    _check(bounce, EXPECTED[name])


def test_every_sample_has_expectations() -> None:
    files = {p.name for p in FOLDER.glob("*.eml")}
    assert files == set(EXPECTED)


def test_every_registered_format_has_a_sample() -> None:
    covered = {rows[0]["format"] for rows in EXPECTED.values()}
    assert {fmt.name for fmt in REGISTRY} <= covered


def test_registry_order_comes_from_the_formats_themselves() -> None:
    names = [fmt.name for fmt in REGISTRY]
    assert len(names) == len(set(names))
    assert names.index("rfc3464") > names.index("postfix")
    assert names[-1] == "text"  # the prose fallback is tried last


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Subject: hello\n\nnot a bounce at all\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n",
        b"From: MAILER-DAEMON@example.org\nSubject: Undelivered Mail\n"
        b"Content-Type: text/plain; charset=no-such-charset\nContent-Transfer-Encoding: "
        b"base64\n\n!!!!\n",
        b"Subject: =?utf-8?B?////?=\nFrom: =?x-unknown?Q?=FF?= <a@b>\n\n" + b"\xff" * 1000,
    ],
)
def test_junk_is_not_a_bounce_and_never_raises(raw: bytes) -> None:
    bounce = decode_bytes(raw)
    assert bounce.kind is MessageKind.NOT_A_BOUNCE
    assert bounce.statuses == ()


def test_a_crashing_format_is_recorded_and_the_next_one_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    postfix = next(f for f in REGISTRY if f.name == "postfix")

    def broken(msg):  # noqa: ANN001, ANN202
        raise ValueError("boom")

    monkeypatch.setattr(postfix, "parse", broken)
    name = next(n for n, rows in EXPECTED.items() if rows[0]["format"] == "postfix")
    bounce = decode_bytes((FOLDER / name).read_bytes())
    assert any("postfix: ValueError: boom" in e for e in bounce.errors)
    assert bounce.format != "postfix"


def test_decode_message_survives_a_message_that_breaks_while_being_read() -> None:
    class Exploding:
        def get(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            raise RuntimeError("broken message object")

        def __getattr__(self, name):  # noqa: ANN001, ANN204
            raise RuntimeError("broken message object")

    bounce = decode_message(Exploding())  # type: ignore[arg-type]
    assert bounce.kind is MessageKind.NOT_A_BOUNCE
    assert bounce.errors


@pytest.mark.parametrize(
    ("name", "queue_id", "message_id"),
    [
        ("lhost-exim-03.eml", "1P1cqy-0001Tl-9p", "<hogeuoiuadogalhg.dg9i09@example.jp>"),
        (
            "lhost-sendmail-02.eml",
            "s1QB5ka0018055",
            "<C6625D0F-A302-4980-BEAB-2AF883EA0116@example.jp>",
        ),
        ("lhost-postfix-02.eml", "7874F1FB8E", ""),
    ],
)
def test_returned_original_and_queue_id_are_read(name: str, queue_id: str, message_id: str) -> None:
    bounce = decode_bytes((FOLDER / name).read_bytes())
    assert bounce.queue_id == queue_id
    assert bounce.original.message_id == message_id
    assert bounce.original.received and bounce.original.sender


_HEADS = [
    b"From: MAILER-DAEMON@example.org\nSubject: failure notice\n",
    b"From: Mail Delivery System <Mailer-Daemon@example.org>\nSubject: Mail delivery failed\n",
    b"From: postmaster@example.org\nSubject: Undeliverable: x\n",
    b"From: Mail Delivery Subsystem <MAILER-DAEMON@example.org>\nSubject: Returned mail\n",
]
_OPENERS = [
    b"Hi. This is the qmail-send program at x.\n",
    b"This message was created automatically by mail delivery software.\n",
    b"   ----- Transcript of session follows -----\n",
    b"Diagnostic information for administrators:\n",
    b"",
]
_JUNK = [b" ", b"\n", b"-", b"@", b"a@", b"a.", b"<", b"550-", b"\t \n", b"aa.aa@", b"=", b"*"]


@pytest.mark.parametrize("junk", _JUNK, ids=[repr(j) for j in _JUNK])
def test_pathological_text_stays_linear(junk: bytes) -> None:
    """Runs of one character defeat backtracking regexes; every format must stay fast."""
    import time

    body = junk * (100_000 // len(junk))
    for head in _HEADS:
        for opener in _OPENERS:
            started = time.perf_counter()
            bounce = decode_bytes(head + b"\n" + opener + body + b"\n")
            assert time.perf_counter() - started < 2.0, (head, opener)
            assert isinstance(bounce, Bounce)


def test_evolve_is_dataclasses_replace_for_the_records() -> None:
    import dataclasses

    from ndrtrack.model import Bounce, DeliveryStatus, OriginalMessage
    from ndrtrack.parse.extract import evolve

    status = DeliveryStatus(recipient="a@example.org", status="5.1.1", diagnostic="x")
    assert evolve(status, reason="userunknown", permanent=True) == dataclasses.replace(
        status, reason="userunknown", permanent=True
    )
    bounce = Bounce(format="postfix", statuses=(status,), original=OriginalMessage(sender="s"))
    assert evolve(bounce, errors=("e",)) == dataclasses.replace(bounce, errors=("e",))
    assert evolve(bounce) == bounce and evolve(bounce) is not bounce
    with pytest.raises(TypeError):
        evolve(status, no_such_field=1)
