"""The public parse API never raises and stays linear, whatever arrives.

Property-based (hypothesis): random MIME trees with broken base64/QP, unknown charsets, 8-bit
junk in headers and nested messages; plus fixed worst cases: 50-deep nesting, a 20 MB message
and pathological diagnostic/forward text.  Every result is a ParseResult whose kind is one of
the design's kinds; a failure inside is a recorded error, never an exception.  Time bounds are
generous (the 2-core CI is shared); the sub-second figure for 20 MB is measured by
bench/parse_robust_size.py, not asserted here.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ndrtrack.model import MessageKind
from ndrtrack.parse.api import ParseResult, parse_bytes, result_to_json, to_records
from ndrtrack.parse.formats import REGISTRY
from ndrtrack.parse.forward_text import find_forward
from ndrtrack.parse.gate import Gated, GateTable, all_gate_open, gate_all, gate_open
from ndrtrack.parse.mime import (
    CTYPE_ATTR,
    MAX_HEADER_BLOCK,
    MAX_LEAF,
    boundary_of,
    parse_message,
    truncations,
)

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HEADER_NAMES = ["From", "To", "Subject", "Date", "Content-Type", "Content-Transfer-Encoding",
                "Received", "Message-ID", "X-Junk"]
CTYPES = ["text/plain", "text/html", "message/rfc822", "message/delivery-status",
          "application/octet-stream; name=x.eml", "application/ms-tnef", "multipart/report",
          "text/rfc822-headers", "application/vnd.ms-outlook", "message/global"]
CTES = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus"]
CHARSETS = ["utf-8", "iso-8859-1", "x-unknown", "utf-7", "", "gb2312", "\"weird\""]


def check(raw: bytes) -> ParseResult:
    result = parse_bytes(raw)
    assert isinstance(result, ParseResult)
    assert result.kind in set(MessageKind)
    to_records(result, "f.eml")
    result_to_json(result)
    return result


header_value = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["=?utf-8?b?!!!?=", "=?x-bad?q?=FF?=", "<>", "a@", "rfc822; ", "\udcff"]),
)


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    ctype = draw(st.sampled_from(CTYPES))
    cte = draw(st.sampled_from(CTES))
    charset = draw(st.sampled_from(CHARSETS))
    body = draw(st.binary(max_size=400))
    if cte == "base64" and draw(st.booleans()):
        body = base64.encodebytes(body)[: draw(st.integers(0, 600))] + b"=!*"
    elif cte == "quoted-printable":
        body += b"=\n=ZZ=4"
    head = f"Content-Type: {ctype}; charset={charset}\nContent-Transfer-Encoding: {cte}\n"
    return head.encode("utf-8", "surrogateescape") + b"\n" + body


def tree(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def node(draw: st.DrawFn) -> bytes:
        kind = draw(st.sampled_from(["multipart/mixed", "multipart/report", "message/rfc822"]))
        if kind == "message/rfc822":
            return b"Content-Type: message/rfc822\n\nSubject: inner\n" + draw(children)
        parts = draw(st.lists(children, max_size=4))
        boundary = f"b{draw(st.integers(0, 10**6))}"
        out = f"Content-Type: {kind}; boundary={boundary}\n\n".encode()
        for part in parts:
            out += f"--{boundary}\n".encode() + part + b"\n"
        if draw(st.booleans()):
            out += f"--{boundary}--\n".encode()
        return out
    return node()


mime = st.recursive(leaf(), tree, max_leaves=12)


@SETTINGS
@given(headers=st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_value), max_size=8),
       body=mime)
def test_random_mime_trees_never_raise(headers: list[tuple[str, str]], body: bytes) -> None:
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    check(head.encode("utf-8", "surrogateescape") + body)


@SETTINGS
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    result = check(raw)
    assert result.kind in (MessageKind.NOT_A_BOUNCE, MessageKind.RESENT) or result.bounce


@SETTINGS
@given(junk=st.binary(min_size=1, max_size=200))
def test_eight_bit_junk_in_headers(junk: bytes) -> None:
    raw = (b"From: MAILER-DAEMON@x.org\nSubject: " + junk + b"\nX-Bad: " + junk +
           b"\nContent-Type: multipart/report; report-type=delivery-status; boundary=R\n\n"
           b"--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; " + junk +
           b"\n\nFinal-Recipient: rfc822; " + junk + b"\nAction: failed\nStatus: 5.1.1\n--R--\n")
    check(raw)


@SETTINGS
@given(st.text(alphabet=st.sampled_from("From:-_>*<@ \t\nSubject:Date:To:wrote=[]mailto"),
               max_size=2000))
def test_inline_forward_scanner_on_hostile_text(text: str) -> None:
    find_forward(text)


def nest(depth: int, inner: bytes) -> bytes:
    raw = inner
    for level in range(depth):
        raw = (f"From: f{level}@x.org\nSubject: Fwd\nContent-Type: multipart/mixed; "
               f"boundary=n{level}\n\n--n{level}\nContent-Type: message/rfc822\n\n").encode() \
            + raw + f"\n--n{level}--\n".encode()
    return raw


def test_fifty_deep_nesting() -> None:
    inner = (b"From: MAILER-DAEMON@x.org\nSubject: Undelivered\nContent-Type: multipart/report; "
             b"report-type=delivery-status; boundary=R\n\n--R\nContent-Type: text/plain\n\nfail\n"
             b"--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x.org\n\n"
             b"Final-Recipient: rfc822; a@b.org\nAction: failed\nStatus: 5.1.1\n\n--R--\n")
    result = check(nest(50, inner))
    assert result.kind == MessageKind.BOUNCE and result.layer == 50


def test_twenty_megabyte_message_parses_in_bounded_time() -> None:
    body = base64.encodebytes(bytes(range(256)) * (15 * 4096)).decode()  # ≈ 20 MB of base64
    raw = ("From: a@b.org\nSubject: big\nContent-Type: multipart/mixed; boundary=Z\n\n--Z\n"
           "Content-Type: text/plain\n\n" + "Forwarded text line\n" * 20000 +
           "--Z\nContent-Type: application/octet-stream; name=blob.bin\n"
           "Content-Transfer-Encoding: base64\n\n" + body + "--Z--\n").encode()
    assert len(raw) > 20_000_000
    start = time.perf_counter()
    check(raw)
    assert time.perf_counter() - start < 15  # generous: shared CI cores; the bench measures


def test_pathological_diagnostic_and_forward_text_are_linear() -> None:
    line = "Diagnostic-Code: smtp; 550 " + "5.1.1 (" * 20000 + "\n"
    raw = (b"From: MAILER-DAEMON@x.org\nSubject: fail\nContent-Type: multipart/report; "
           b"report-type=delivery-status; boundary=R\n\n--R\nContent-Type: message/delivery-status"
           b"\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@b.org\nAction: failed\n"
           b"Status: 5.1.1\n" + line.encode() + b"--R--\n")
    text = ("----- " + "-" * 50000 + " x\n" + ("From: " * 5000 + "\n") * 20 +
            "a" * 100000 + ":" + " <" * 20000 + "\n") * 2
    hostile_lines = [
        "-" * 1999,  # rules everywhere
        "---- a ---- " + ":" * 1980,  # a separator with endless colons
        " " * 1990 + "mailto:",  # a space run before a mailto
        "---- a ---- " + "From: x " * 240,  # glued fields without end
        "> " * 999,  # deep quoting
    ]
    start = time.perf_counter()
    for line in hostile_lines:
        find_forward((line + "\n") * 500)
    check(raw)
    find_forward(text)
    check(("From: a@b.org\nSubject: x\n\n" + text).encode())
    assert time.perf_counter() - start < 10


# --- the fast MIME parser (parse/mime.py) builds exactly the stdlib's compat32 tree ---

SAMPLES_ROOT = Path(__file__).resolve().parents[1] / "samples"


def stdlib_tree(raw: bytes) -> tuple:
    return shape(BytesParser(policy=compat32).parsebytes(raw))


def shape(msg: Message) -> tuple:
    """Everything a reader of a compat32 tree can see, recursively: the raw tree, what
    ``get`` answers for every name (ParsedMessage indexes names) and the content type (the
    parser keeps it on each part)."""
    payload = msg._payload  # noqa: SLF001 - the tree itself is what is compared
    inner = [shape(p) for p in payload] if isinstance(payload, list) else payload
    headers = list(msg._headers)  # noqa: SLF001
    names = [name for name, _ in headers] + ["CONTENT-TYPE", "x-absent"]
    answers = [(type(msg.get(n)).__name__, str(msg.get(n))) for n in names]
    answers += [(type(v).__name__, k, str(v)) for k, v in msg.items()]
    ctype = vars(msg).get(CTYPE_ATTR, msg.get_content_type())
    return (msg.get_unixfrom(), headers, msg.get_default_type(), msg.preamble, msg.epilogue,
            answers, ctype, inner)


@SETTINGS
@given(headers=st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_value), max_size=8),
       body=mime)
def test_fast_parser_builds_the_stdlib_tree(headers: list[tuple[str, str]], body: bytes) -> None:
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    raw = head.encode("utf-8", "surrogateescape") + body
    for variant in (raw, raw.replace(b"\n", b"\r\n")):
        assert shape(parse_message(variant)) == stdlib_tree(variant)


FRAGMENTS = [b"From: a@b\n", b"From x y\n", b"Subject: hi\n", b" folded\n", b"\tfolded\n",
             b":no name\n", b"no header\n", b"\n", b"\r\n", b"\r", b"Status: 5.0.0\n",
             b"Content-Type: multipart/mixed; boundary=B\n", b"Content-Type: message/rfc822\n",
             b"Content-Type: multipart/digest; boundary=C\n", b"--B\n", b"--B--\n", b"--B \n",
             b"--C\n", b"--C--\n", b"--B", b"--Bx\n", b"Content-Type: message/delivery-status\n",
             b"body\xff\xfe\n", b"Action: failed\r\n", b"--B--", b"\n\n"]


@SETTINGS
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40))
def test_fast_parser_matches_stdlib_on_broken_structure(fragments: list[bytes]) -> None:
    """Misplaced envelope lines, bare CRs, missing/duplicate boundaries, headerless parts."""
    raw = b"".join(fragments)
    assert shape(parse_message(raw)) == stdlib_tree(raw)


def test_fast_parser_matches_stdlib_on_every_sample() -> None:
    files = [p for p in sorted(SAMPLES_ROOT.rglob("*")) if p.is_file() and p.suffix in
             (".eml", ".txt", ".msg", "")]
    assert len(files) > 50
    for path in files:
        raw = path.read_bytes()
        for variant in (raw, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")):
            assert shape(parse_message(variant)) == stdlib_tree(variant), path.name


def test_huge_leaf_is_cut_and_said_so() -> None:
    blob = base64.encodebytes(bytes(range(256)) * 2000)  # ≈ 690 kB of base64
    raw = (b"From: a@b.org\nSubject: Fwd\nContent-Type: multipart/mixed; boundary=Z\n\n"
           b"--Z\nContent-Type: text/plain\n\nsee attached\n"
           b"--Z\nContent-Type: application/octet-stream; name=big.bin\n"
           b"Content-Transfer-Encoding: base64\n\n" + blob +
           b"--Z\nContent-Type: application/ms-tnef; name=winmail.dat\n\n" + blob + b"--Z--\n")
    msg = parse_message(raw, max_leaf=64 * 1024)
    text, big, tnef = msg.get_payload()
    assert text.get_payload() == "see attached"
    assert 60_000 < len(big.get_payload()) <= 64 * 1024
    assert (len(big.get_payload()) + 1) % 77 == 0  # whole base64 lines: it still decodes
    assert base64.b64decode(big.get_payload())[:256] == bytes(range(256))
    assert len(tnef.get_payload()) == len(blob) - 1  # containers are kept whole
    assert truncations(msg) == [f"application/octet-stream body cut at "
                                f"{len(big.get_payload()) + 1} of {len(blob)} bytes"]
    assert truncations(parse_message(raw)) == []


def test_cut_is_reported_by_parse_bytes() -> None:
    raw = (b"From: a@b.org\nSubject: big\n\n" + b"Some forwarded text, line after line.\n"
           * (MAX_LEAF // 38 + 1000))
    result = parse_bytes(raw)
    assert any(e.startswith("mime: text/plain body cut at") for e in result.errors)


def test_parsed_message_get_follows_header_changes() -> None:
    """The name index of ParsedMessage never answers from a header list that changed."""
    raw = (b"From: a@b.org\nTo: c@d.org\nSubject: one\nDate: x\nMessage-ID: <1@b>\n"
           b"X-A: 1\nX-B: 2\nContent-Type: multipart/mixed; boundary=Z\n\n--Z\n\nhi\n--Z--\n")
    msg = parse_message(raw)

    def agrees() -> None:
        for name in ("subject", "SUBJECT", "x-a", "x-new", "content-type", "to", "absent"):
            assert msg.get(name) == Message.get(msg, name), name

    agrees()
    msg.replace_header("Subject", "two")
    agrees()
    msg["X-New"] = "3"
    agrees()
    del msg["Subject"]
    msg["Subject"] = "three"
    agrees()
    msg.set_boundary("Y")
    agrees()
    msg.set_param("charset", "utf-8")
    agrees()
    msg.set_raw("X-A", "0")  # a second X-A: the first one still answers
    agrees()
    assert msg.get("subject") == "three" and msg.get_boundary() == "Y"


PARAM_TOKENS = ['"', '"a;b"', '"x"', '" p "', 'boundary="', "multipart/mixed", ";", " ",
                "boundary", "BOUNDARY", "=", "abc", "x y", "\t", "*", "boundary*0", "<a>",
                "\\", "charset=utf-8", ";;", "==", "é", "\udcff", "Boundary ", " =b"]


@SETTINGS
@given(st.lists(st.sampled_from(PARAM_TOKENS), max_size=10))
def test_boundary_of_agrees_with_get_boundary(tokens: list[str]) -> None:
    msg = Message()
    msg.set_raw("Content-Type", "".join(tokens))

    def outcome(read: Callable[[Message], str | None]) -> object:
        try:
            return read(msg)
        except UnicodeError as exc:  # the stdlib's own failure on mixed text: the same one
            return type(exc)

    assert outcome(boundary_of) == outcome(Message.get_boundary)


WORDS = ["mailer-daemon@", "daemon", "user unknown", "unknown", "spamhaus", "5.7.1", "x"]


@SETTINGS
@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=3).map(tuple), max_size=12),
       st.lists(st.sampled_from([*WORDS, " ", "y", "5.7."]), max_size=10).map("".join))
def test_gate_table_opens_what_each_gate_opens(gates: list[tuple[str, ...]], text: str) -> None:
    """GateTable (hints, provider codes) = every rule's own gate, in rule order."""
    expected = [i for i, literals in enumerate(gates) if gate_open(literals, text)]
    assert GateTable(gates).opened(text) == expected


