"""Reason classification: status codes, stock MTA phrases, provider rules, permanence."""

from __future__ import annotations

import re
import time

import pytest

from ndrtrack.model import Reason
from ndrtrack.parse.reasons import PROVIDER_COMMAND_RULES, PROVIDER_RULES, TEXT_RULES, classify


@pytest.mark.parametrize(
    ("status", "reply", "diagnostic", "reason"),
    [
        (
            "5.1.1",
            "550",
            "550 5.1.1 <a@example.org>: Recipient address rejected: "
            "User unknown in local recipient table",
            "userunknown",
        ),
        (
            "5.1.2",
            "550",
            "Host or domain name not found. Name service error for name=example.invalid type=MX",
            "hostunknown",
        ),
        ("5.2.2", "552", "552 5.2.2 Mailbox full", "mailboxfull"),
        (
            "5.1.1",
            "552",
            "552 sorry, mailbox a@example.org is over quota temporarily (#5.1.1)",
            "mailboxfull",
        ),
        ("5.3.4", "552", "552 5.3.4 Message size exceeds fixed limit", "mesgtoobig"),
        ("5.7.1", "554", "554 5.7.1 <a@example.org>: Relay access denied", "norelaying"),
        (
            "5.7.1",
            "550",
            "550 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org",
            "blocked",
        ),
        ("5.7.1", "550", "550 5.7.1 Message rejected as spam by Content Filtering", "spamdetected"),
        ("5.7.1", "554", "554 5.7.1 The message contains a virus", "virusdetected"),
        (
            "5.7.26",
            "550",
            "550 5.7.26 Unauthenticated email from example.org is not accepted "
            "due to domain's DMARC policy",
            "authfailure",
        ),
        (
            "5.7.25",
            "550",
            "550 5.7.25 The IP address sending this message does not have a PTR record setup",
            "requireptr",
        ),
        (
            "5.1.8",
            "553",
            "553 5.1.8 <s@example.org>... Domain of sender address s@example.org does not exist",
            "rejected",
        ),
        ("5.1.6", "550", "550 5.1.6 Recipient addresses has moved", "hasmoved"),
        ("5.1.10", "556", "556 5.1.10 Recipient address has null MX", "notaccept"),
        ("4.4.7", "", "delivery temporarily suspended: retry timeout exceeded", "expired"),
        ("", "", "retry timeout exceeded", "expired"),
        (
            "4.4.1",
            "",
            "connect to mx.example.org[192.0.2.1]:25: Connection refused",
            "networkerror",
        ),
        ("5.0.0", "550", "550 Mailbox disabled, account suspended", "suspend"),
        ("5.5.2", "500", "500 5.5.2 Syntax error, command unrecognized", "syntaxerror"),
        (
            "4.7.0",
            "421",
            "421 4.7.0 Too many concurrent SMTP connections from this IP",
            "toomanyconn",
        ),
        ("4.7.0", "421", "421 4.7.0 Sending rate limit exceeded, try again later", "speeding"),
        ("5.7.28", "550", "550 5.7.28 Mail flood detected", "spamdetected"),
        (
            "5.6.0",
            "554",
            "554 5.6.0 Message header is missing or invalid: multiple Date headers",
            "notcompliantrfc",
        ),
        ("5.7.0", "530", "530 5.7.0 Must issue a STARTTLS command first", "failedstarttls"),
        ("4.3.1", "452", "452 4.3.1 Insufficient system storage", "systemfull"),
        ("5.0.0", "", "mail for example.org loops back to myself", "networkerror"),
        ("5.3.0", "", 'Command died with status 1: "/usr/bin/procmail"', "mailererror"),
        ("4.5.0", "", "X-Unix; 71", "mailererror"),
        # a vague x.0.0 status: a reply code that names a cause decides, a vague one does not
        ("4.0.0", "451", "451 Could not load configuration for domain", "systemerror"),
        ("5.0.0", "550", "550 Rejected", "onhold"),
        ("5.3.0", "550", "550 5.3.0 <a@example.org>... Insufficient permission", "systemerror"),
        ("", "550", "550-REJECTED - Blacklisted URL in message. (example.com)", "spamdetected"),
        ("5.7.1", "554", "554 5.7.1 Message contains a URL listed in SURBL", "spamdetected"),
        ("", "", "Sorry, you are sending to/from an address that has been blacklisted", "rejected"),
        ("5.7.1", "550", "550 5.7.1 IP address blacklisted by recipient", "blocked"),
        (
            "",
            "550",
            "550-Please turn on SMTP Authentication in your mail client. 550 relay through this "
            "server without authentication.",
            "securityerror",
        ),
        (
            "",
            "450",
            "450 service permits 2 unverifyable sending IPs - mx.example.org is not 192.0.2.1",
            "requireptr",
        ),
        (
            "",
            "",
            "The account or domain may not exist, they may be blacklisted, or missing the "
            "proper dns entries.",
            "hostunknown",
        ),
        # a capability list in a transcript is not a STARTTLS failure
        ("", "451", "Out: 250-STARTTLS Out: 250-8BITMIME Out: 451 4.3.0 Error", "systemerror"),
        ("", "", "", "undefined"),
    ],
)
def test_classification(status: str, reply: str, diagnostic: str, reason: str) -> None:
    assert classify(status, reply, diagnostic)[0] == reason


