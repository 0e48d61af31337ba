"""Inline forwards: real client layouts (tests/samples/forwards) and the rules behind them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ndrtrack.parse.forward_text import (
    FIELD_LABELS,
    find_forward,
    html_to_text,
    strip_forward_prefix,
)
from ndrtrack.parse.unwrap import header_text, iter_layers, message_text, parse_bytes_compat

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "forwards"
CASES = json.loads((SAMPLES / "expected.json").read_text("utf-8"))
TEXT_CASES = [c for c in CASES if c["file"].endswith(".txt")
              and ("sender" in c or c.get("forward") is False)]


def fold(text: str) -> str:
    return " ".join(text.split())


def arriving(case: dict) -> bytes:
    """A body-text sample as the message a person would send (Subject from its companion)."""
    subject = "Fwd: see below"
    if case.get("outer_subject_file"):
        subject = (SAMPLES / case["outer_subject_file"]).read_text("utf-8").strip()
    head = (f"From: fwd@example.org\nSubject: {subject}\nContent-Type: text/plain; "
            "charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
    return head.encode() + (SAMPLES / case["file"]).read_bytes()


def test_every_sample_has_an_expectation() -> None:
    listed = {c["file"] for c in CASES} | {c.get("outer_subject_file") for c in CASES}
    on_disk = {p.name for p in SAMPLES.iterdir() if p.name not in ("NOTICE", "expected.json")}
    assert on_disk <= listed
    notice = (SAMPLES / "NOTICE").read_text("utf-8")
    assert all(name in notice for name in on_disk)


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
@pytest.mark.parametrize("case", TEXT_CASES, ids=lambda c: c["file"])
def test_inline_forward_recovers_the_inner_message(case: dict, crlf: bool) -> None:
    raw = arriving(case).replace(b"\r\n", b"\n")
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    layers = [layer for layer in iter_layers(parse_bytes_compat(raw)) if layer.depth]
    if case.get("forward") is False:
        assert not layers or layers[0].via[-1] == "inline-reply"
        return
    assert layers, "no forward found"
    inner = layers[0]
    if case.get("style") == "reply":
        assert inner.via[-1] == "inline-reply"
    assert case["sender"].lower() in header_text(inner.message, "From").lower()
    if case.get("subject"):
        assert fold(header_text(inner.message, "Subject")) == fold(case["subject"])
    if case.get("date") == "*":
        assert header_text(inner.message, "Date")
    elif case.get("date"):
        assert fold(header_text(inner.message, "Date")) == fold(case["date"])
    assert fold(message_text(inner.message)).startswith(case["body_start"])
    assert inner.forwarder == "fwd@example.org"


@pytest.mark.parametrize(("text", "sender", "subject"), [
    # Outlook (Spanish), Italian Gmail, Portuguese Outlook, Swedish Thunderbird, Polish Outlook:
    ("-----Mensaje original-----\nDe: Ana <ana@x.es>\nEnviado el: lunes\nPara: b@y.es\n"
     "Asunto: Hola\n\ntexto", "Ana <ana@x.es>", "Hola"),
    ("---------- Messaggio inoltrato ---------\nDa: Marco <m@x.it>\nDate: lun 1 gen\n"
     "Subject: Ciao\nTo: <a@b.it>\n\ncorpo", "Marco <m@x.it>", "Ciao"),
    ("De: Joana <j@x.pt>\nEnviada: segunda-feira\nPara: b@y.pt\nAssunto: Olá\n\ncorpo",
     "Joana <j@x.pt>", "Olá"),
    ("-------- Vidarebefordrat meddelande --------\nÄmne: \tHej\nDatum: \tmån 1 jan\n"
     "Från: \tSven <s@x.se>\nTill: \tb@y.se\n\n\ntext", "Sven <s@x.se>", "Hej"),
    ("Od: Jan <jan@x.pl>\nWysłano: poniedziałek\nDo: b@y.pl\nTemat: Cześć\n\ntekst",
     "Jan <jan@x.pl>", "Cześć"),
    ("*From:* Bold <b@x.com>\n*Sent:* Monday\n*To:* c@y.com\n*Subject:* Stars\n\nbody",
     "Bold <b@x.com>", "Stars"),
])
def test_header_blocks_in_other_languages(text: str, sender: str, subject: str) -> None:
    found = find_forward(text)
    assert found is not None
    assert found.sender == sender
    assert found.subject == subject


def test_attribution_line_under_a_separator() -> None:
    found = find_forward("hi\n\n-------- Пересылаемое сообщение --------\n"
                         "28.10.2021, 12:46, \"Иван\" <ivan@ya.example>:\n\nПривет")
    assert found is not None and found.style == "forward"
    assert found.sender == '"Иван" <ivan@ya.example>' and found.date == "28.10.2021, 12:46"
    assert found.body == "Привет"


def test_groupwise_and_mutt_openers() -> None:
    found = find_forward("see below\n\n>>> Jan Novak <jan@x.cz> 01.02.2024 10:00 >>>\nAhoj\n")
    assert found is not None
    assert (found.sender, found.date, found.body) == ("Jan Novak <jan@x.cz>", "01.02.2024 10:00",
                                                      "Ahoj")
    mutt = find_forward("----- Forwarded message from Ann Lee <ann@x.org> -----\n\nhello\n")
    assert mutt is not None and mutt.sender == "Ann Lee <ann@x.org>" and mutt.body == "hello"


def test_label_and_value_on_separate_lines() -> None:
    found = find_forward("From:\nJohn Doe <j@x.org>\nSent:\nMonday\nTo:\nb@y.org\n"
                         "Subject:\nHello\n\nbody")
    assert found is not None
    assert (found.sender, found.date, found.subject, found.body) == (
        "John Doe <j@x.org>", "Monday", "Hello", "body")


def test_pasted_original_headers_keep_the_trace() -> None:
    raw = (b"From: Bob <bob@corp.example>\nSubject: lost mail\n\nAs sent:\n\n"
           b"Return-Path: <bob@corp.example>\nReceived: from mail.corp.example "
           b"(mail.corp.example [192.0.2.10])\n\tby mx.other.example (Postfix) with ESMTPS id "
           b"4XyZ1234AB\n\tfor <carol@other.example>; Mon, 2 Jan 2024 10:00:00 +0100\n"
           b"Message-ID: <abc123@corp.example>\nFrom: Bob <bob@corp.example>\n"
           b"To: Carol <carol@other.example>\nSubject: Offer\nDate: Mon, 2 Jan 2024 10:00:00 +0100"
           b"\n\nDear Carol,\n")
    inner = [layer for layer in iter_layers(parse_bytes_compat(raw)) if layer.depth][0]
    assert inner.message.get("Message-ID") == "<abc123@corp.example>"
    assert "192.0.2.10" in inner.message.get("Received")
    assert header_text(inner.message, "Subject") == "Offer"


def test_empty_plain_part_falls_back_to_html() -> None:
    raw = (b"From: a@b.org\nSubject: Fwd\nContent-Type: multipart/alternative; boundary=A\n\n"
           b"--A\nContent-Type: text/plain\n\n \n--A\nContent-Type: text/html\n\n"
           b"<div>---------- Forwarded message ---------<br>From: X &lt;x@y.org&gt;<br>"
           b"Date: Mon<br>Subject: S<br>To: z@y.org</div><div>body</div>\n--A--\n")
    inner = [layer for layer in iter_layers(parse_bytes_compat(raw)) if layer.depth][0]
    assert header_text(inner.message, "From") == "X <x@y.org>"


def test_plain_text_with_colons_is_not_a_forward() -> None:
    text = "Hi team,\nNote: the meeting moved.\nTime: 10:00\nPlace: room 4\n\nBye"
    assert find_forward(text) is None


def test_wrapped_subject_is_joined() -> None:
    text = ("---------- Forwarded message ----------\nFrom: A <a@x.org>\nSubject: a long\n"
            "subject\nTo: b@y.org\n\nbody")
    assert find_forward(text).subject == "a long subject"


def test_subject_falls_back_to_the_outer_subject_without_prefix() -> None:
    found = find_forward("Jan <j@x.nl> schreef op 1 jan 2024 10:00:\n\nhallo",
                         outer_subject="Doorst: FW: Offerte")
    assert found is not None and found.subject == "Offerte"
    assert strip_forward_prefix("WG: AW: Thema") == "Thema"


def test_html_forward_keeps_one_field_per_line() -> None:
    html = ("<div>see below</div><div><b>From:</b> A &lt;a@x.org&gt;<br><b>Sent:</b> Monday"
            "<br><b>To:</b> b@y.org<br><b>Subject:</b> Hi</div><p>body</p>")
    found = find_forward(html_to_text(html))
    assert found is not None and found.sender == "A <a@x.org>" and found.subject == "Hi"


# --- structure variations the corpus does not show, combined at random ----------------------

SEPARATORS = ["", "-----Original Message-----", "---------- Forwarded message ---------",
              "________________________________", "Begin forwarded message:",
              "-------- Weitergeleitete Nachricht --------", "===== Message transféré ====="]
FIELD_CHOICES = {field: [label for label in labels if label.isascii() or len(label) > 2]
                 for field, labels in FIELD_LABELS.items() if field in ("from", "date",
                                                                        "subject", "to")}


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_client_layouts(data: st.DataObject) -> None:
    fields = {"from": "Ana Lima <ana.lima@example.org>", "date": "Mon, 1 Jan 2024 10:00",
              "subject": "Quarterly report", "to": "bo@example.net"}
    order = data.draw(st.permutations(list(fields)))
    labels = {f: data.draw(st.sampled_from(FIELD_CHOICES[f])) for f in fields}
    bold, tab = data.draw(st.booleans()), data.draw(st.booleans())
    gap = data.draw(st.sampled_from(["", "\n"]))
    lines = []
    for f in order:
        label = labels[f].capitalize()
        head = f"*{label}:*" if bold else f"{label}:"
        lines.append(f"{head}{chr(9) if tab else ' '}{fields[f]}{gap}")
    separator = data.draw(st.sampled_from(SEPARATORS))
    text = "Please see below.\n\n" + (separator + "\n" if separator else "") + "\n".join(lines)
    text += "\n\nThe body starts here.\nSecond line.\n"
    if data.draw(st.booleans()):
        text = "\n".join("> " + line for line in text.splitlines())
    if data.draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    found = find_forward(text)
    assert found is not None
    assert (found.sender, found.subject, found.date) == (
        fields["from"], fields["subject"], fields["date"])
    assert found.body.startswith("The body starts here.")