PHRASES = ["user", "unknown", "address", "black", "listed", "ip", "not permitted",
           "rejected", "mailbox", "is", "full", "quota", "invalid", "does not", "exist",
           "sender", "relay", "denied", "timed", "out", "rfc", "5322", "header", "-"]


@SETTINGS
@given(st.lists(st.sampled_from([*PHRASES, " ", "y"]), max_size=12).map("".join))
def test_conjunctive_gates_open_wherever_their_rule_matches(text: str) -> None:
    """reasons.TEXT_RULES run only behind their gates: a gate may never hide a match."""
    from ndrtrack.parse.reasons import TEXT_RULES

    for _, pattern in TEXT_RULES:
        if pattern.search(text):
            assert all_gate_open(gate_all(pattern.pattern), text), pattern.pattern


@SETTINGS
@given(st.lists(st.sampled_from([*PHRASES, " ", "_", "é", "5", "virus", "rbl", "spam"]),
                max_size=10).map("".join))
def test_rules_rewritten_for_scanning_match_as_written(text: str) -> None:
    """word_start_first (``\\bc`` → ``c(?<!\\wc)``) changes no match of any phrase rule."""
    from ndrtrack.parse.gate import lowered, word_start_first
    from ndrtrack.parse.reasons import _TEXT_RULES

    for _, source in _TEXT_RULES:
        plain = re.compile(lowered(source))
        rewritten = re.compile(word_start_first(lowered(source)))
        expected, found = plain.search(text), rewritten.search(text)
        assert (found and found.span()) == (expected and expected.span()), source