@pytest.mark.parametrize(
    ("status", "reason", "permanent"),
    [
        ("5.1.1", "userunknown", True),
        ("4.1.1", "userunknown", False),
        ("5.2.2", "mailboxfull", False),
        ("5.1.2", "hostunknown", True),
    ],
)
def test_permanent_means_the_address_will_not_work(
    status: str, reason: str, permanent: bool
) -> None:
    assert classify(status, status[0] + "50", "") == (reason, permanent)


def test_not_failures_keep_their_kind() -> None:
    assert classify("2.0.0", "250", "250 ok", action="delivered") == ("delivered", False)
    assert classify("4.4.7", "", "", action="delayed")[0] == "expired"


def test_the_command_refines_an_address_reason() -> None:
    assert classify("", "550", "550 unknown user", command="RCPT")[0] == "userunknown"
    assert classify("", "550", "550 unknown user", command="DATA")[0] == "filtered"
    assert classify("5.0.0", "550", "550 no such user", command="MAIL")[0] == "rejected"
    assert classify("5.1.1", "550", "550 5.1.1 user unknown", command="DATA")[0] == "userunknown"


def test_a_bare_refusal_is_judged_by_its_status_and_command() -> None:
    """ "Access denied" names no cause: 5.7.1 (delivery not authorised) is a security
    refusal; at MAIL FROM it refuses the sender, at the greeting or EHLO the client host."""
    denied = "550 5.7.1 <a@example.org>... Access denied"
    assert classify("5.7.1", "550", denied)[0] == "securityerror"
    assert classify("5.7.1", "550", "550 5.7.1 Access denied", command="MAIL")[0] == "rejected"
    assert classify("", "550", "550 Access denied", command="CONN")[0] == "blocked"
    assert classify("5.0.0", "550", "550 Rejected", command="EHLO")[0] == "blocked"
    # a phrase that names the cause still wins over the command
    assert (
        classify("5.0.0", "550", "550 Unauthenticated senders not allowed", command="MAIL")[0]
        == "securityerror"
    )


def test_provider_rules_by_remote_mta_and_recipient_domain() -> None:
    diagnostic = "550 This user doesn't have a yahoo.com account (x@yahoo.com) [0]"
    assert (
        classify("5.0.0", "554", diagnostic, command="DATA", recipient="x@yahoo.com")[0]
        == "userunknown"
    )
    assert (
        classify("5.0.0", "554", diagnostic, command="DATA", recipient="x@example.org")[0]
        == "filtered"
    )
    assert (
        classify(
            "4.7.0",
            "421",
            "421 4.7.0 [TSS04] Messages temporarily deferred due to user complaints",
            remote_mta="mta7.am0.yahoodns.net",
        )[0]
        == "badreputation"
    )


