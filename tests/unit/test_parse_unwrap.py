"""MIME layers: attached messages, encoded attachments, Outlook containers, the bounce decoy."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ndrtrack.parse import containers
from ndrtrack.parse.forward_text import InlineForward
from ndrtrack.parse.unwrap import (
    MAX_DEPTH,
    header_text,
    is_report,
    iter_layers,
    parse_bytes_compat,
    synthetic_message,
)

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "forwards"
INNER = b"From: Bob <bob@x.org>\nTo: c@y.org\nSubject: inner one\nMessage-ID: <i1@x.org>\n\nhello\n"


def forward(part_headers: str, payload: str, top: str = "From: Alice <alice@corp.example>",
            boundary: str = "B") -> bytes:
    b = boundary
    return (f"{top}\nSubject: Fwd\nMIME-Version: 1.0\n"
            f"Content-Type: multipart/mixed; boundary={b}\n\n"
            f"--{b}\nContent-Type: text/plain\n\nsee\n"
            f"--{b}\n{part_headers}\n\n{payload}\n--{b}--\n").encode()


def layers(raw: bytes) -> list:
    return list(iter_layers(parse_bytes_compat(raw)))


@pytest.mark.parametrize(("headers", "payload", "via"), [
    ("Content-Type: message/rfc822", INNER.decode(), "rfc822"),
    ("Content-Type: message/global", INNER.decode(), "global"),
    ("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64",
     base64.encodebytes(INNER).decode(), "rfc822-base64"),
    ("Content-Type: application/octet-stream; name=x.eml\nContent-Transfer-Encoding: base64",
     base64.encodebytes(INNER).decode(), "eml-attachment"),
    ("Content-Type: text/plain; name=\"Original.EML\"", INNER.decode(), "eml-attachment"),
    ("Content-Type: application/x-eml", INNER.decode(), "eml-attachment"),
])
def test_attached_message_is_a_layer(headers: str, payload: str, via: str) -> None:
    found = layers(forward(headers, payload))
    assert [layer.depth for layer in found] == [0, 1]
    inner = found[1]
    assert inner.via == (via,)
    assert header_text(inner.message, "Subject") == "inner one"
    assert inner.forwarder == "Alice <alice@corp.example>"


def test_octet_stream_that_is_not_a_message_is_ignored() -> None:
    payload = base64.encodebytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()
    found = layers(forward("Content-Type: application/octet-stream; name=a.eml\n"
                           "Content-Transfer-Encoding: base64", payload))
    assert len(found) == 1


def test_a_report_is_never_descended_into() -> None:
    raw = (b"From: MAILER-DAEMON@x.org\nSubject: Undelivered\nMIME-Version: 1.0\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=R\n\n"
           b"--R\nContent-Type: text/plain\n\nfailed\n"
           b"--R\nContent-Type: message/delivery-status\n\n"
           b"Reporting-MTA: dns; x.org\n\nFinal-Recipient: rfc822; a@b.org\nAction: failed\n"
           b"Status: 5.1.1\n\n--R\nContent-Type: message/rfc822\n\n" + INNER + b"\n--R--\n")
    found = layers(raw)
    assert len(found) == 1 and is_report(found[0].message)


def test_decoy_sample_bounce_returning_a_forward_stays_one_layer() -> None:
    raw = (SAMPLES / "PHPMailer-BMH--tt_bounce_21.txt").read_bytes()
    assert len(layers(raw)) == 1


def test_nested_forwards_are_breadth_first_and_bounded() -> None:
    raw = INNER
    for level in range(MAX_DEPTH + 10):
        raw = forward("Content-Type: message/rfc822", raw.decode(), boundary=f"B{level}")
    found = layers(raw)
    assert max(layer.depth for layer in found) <= MAX_DEPTH
    assert [layer.depth for layer in found[:3]] == [0, 1, 2]


@pytest.mark.parametrize("name", ["flanker--enclosed.eml", "mail--attachment_message_rfc822.eml",
                                  "MimeKit--simple-embedded-message.eml"])
def test_real_attached_forwards(name: str) -> None:
    found = layers((SAMPLES / name).read_bytes())
    assert len(found) >= 2
    assert found[1].via[0] in ("rfc822", "rfc822-base64")
    assert header_text(found[1].message, "From") or header_text(found[1].message, "Subject")


def test_tnef_winmail_dat_yields_its_embedded_messages() -> None:
    found = layers((SAMPLES / "MimeKit--rich-text.eml").read_bytes())
    tnef = [layer for layer in found if layer.via and layer.via[0] == "tnef"]
    assert len(tnef) >= 2
    assert all(header_text(layer.message, "Subject") for layer in tnef)


@pytest.mark.parametrize(("name", "inner_subject"), [
    ("msgreader--msgInMsg.msg", "Microsoft Outlook テスト メッセージ"),
    ("MSGReader--EmailWithMsgAttachment.msg", "Msg Attachment Test"),
])
def test_msg_files_yield_the_embedded_message(name: str, inner_subject: str) -> None:
    errors: list[str] = []
    messages = containers.msg_messages((SAMPLES / name).read_bytes(), errors)
    assert not errors
    assert inner_subject in [header_text(m, "Subject") for m in messages]


def test_broken_containers_are_recorded_not_raised() -> None:
    errors: list[str] = []
    assert containers.tnef_messages(b"\x78\x9f\x3e\x22garbage", errors) == []
    assert containers.msg_messages(containers.OLE_MAGIC + b"\0" * 100, errors) == []
    assert errors and errors[-1].startswith("msg:")


def test_inline_dsn_text_becomes_a_report_again() -> None:
    body = ("This is the mail system.\n\n<a@b.org>: host mx said: 550 5.1.1 no such user\n\n"
            "Reporting-MTA: dns; mx.x.org\nArrival-Date: Mon, 1 Jan 2024 00:00:00 +0000\n\n"
            "Final-Recipient: rfc822; a@b.org\nOriginal-Recipient: rfc822;a@b.org\n"
            "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 no such\n"
            "    user here\n\nFinal-Recipient: rfc822; c@b.org\nAction: failed\nStatus: 5.2.2\n\n"
            "Received: from x by y\nSubject: original\n")
    msg = synthetic_message(InlineForward(style="forward", sender="MAILER-DAEMON@x.org",
                                          subject="Undelivered", body=body))
    assert msg.get_content_type() == "multipart/report"
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    groups = parts[1].get_payload()
    assert [g.get("Final-Recipient") for g in groups[1:]] == ["rfc822; a@b.org", "rfc822; c@b.org"]
    assert "user here" in groups[1].get("Diagnostic-Code")


def test_expected_json_is_well_formed() -> None:
    cases = json.loads((SAMPLES / "expected.json").read_text("utf-8"))
    assert {c["shape"] for c in cases} >= {"inline", "attachment", "tnef", "msg"}


def test_bare_msg_file_is_unwrapped_like_an_attachment() -> None:
    from ndrtrack.model import MessageKind
    from ndrtrack.parse.api import parse_bytes

    result = parse_bytes((SAMPLES / "MSGReader--EmailWithMsgAttachment.msg").read_bytes())
    assert result.kind == MessageKind.RESENT and result.via == "msg"
    assert result.original.subject == "Msg Attachment Test"  # the attached one, not the forward


def test_bare_tnef_file_is_unwrapped() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
    from parse_forward_layouts import winmail_dat

    from ndrtrack.model import MessageKind
    from ndrtrack.parse.api import parse_bytes

    dsn = (Path(__file__).resolve().parents[1] / "samples" / "lab-dsn"
           / "postfix-failed-5.1.1-mixed_outcomes.eml").read_bytes()
    result = parse_bytes(winmail_dat(dsn))
    assert result.kind == MessageKind.BOUNCE and result.via == "tnef"