@SETTINGS
@given(st.text(alphabet="abcXYZ-@.:[] \n5", max_size=40))
def test_folded_patterns_answer_as_the_originals(text: str) -> None:
    """Gated.found (the folded twin on lowercased ASCII) = Gated.search, for every hint and
    signature of every registered format."""
    low = text.lower()
    for fmt in REGISTRY:
        for pattern in (fmt.hints, getattr(fmt, "signature", None)):
            if pattern is not None:
                gated = Gated(pattern)
                assert gated.found(text, low) == (gated.search(text, low) is not None)


@SETTINGS
@given(st.lists(st.sampled_from(["İ", "x", " ", "\n", "Mail Delivery", "Undelivered", "-",
                                 "Transcript of session follows", "postfix program", "é"]),
                max_size=30).map("".join),
       st.integers(min_value=0, max_value=120))
@example("İİİİİThis is the Postfix program", 32)  # the literal ends beyond 32 once lowered
def test_prefix_search_answers_as_a_search_of_the_prefix(text: str, limit: int) -> None:
    """Gated.found_in_prefix (signature_in: no prefix copies, lowercasing may lengthen the
    text) = the pattern searched in text[:limit], for every format's hint and signature."""
    lowered = text.lower()
    slack = len(lowered) - len(text)
    for fmt in REGISTRY:
        for pattern in (fmt.hints, getattr(fmt, "signature", None)):
            if pattern is not None:
                expected = pattern.search(text[:limit]) is not None
                assert Gated(pattern).found_in_prefix(text, lowered, limit, slack) == expected