@pytest.mark.parametrize(
    ("remote_mta", "recipient", "diagnostic", "reason"),
    [
        # KDDI: an empty address slot is the recipient's reception filter, a named one a
        # missing mailbox
        ("lsean.ezweb.ne.jp", "a@ezweb.ne.jp", "550 : User unknown", "filtered"),
        ("", "a@au.com", "550: : User unknown", "filtered"),
        ("msmx.au.com", "a@au.com", "550 <a@au.com>: User unknown", "userunknown"),
        (
            "",
            "a@ezweb.ne.jp",
            "Each of the following recipients was rejected by a remote mail server.",
            "filtered",
        ),
        # Orange / La Poste: the published number after the underscore decides
        ("smtp-in.orange.fr", "", "421 4.2.0 Service refuse. OFR005_505 [505]", "systemerror"),
        ("smtp-in.orange.fr", "", "550 5.2.0 Mail rejete. Mail rejected. ofr_506", "spamdetected"),
        ("smtpz4.laposte.net", "", "550 5.5.0 Invalid recipient. LPN007_416", "userunknown"),
        ("smtp-in.orange.fr", "", "550 5.7.1 Message refuse, DMARC LPN007_517", "authfailure"),
        (
            "service1.mimecast.com",
            "",
            "554 email rejected due to security policies - X",
            "virusdetected",
        ),
        (
            "email-smtp.eu-west-1.amazonaws.com",
            "",
            "554 Message rejected: Email address is not verified.",
            "norelaying",
        ),
        (
            "aspmx.l.google.com",
            "",
            "552-5.7.0 This message was blocked because its content presents a potential",
            "policyviolation",
        ),
    ],
)
def test_provider_wording(remote_mta: str, recipient: str, diagnostic: str, reason: str) -> None:
    got = classify("5.0.0", diagnostic[:3], diagnostic, remote_mta=remote_mta, recipient=recipient)
    assert got[0] == reason


def test_every_rule_names_a_design_reason() -> None:
    names = {r.value for r in Reason}
    assert {reason.value for reason, _ in TEXT_RULES} <= names
    assert {reason.value for _, rules in PROVIDER_RULES for _, reason in rules} <= names
    assert {reason.value for *_, reason in PROVIDER_COMMAND_RULES} <= names


def test_docomo_unknown_user_after_data_refuses_the_sender() -> None:
    diagnostic = "550 Unknown user a@docomo.ne.jp"
    mta = "mfsmax.docomo.ne.jp"
    assert classify("5.0.0", "550", diagnostic, remote_mta=mta, command="DATA")[0] == "rejected"
    assert classify("5.1.1", "550", diagnostic, remote_mta=mta, command="RCPT")[0] == "userunknown"
    # another provider's "unknown user" after DATA stays a filter's answer
    assert classify("5.0.0", "550", "550 unknown user", command="DATA")[0] == "filtered"


@pytest.mark.parametrize(
    "diagnostic",
    [
        "a" * 200_000,
        "550 " + "user " * 40_000,
        "(" * 50_000 + "@" * 50_000,
        "\x00\udcff" * 1000,
    ],
)
def test_pathological_text_is_fast_and_safe(diagnostic: str) -> None:
    started = time.perf_counter()
    reason, permanent = classify("5.9.9", "599", diagnostic, remote_mta="x" * 10_000)
    assert isinstance(reason, str) and isinstance(permanent, bool)
    assert time.perf_counter() - started < 0.5


def _sample_texts() -> list[str]:
    from pathlib import Path

    from ndrtrack.parse.decode import decode_bytes
    from ndrtrack.parse.extract import body_text

    texts = []
    folder = Path(__file__).resolve().parents[1] / "samples" / "bounces"
    for path in sorted(folder.glob("*.eml")):
        raw = path.read_bytes()
        from email.parser import BytesParser
        from email.policy import compat32

        texts.append(body_text(BytesParser(policy=compat32).parsebytes(raw)))
        texts.extend(s.diagnostic for s in decode_bytes(raw).statuses)
    return texts


def test_literal_gates_never_hide_a_match() -> None:
    """Every rule or format pattern that matches a sample text has its gate literal in it."""
    from ndrtrack.parse.formats import REGISTRY
    from ndrtrack.parse.gate import Gated

    patterns = [p for _, p in TEXT_RULES]
    for fmt in REGISTRY:
        patterns += [p for p in (getattr(fmt, "hints", None), getattr(fmt, "signature", None)) if p]
    for text in _sample_texts():
        low = text.lower()
        for pattern in patterns:
            gated = Gated(pattern)
            target = low if pattern in [p for _, p in TEXT_RULES] else text
            if pattern.search(target):
                assert gated.search(target, low) is not None, pattern.pattern


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"user unknown|no such (?:user|mailbox)", ("user unknown", "no such ")),
        (r"mailbox (?:is )?full|quota", ("mailbox ", "quota")),
        (r"e?-mail|x", ()),
        (r"[a\]b]cdef|ghij", ("cdef", "ghij")),
        (r"a{2,3}bcd|x\d{1,3}yz", ()),
        # a branch without a long plain run: the alternatives of a group it must pass
        (r"(?:user|mailbox) (?:is )?unknown", ("unknown",)),
        (r"\bip\b.{0,30}(?:not permitted|rejected)", ("not permitted", "rejected")),
        (r"(?:ab|cd)x|(?<!abc)y", ()),
        (r"(?:user|mailbox)?x", ()),
    ],
)
def test_gate_literals(pattern: str, literals: tuple[str, ...]) -> None:
    from ndrtrack.parse.gate import gate_literals

    assert gate_literals(pattern) == literals


