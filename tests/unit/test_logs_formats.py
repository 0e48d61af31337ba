"""Log formats: tables of real lines (public parsers' test cases and our lab logs) with the
fields each must yield.  The public tables keep their sources' field names; MAPS turn them into
LogEvent fields.  A meta-test checks every registered format has cases here."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import SAMPLES
from ndrtrack.logs import formats
from ndrtrack.logs.ingest import LineReader
from ndrtrack.logs.syslog import Clock, Envelope
from ndrtrack.model import LogEvent

PUBLIC = SAMPLES / "logs" / "public"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
COVERED: set[str] = set()


def _jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (PUBLIC / name).read_text().splitlines() if line]


def _message_event(fmt: str, program: str, message: str) -> LogEvent | None:
    COVERED.add(fmt)
    return formats.BY_NAME[fmt].parse(Envelope(NOW, "h", program, "1", message))


def _line_event(line: str, fmt: str = "auto") -> Any:
    reader = LineReader(clock=Clock("UTC", NOW), fmt=fmt, first_lines=[line])
    ev = reader(line)
    if ev is not None:
        COVERED.add(ev.mta)
    return ev


def _check(ev: Any, expected: dict[str, str]) -> None:
    assert ev is not None
    got = {k: getattr(ev, k) for k in expected}
    assert got == expected


# --- Postfix: msimerson/postfix-parser ---------------------------------------------------
def _msimerson_cases() -> list[Any]:
    cases = []
    mapping = {"qid": "queue_id", "to": "recipient", "orig_to": "orig_recipient",
               "dsn": "dsn", "relay": "relay", "message-id": "message_id",
               "dsnQid": "related_id", "host": "host", "prog": "program"}
    for i, case in enumerate(_jsonl("expected-msimerson-postfix-parser.jsonl")):
        line, fields = case["line"], case["fields"]
        full = re.match(r"[A-Z][a-z]{2} +\d", line or "") is not None
        if fields is None:
            cases.append(pytest.param(line, full, None, id=f"msimerson-{i}-null"))
            continue
        if "qid" not in fields or not (full or line.startswith(fields["qid"])):
            continue  # a bare key=value fragment without its queue id: not a log line
        if "msg" in fields and full and len(fields) <= 6:
            continue  # the source only split the envelope off
        expected = {mapping[k]: v for k, v in fields.items() if k in mapping}
        if not full and "host" in fields:  # "host mx[ip] said: …": the remote, not our host
            expected["relay"] = expected.pop("host")
        if "from" in fields:
            expected["sender"] = fields["from"]
        if "status" in fields:
            expected["status"] = fields["status"].split(" ")[0].rstrip(",")
        if "forwardedAs" in fields:  # "status=sent (forwarded as QID)": sent, linked to QID
            expected |= {"status": "sent", "related_id": fields["forwardedAs"]}
        cases.append(pytest.param(line, full, expected, id=f"msimerson-{i}"))
    return cases


@pytest.mark.parametrize("line, full, expected", _msimerson_cases())
def test_postfix_msimerson(line: str, full: bool, expected: dict[str, str] | None) -> None:
    ev = _line_event(line) if full else _message_event("postfix", "postfix/smtp", line)
    if expected is None:
        assert ev is None
    else:
        _check(ev, expected)


# --- Postfix: whyscream/postfix-grok-patterns -----------------------------------------------
#: grok patterns that match fragments, not a daemon's whole message
_FRAGMENTS = {"COMMAND_COUNTER_DATA", "DELAYS", "TLS_FEATURES", "RELAY", "SMTP_STAGE",
              "KEYVALUE", "ANVIL"}
_GROK = {"postfix_queueid": "queue_id", "postfix_client_ip": "client_ip",
         "postfix_client_hostname": "client_host", "postfix_status": "status",
         "postfix_status_code_enhanced": "dsn", "postfix_bounce_queueid": "related_id",
         "postfix_message-id": "message_id"}


def _grok_cases() -> list[Any]:
    cases = []
    for i, case in enumerate(_jsonl("expected-postfix-grok-patterns.jsonl")):
        daemon = re.search(r"POSTFIX_([A-Z_]+)", case["meta"]["pattern"])
        if daemon is None or daemon.group(1) in _FRAGMENTS:
            continue
        expected = {_GROK[k]: v for k, v in (case["fields"] or {}).items() if k in _GROK}
        if expected.get("queue_id") == "NOQUEUE":
            expected["queue_id"] = ""  # no queue file yet: the trace has no queue id
        program = "postfix/" + daemon.group(1).lower().replace("_", "-")
        cases.append(pytest.param(program, case["line"], expected, id=f"grok-{i}"))
    return cases


@pytest.mark.parametrize("program, message, expected", _grok_cases())
def test_postfix_grok_patterns(program: str, message: str, expected: dict[str, str]) -> None:
    _check(_message_event("postfix", program, message), expected)


# --- Exim ---------------------------------------------------------------------------------
def _exim_cases() -> list[Any]:
    mapping = {"exim_msgid": "queue_id", "exim_sender_email": "sender",
               "remote_host": "client_ip", "remote_hostname": "client_host",
               "remote_heloname": "helo", "exim_header_id": "message_id"}
    cases = []
    for i, case in enumerate(_jsonl("expected-logstash-patterns-core-exim.jsonl")):
        fields = case["fields"] or {}
        if "exim_flags" not in fields:
            continue
        expected = {mapping[k]: v for k, v in fields.items() if k in mapping}
        cases.append(pytest.param(case["line"], expected, id=f"logstash-{i}"))
    return cases


@pytest.mark.parametrize("line, expected", _exim_cases())
def test_exim_logstash(line: str, expected: dict[str, str]) -> None:
    _check(_line_event(line, "exim"), expected)


@pytest.mark.parametrize("line, expected", [
    ("2026-11-28 01:13:51 1xX70h-0006Yu-2O => nobody <nobody@example.test> R=localuser "
     "T=local_delivery QT=0s DT=0s",
     {"kind": "delivery", "queue_id": "1xX70h-0006Yu-2O", "recipient": "nobody@example.test",
      "status": "sent"}),
    ("2026-11-28 01:13:57 1xX70n-0006ZV-1Q ** unknown1@sink.test R=lab_routes T=remote_smtp "
     "H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server after RCPT "
     "TO:<unknown1@sink.test>: 550 5.1.1 <unknown1@sink.test>: Recipient address rejected",
     {"status": "bounced", "dsn": "5.1.1", "recipient": "unknown1@sink.test",
      "relay": "127.0.0.1[127.0.0.1]"}),
    ("2026-11-28 01:14:00 1xX70q-0006a5-2F == someone@down.test R=lab_routes T=remote_smtp "
     "defer (111): Connection refused DT=0s",
     {"status": "deferred", "queue_id": "1xX70q-0006a5-2F"}),
    ("2026-11-28 01:13:53 H=(client.bounces.test) [127.0.0.1] F=<sender-6@bounces.test> "
     "rejected RCPT <nosuchuser@example.test>: Unrouteable address",
     {"kind": "reject", "queue_id": "", "sender": "sender-6@bounces.test",
      "recipient": "nosuchuser@example.test", "client_ip": "127.0.0.1",
      "helo": "client.bounces.test", "reply": "Unrouteable address"}),
    ("2026-11-28 01:13:56 1xX70m-0006ZL-0i rejected from <sender-12@bounces.test> "
     "H=(client.bounces.test) [127.0.0.1]: message too big: read=307722 max=204800",
     {"kind": "reject", "queue_id": "1xX70m-0006ZL-0i", "sender": "sender-12@bounces.test",
      "status": "rejected", "recipient": ""}),
    ("2026-11-28 01:13:57 1xX70n-0006ZY-1S <= <> R=1xX70n-0006ZV-1Q U=Debian-exim P=local S=2074",
     {"kind": "arrival", "sender": "", "related_id": "1xX70n-0006ZV-1Q"}),
    ("2026-11-28 01:13:51 1xX70h-0006Yu-2O Completed", {"kind": "completed"}),
    ("2023-05-30 06:10:13.345 login authenticator failed for millis.example.org "
     "[192.0.2.12]:5432: 535 Incorrect authentication data (set_id=user)",
     {"kind": "info", "client_ip": "192.0.2.12"}),
    ("Jun 29 15:33:46 server exim[1234]: H=test.com [1.2.3.4]:53343 F=<info@test.com> "
     "rejected RCPT <toto@toto.com>: \"JunkMail rejected\"",
     {"kind": "reject", "host": "server", "client_host": "test.com", "client_ip": "1.2.3.4",
      "sender": "info@test.com", "recipient": "toto@toto.com"}),
])
def test_exim_lines(line: str, expected: dict[str, str]) -> None:
    fmt = "exim" if line[0].isdigit() else "auto"
    _check(_line_event(line, fmt), expected)


@pytest.mark.parametrize("fmt", ["auto", "exim"])
def test_exim_public_files_are_understood(fmt: str) -> None:
    for name in ("crowdsec-exim-logs.log", "crowdsec-exim-syslog-logs.log"):
        lines = [line for line in (PUBLIC / name).read_text().splitlines() if line.strip()]
        reader = LineReader(clock=Clock("UTC", NOW), fmt=fmt, first_lines=lines[:5])
        events = [reader(line) for line in lines]
        assert None not in events, name
        assert {e.mta for e in events} == {"exim"}


# --- Sendmail -----------------------------------------------------------------------------
def _sendmail_cases() -> list[Any]:
    cases = []
    for i, case in enumerate(_jsonl("expected-mozilla-lua-sendmail.jsonl")):
        f = case["fields"]
        if not f:
            continue
        expected = {"queue_id": f["sendmailid"]}
        if "to" in f:
            expected |= {"recipient": f["to"].strip("<>"), "dsn": f["dsn"], "status": "sent",
                         "relay": f["relay"]}
        if "from" in f:
            expected |= {"sender": f["from"].strip("<>"), "message_id": f["msgid"].strip("<>"),
                         "client_ip": f["relay"].split("[")[1].rstrip("]")}
        cases.append(pytest.param(case["line"], expected, id=f"mozilla-{i}"))
    return cases


@pytest.mark.parametrize("message, expected", [*_sendmail_cases(),
    pytest.param("6AS1L7tb027092: ruleset=check_rcpt, arg1=<someone@elsewhere.test>, "
                 "relay=[127.0.0.2], reject=550 5.7.1 <someone@elsewhere.test>... Relaying "
                 "denied. IP name lookup failed [127.0.0.2]",
                 {"kind": "reject", "recipient": "someone@elsewhere.test", "dsn": "5.7.1",
                  "client_ip": "127.0.0.2", "status": "rejected"}, id="lab-check-rcpt"),
    pytest.param("6AS1L6EO027090: to=ghost-user-not-in-passwd, ctladdr=<lost@example.test> "
                 "(8/0), delay=00:00:00, mailer=local, pri=120515, dsn=5.1.1, reply=550 5.1.1 "
                 "User unknown, stat=User unknown",
                 {"recipient": "lost@example.test", "status": "bounced", "dsn": "5.1.1",
                  "reply": "550 5.1.1 User unknown"}, id="lab-local-unknown"),
    pytest.param("6AS1L9Ns027117: to=<full1@sink.test>, delay=00:00:00, xdelay=00:00:00, "
                 "mailer=esmtp2547, pri=30000, relay=[127.0.0.1] [127.0.0.1], dsn=4.2.2, "
                 "reply=452 4.2.2 <full1@sink.test>: Mailbox full, stat=Deferred: 452 4.2.2 "
                 "<full1@sink.test>: Mailbox full",
                 {"status": "deferred", "dsn": "4.2.2"}, id="lab-deferred"),
    pytest.param("x6OAO3PO023456: Milter: data, reject=554 5.7.1 Rejected by content filter",
                 {"kind": "reject", "status": "rejected", "dsn": "5.7.1", "recipient": ""},
                 id="milter-data"),
    pytest.param("x6OAO3PO023456: Milter: to=<a@b.example>, reject=550 5.7.1 Not here",
                 {"kind": "reject", "recipient": "a@b.example", "reply": "550 5.7.1 Not here"},
                 id="milter-rcpt"),
    pytest.param("6AS1L6EO027090: 6AS1L6EO027091: DSN: User unknown",
                 {"kind": "notification", "related_id": "6AS1L6EO027091"}, id="lab-dsn"),
])
def test_sendmail(message: str, expected: dict[str, str]) -> None:
    _check(_message_event("sendmail", "sm-mta", message), expected)


# --- smtpf ---------------------------------------------------------------------------------
SID = "2AR1bZ207540001700"


@pytest.mark.parametrize("message, expected", [
    (f"{SID} #637 start localhost.localhost [127.0.0.1]:33804 f=\"relay,localhost\" th=1",
     {"kind": "session-start", "session_id": SID, "client_ip": "127.0.0.1",
      "client_host": "localhost.localhost"}),
    (f"{SID} #717 sender <app@ndrlab-corp.net> tid=2AR1bZ2075400017mh f=\"\" spf-mail=None "
     f"x=\"250 2.1.0 sender <app@ndrlab-corp.net> accepted #283 {SID}\"",
     {"kind": "sender", "queue_id": "2AR1bZ2075400017mh", "sender": "app@ndrlab-corp.net",
      "status": ""}),
    ("2AR1bN207540000800 #717 sender <blocked@ndrlab-sender.net> tid=2AR1bO207540000801 "
     "f=\"black,local_black\" x=\"550 5.7.1 sender <blocked@ndrlab-sender.net> black listed "
     "#127 2AR1bN207540000800\"", {"status": "rejected", "dsn": "5.7.1"}),
    ("2AR1bT207540001400 #718 recipient 2 <full@ndrlab-corp.net>: Recipient address rejected: "
     "Mailbox full tid=2AR1bU2075400014Ko f=\"failed\" x=\"452 4.2.2 recipient "
     "<full@ndrlab-corp.net> denied #300 2AR1bT207540001400\"",
     {"recipient": "full@ndrlab-corp.net", "status": "deferred", "dsn": "4.2.2"}),
    (f"{SID} #304 route:ndrlab-corp.net << 250 2.0.0 Ok: queued as C89BB1A304",
     {"kind": "downstream", "related_id": "C89BB1A304", "queue_id": "",
      "reply": "250 2.0.0 Ok: queued as C89BB1A304"}),
    (f"{SID} #720 message tid=2AR1bZ2075400017mh f=\"queued\" b=248 r=1/0 "
     f"m=<20261128013735.020854@vm> R=0 x=\"250 2.0.0 message 2AR1bZ2075400017mh accepted "
     f"#554 {SID}\"", {"kind": "handoff", "message_id": "20261128013735.020854@vm",
                       "status": "sent"}),
    (f"{SID} #721 end i=127.0.0.1 p=\"localhost.localhost\" m=1/1 b=343 R=0 t=0 l=\"\"",
     {"kind": "session-end", "session_id": SID}),
])
def test_smtpf(message: str, expected: dict[str, str]) -> None:
    _check(_message_event("smtpf", "smtpf", message), expected)


# --- Exchange -------------------------------------------------------------------------------
def test_exchange_tracking_csv() -> None:
    lines = (PUBLIC / "MSGTRK-sample.LOG").read_text().splitlines()
    reader = LineReader(clock=Clock("UTC", NOW), first_lines=lines[:5])
    events = [ev for ev in (reader(line) for line in lines) if ev is not None]
    COVERED.add("exchange")
    expected = _jsonl("expected-kinesis-agent-windows-exchange.jsonl")
    assert len(events) == len(expected) == 2
    assert events[0].host == "EX13D13UWA001"
    assert events[0].at == datetime(2017, 5, 22, 17, 33, 35, 632000, tzinfo=UTC)
    assert events[0].queue_id == "64712272257893"
    assert events[0].message_id.startswith("1028007174.22872.1495474412586.JavaMail.apollo@")


def test_exchange_event_rows_by_header() -> None:
    header = ["#Software: Microsoft Exchange Server", "#Log-type: Message Tracking Log",
              "#Fields: date-time,event-id,source,internal-message-id,message-id,"
              "recipient-address,recipient-status,sender-address,server-hostname,reference"]
    rows = ['2024-01-02T03:04:05.000Z,FAIL,SMTP,77,<m1@x>,a@y;b@y,"550 5.1.1 RESOLVER.ADR.'
            'RecipNotFound; not found",s@x,mx1,',
            "2024-01-02T03:04:06.000Z,DSN,DSN,78,<dsn1@x>,s@x,,,mx1,<m1@x>"]
    reader = LineReader(clock=Clock("UTC", NOW), fmt="exchange", first_lines=header)
    for line in header:
        assert reader(line) is None
    fail, dsn = (reader(row) for row in rows)
    _check(fail, {"kind": "delivery", "status": "bounced", "queue_id": "77",
                  "recipient": "a@y;b@y", "dsn": "5.1.1", "message_id": "m1@x", "host": "mx1"})
    _check(dsn, {"kind": "notification", "related_id": "m1@x", "queue_id": "78"})
    assert reader.totals()[("exchange", "exchange", "parsed")] == 2


# --- every line of the lab logs is understood ------------------------------------------------
@pytest.mark.parametrize("path, fmt", [
    ("lab/postfix/postfix.log", "auto"), ("lab/exim/mainlog", "auto"),
    ("lab/exim/rejectlog", "exim"), ("lab/sendmail/maillog", "auto"),
    ("smtpf/mail.log", "auto"), ("smtpf/mail-rfc3339.log", "auto"),
])
def test_lab_logs_have_no_unknown_lines(path: str, fmt: str) -> None:
    lines = (SAMPLES / "logs" / path).read_text(errors="replace").splitlines()
    reader = LineReader(clock=Clock("UTC", NOW), fmt=fmt, first_lines=lines[:5])
    unknown = [line for line in lines if line.strip() and reader(line) is None]
    assert unknown == []


def test_unknown_lines_are_counted_per_program() -> None:
    reader = LineReader(clock=Clock("UTC", NOW))
    assert reader("Nov 28 01:09:16 mx postfix/smtpd[1]: 0123456789AB: to=<truncat") is None
    assert reader("Nov 28 01:09:16 mx dovecot[1]: imap-login: Login") is None
    assert reader("not a log line") is None
    assert reader.totals() == {("postfix", "postfix/smtpd", "unknown"): 1,
                             ("", "dovecot", "unknown"): 1, ("", "", "error"): 1}


def test_every_registered_format_has_cases() -> None:
    # runs last in this module (pytest keeps definition order): the tables above filled COVERED
    assert set(formats.BY_NAME) <= COVERED | {f.mta for f in formats.REGISTRY if f.mta in COVERED}
    assert {f.name for f in formats.REGISTRY} == {"postfix", "exim", "sendmail", "smtpf",
                                                 "exchange"}


def test_program_dispatch() -> None:
    assert formats.for_program("postfix/submission/smtpd") is formats.BY_NAME["postfix"]
    assert formats.for_program("postfix-out/smtp") is formats.BY_NAME["postfix"]
    assert formats.for_program("sm-mta") is formats.BY_NAME["sendmail"]
    assert formats.for_program("exim4") is formats.BY_NAME["exim"]
    assert formats.for_program("dovecot") is None