@SETTINGS
@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b"Key: v"]), max_size=16)
       .map(b"".join), st.integers(min_value=0, max_value=4))
def test_blank_line_search_is_the_atomic_one(raw: bytes, pos: int) -> None:
    """The first empty line after a line end: "\\r\\n" is one line end, never "\\r" then "\\n"."""
    from ndrtrack.parse.mime import _BLANK_AFTER

    atomic = re.compile(rb"(?>\r\n|\r|\n)(\r\n|\r|\n)").search(raw, pos)
    found = _BLANK_AFTER.search(raw, pos)
    expected = atomic.span(1) if atomic else None
    assert (found.span(found.lastindex or 0) if found else None) == expected


def test_megabytes_of_header_lines_are_cut_and_said_so() -> None:
    hop = b"Received: from a.example by b.example; Thu, 1 Jan 2026 00:00:00 +0000\n"
    raw = b"From: a@b.org\nSubject: loop\n" + hop * 40_000 + b"To: c@d.org\n\nthe body\n"
    msg = parse_message(raw)
    assert msg["Subject"] == "loop" and msg.get_payload() == "the body\n"
    assert msg["To"] is None  # beyond the cut
    assert len(msg.get_all("Received")) < MAX_HEADER_BLOCK // len(hop) + 1
    assert truncations(msg)[0].startswith("header block cut at ")
    assert any(e.startswith("mime: header block cut") for e in parse_bytes(raw).errors)