def test_conjunctive_gate_needs_every_word_of_a_branch() -> None:
    from ndrtrack.parse.gate import all_gate_open, gate_all

    gate = gate_all(r"address (?:is )?black ?listed|quota")
    assert all_gate_open(gate, "the address is blacklisted")
    assert all_gate_open(gate, "over quota")
    assert not all_gate_open(gate, "recipient address rejected")
    assert all_gate_open(gate_all(r"x|user unknown"), "anything")  # a branch without words


def test_conjunctive_gates_never_hide_a_match() -> None:
    """Every phrase rule that matches a sample text (lowercased) has its gate open on it."""
    from ndrtrack.parse.gate import all_gate_open, gate_all

    gates = [gate_all(pattern.pattern) for _, pattern in TEXT_RULES]
    for text in _sample_texts():
        low = text.lower()
        for (_, pattern), gate in zip(TEXT_RULES, gates, strict=True):
            if pattern.search(low):
                assert all_gate_open(gate, low), pattern.pattern


@pytest.mark.parametrize(
    ("pattern", "rewritten"),
    [
        (r"\bvirus|malware", r"v(?<!\wv)irus|malware"),
        (r"\brbl\b|x", r"r(?<!\wr)bl\b|x"),
        (r"[\b]abc|\\bad", r"[\b]abc|\\bad"),  # a backspace in a class, an escaped backslash
        (r"\b(?:a|b)|\bx?y|\b\d", r"\b(?:a|b)|\bx?y|\b\d"),  # no single literal follows
    ],
)
def test_word_start_first(pattern: str, rewritten: str) -> None:
    from ndrtrack.parse.gate import word_start_first

    assert word_start_first(pattern) == rewritten


def test_rewritten_rules_match_where_the_written_ones_do() -> None:
    """TEXT_RULES are compiled from their source with word_start_first: same match spans."""
    from ndrtrack.parse.gate import lowered
    from ndrtrack.parse.reasons import _TEXT_RULES

    written = [re.compile(lowered(source)) for _, source in _TEXT_RULES]
    for text in _sample_texts():
        low = text.lower()
        for plain, (_, compiled) in zip(written, TEXT_RULES, strict=True):
            found, expected = compiled.search(low), plain.search(low)
            assert (found and found.span()) == (expected and expected.span()), plain.pattern


def _text_reason_by_gates(diagnostic: str) -> Reason | None:
    """text_reason as each rule's gate asks the text itself (``in`` per literal)."""
    from ndrtrack.parse.gate import all_gate_open
    from ndrtrack.parse.reasons import _GATES

    low = diagnostic.lower()
    for (reason, pattern), gate in zip(TEXT_RULES, _GATES, strict=True):
        if all_gate_open(gate, low) and pattern.search(low):
            return reason
    return None


def test_literal_finder_finds_exactly_the_contained_literals() -> None:
    """Overlapping, nested and repeated literals, non-ASCII text, no literals at all."""
    from ndrtrack.parse.gate import LiteralFinder

    literals = ["mail loop", "loops back", "loop", "user unknown", "unknown", "ser", "x"]
    finder = LiteralFinder(literals)
    for text in ("mail loops back", "user unknown", "İ user unknownx", "", "nothing here"):
        assert finder.present(text) == {lit for lit in literals if lit in text}
    assert LiteralFinder([]).present("anything") == set()


def test_text_reason_one_pass_equals_per_rule_gates() -> None:
    """The one-pass literal search gives text_reason's answer of ``in`` per gate literal on
    every sample diagnostic, and on generated mixes of the rules' own words."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ndrtrack.parse.gate import gate_literal_set
    from ndrtrack.parse.reasons import _GATES, text_reason

    for text in _sample_texts():
        assert text_reason(text) == _text_reason_by_gates(text)
    words = sorted(set().union(*(gate_literal_set(g) for g in _GATES)))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from(words) | st.text(max_size=6), max_size=12))
    def check(parts: list[str]) -> None:
        text = "".join(parts)
        assert text_reason(text) == _text_reason_by_gates(text)

    check()
