"""Received-header dialects, the returned original's identity, and queue ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.parser import HeaderParser
from email.policy import compat32

import pytest

from ndrtrack.parse.headers import (
    decode_words,
    original_from_headers,
    original_from_text,
    parse_received,
    queue_id_for,
    queue_id_in_text,
)

JST = timezone(timedelta(hours=9))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (  # Postfix
            "from mx4.example.ed.jp (ah4.example.ed.jp [192.0.2.7]) by mx.example.or.jp (Postfix) "
            "with ESMTPS id 94EC08061D30 for <a@example.or.jp>; Thu, 29 Apr 2011 23:34:45 +0900 "
            "(JST)",
            dict(
                from_host="ah4.example.ed.jp",
                from_helo="mx4.example.ed.jp",
                from_ip="192.0.2.7",
                by_host="mx.example.or.jp",
                protocol="ESMTPS",
                queue_id="94EC08061D30",
                tls=True,
                at=datetime(2011, 4, 29, 23, 34, 45, tzinfo=JST),
            ),
        ),
        (  # Exim
            "from [203.0.113.1] (helo=[127.0.0.1]) by r2.example.org with esmtp (Exim 4.72) "
            "(envelope-from <s@example.jp>) id 1P1cqy-0001Tl-9p for k@example.jp; Fri, 01 Oct "
            "2010 19:28:55 +0900",
            dict(
                from_host="",
                from_helo="[127.0.0.1]",
                from_ip="203.0.113.1",
                by_host="r2.example.org",
                protocol="esmtp",
                queue_id="1P1cqy-0001Tl-9p",
                tls=False,
            ),
        ),
        (  # Sendmail
            "from a27-9.smtp-out.us-west-2.amazonses.com (a27-9.smtp-out.us-west-2.amazonses.com "
            "[54.240.27.9]) by aneyakoji.example.jp (V8/cf) with ESMTP id u9C4PW0Y007872 "
            "for <s@example.jp>; Wed, 12 Oct 2016 13:25:32 +0900",
            dict(
                from_host="a27-9.smtp-out.us-west-2.amazonses.com",
                from_ip="54.240.27.9",
                by_host="aneyakoji.example.jp",
                protocol="ESMTP",
                queue_id="u9C4PW0Y007872",
            ),
        ),
        (  # qmail
            "(qmail 8888 invoked by uid 0); 29 Apr 2010 07:55:23 -0000",
            dict(
                from_host="",
                from_ip="",
                by_host="",
                protocol="qmail",
                at=datetime(2010, 4, 29, 7, 55, 23, tzinfo=UTC),
            ),
        ),
        (  # Google, with TLS comment
            "from aneyakoji.example.jp (aneyakoji.example.jp. [192.0.2.36]) by mx.google.com with "
            "ESMTP "
            "id h188si7155623pfe.48.2016.10.11.21.25.33 for <k@example.com> "
            "(version=TLS1_2 cipher=ECDHE-RSA-AES128-GCM-SHA256 bits=128/128); Tue, 11 Oct 2016 "
            "21:25:34 -0700 (PDT)",
            dict(
                from_host="aneyakoji.example.jp",
                from_ip="192.0.2.36",
                by_host="mx.google.com",
                tls=True,
            ),
        ),
        (  # IPv6 literal
            "from mail.example.org (mail.example.org [IPv6:2001:db8::25]) by mx.example.net "
            "(Postfix) "
            "with ESMTP id 4ABC; Mon, 1 Jan 2024 00:00:00 +0000",
            dict(from_ip="2001:db8::25", by_host="mx.example.net", queue_id="4ABC"),
        ),
    ],
)
def test_received_dialects(value: str, expected: dict) -> None:
    hop = parse_received(value)
    for key, want in expected.items():
        assert getattr(hop, key) == want, key


@pytest.mark.parametrize("value", ["", "garbage ;;; ((( [", "by", "from", ";" * 1000, "(" * 5000])
def test_received_never_raises(value: str) -> None:
    parse_received(value)


def test_original_from_headers_decodes_and_collects() -> None:
    msg = HeaderParser(policy=compat32).parsestr(
        "Return-Path: <Sender@Example.JP>\n"
        "Received: from a (b [192.0.2.1]) by c.example.org with SMTP id Q1; Thu, 29 Apr 2010 "
        "23:34:45 +0900\n"
        "Received: by d.example.org id Q0; Thu, 29 Apr 2010 23:34:44 +0900\n"
        "From: =?utf-8?B?44Gt44GT?= <sender@example.jp>\n"
        "To: A <a@example.org>, b@example.org\nCc: c@example.org\n"
        "Subject: =?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=\n"
        "Message-ID: <id-1@example.jp>\nDate: Thu, 29 Apr 2010 23:34:40 +0900\n\n"
    )
    original = original_from_headers(msg)
    assert original.sender == "sender@example.jp"
    assert original.recipients == ("a@example.org", "b@example.org", "c@example.org")
    assert original.subject == "テスト"
    assert original.from_header == "ねこ <sender@example.jp>"
    assert original.message_id == "<id-1@example.jp>"
    assert [hop.queue_id for hop in original.received] == ["Q1", "Q0"]
    assert original.date == datetime(2010, 4, 29, 23, 34, 40, tzinfo=JST)


def test_original_from_text_stops_at_the_body() -> None:
    text = (
        "\nReturn-Path: <s@example.jp>\nMessage-Id: <x@y>\nSubject: hi\n  folded\n\n"
        "To: body@example.org\n"
    )
    original = original_from_text(text)
    assert original.message_id == "<x@y>"
    assert original.subject == "hi folded"
    assert original.recipients == ()


@pytest.mark.parametrize(
    ("text", "queue_id"),
    [
        ("250 2.0.0 Ok: queued as 4Bc1Xy2Kz9z", "4Bc1Xy2Kz9z"),
        ("message 1P1cqy-0001Tl-9p was frozen", "1P1cqy-0001Tl-9p"),
        ("id 1rXyZa-000AbC1234d-Ef99 (Exim 4.97)", "1rXyZa-000AbC1234d-Ef99"),
        ("nothing here", ""),
    ],
)
def test_queue_ids_in_text(text: str, queue_id: str) -> None:
    assert queue_id_in_text(text) == queue_id


def test_queue_id_prefers_the_reporting_hop() -> None:
    msg = HeaderParser(policy=compat32).parsestr(
        "Received: from x by other.example with ESMTP id AAA; Thu, 29 Apr 2010 23:34:45 +0900\n"
        "Received: from y by mx.example.org with ESMTP id BBB; Thu, 29 Apr 2010 23:34:44 +0900\n\n"
    )
    original = original_from_headers(msg)
    assert queue_id_for(original, "mx.example.org") == "BBB"
    assert queue_id_for(original, "nowhere.example") == ""


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?utf-8?Q?caf=C3=A9?=", "café"),
        ("=?no-such-charset?Q?x?=", "=?no-such-charset?Q?x?="),
        ("plain\n folded", "plain folded"),
        (None, ""),
    ],
)
def test_decode_words(raw: str | None, decoded: str) -> None:
    assert decode_words(raw) == decoded


def test_hop_built_slot_by_slot_equals_the_dataclass() -> None:
    """parse_received's slot-by-slot Hop is the record Hop(...) would build."""
    from dataclasses import astuple, fields

    from ndrtrack.model import Hop
    from ndrtrack.parse.headers import _hop, parse_received

    hop = parse_received(
        "from mx.example.org (mx.example.org [192.0.2.7]) by mail.example.net (Postfix) "
        "with ESMTPS id 4ABC12DEF for <a@example.net>; Thu, 29 Apr 2010 23:34:45 +0900"
    )
    again = Hop(*astuple(hop))
    assert hop == again and hash(hop) == hash(again) and repr(hop) == repr(again)
    assert [f.name for f in fields(Hop)] == list(Hop.__slots__)
    assert _hop("", "", "", "", "", "", False, None) == Hop()