_STATUS_LOOKBEHIND_FIRST = re.compile(
    r"(?<![\w.])(?<![A-Za-z]-)([245])\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d|-\d)"
)
_REPLY_LOOKBEHIND_FIRST = re.compile(r"(?<![\w.:/=#-])([245][0-5]\d)(?=[ \t-]|:\s|$)", re.M)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["5", "4", "2", "0", "1", "55", ".", "-", "a", "é", " ", "\n",
                                 ":", "/", "=", "#", "\t", "5.1.1", "550", "x-", "1.2."]),
                max_size=30))
@example(["5.1.1"])
@example(["a-", "5.1.1"])
@example(["x", "-", "5", ".", "1", ".", "1"])
@example(["550", " ", "5.7.1"])
def test_status_and_reply_patterns_equal_their_lookbehind_first_forms(parts: list[str]) -> None:
    """STATUS and REPLY lead with the first digit so re can scan for it; every match (span
    and groups) is the one the look-behind-first forms find."""
    from ndrtrack.parse.extract import REPLY, STATUS

    text = "".join(parts)
    for fast, plain in ((STATUS, _STATUS_LOOKBEHIND_FIRST), (REPLY, _REPLY_LOOKBEHIND_FIRST)):
        assert [(m.span(), m.groups()) for m in fast.finditer(text)] == [
            (m.span(), m.groups()) for m in plain.finditer(text)
        ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["after", "AFTER ", "in reply to", "while talking to x:", ">>>",
                                 " ", "the ", "RCPT TO", "data", "end of data", "ehlo", "a",
                                 "w", "i", "xafter", ":"]), max_size=12))
def test_smtp_command_word_gate_hides_no_match(parts: list[str]) -> None:
    """smtp_command asks for the pattern's words before the regex: same answer as the regex."""
    from ndrtrack.parse.extract import _COMMAND, _COMMAND_NAMES, smtp_command

    text = "".join(parts)
    match = _COMMAND.search(text.lower())
    assert smtp_command(text) == (_COMMAND_NAMES.get(match.group(1), "") if match else "")
