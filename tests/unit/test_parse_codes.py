"""The code knowledge base: complete registries, valid actors, the most specific entry wins."""

from __future__ import annotations

import pytest

from ndrtrack.model import Actor, Reason
from ndrtrack.parse.codes import explain, knowledge, provider_entry

#: The IANA SMTP Enhanced Status Codes registry's subject.detail values (RFC 3463 and later).
REGISTRY = {
    0: [0], 1: list(range(0, 11)), 2: list(range(0, 5)), 3: list(range(0, 7)),
    4: list(range(0, 8)), 5: list(range(0, 7)), 6: list(range(0, 11)), 7: list(range(0, 31)),
}
REPLY_CODES = ["211", "214", "220", "221", "250", "251", "252", "354", "421", "450", "451",
               "452", "455", "500", "501", "502", "503", "504", "521", "550", "551", "552",
               "553", "554", "555", "556"]


def test_enhanced_registry_is_complete() -> None:
    table = knowledge()["enhanced"]
    missing = [f"X.{s}.{d}" for s, details in REGISTRY.items() for d in details
               if f"X.{s}.{d}" not in table]
    assert missing == []
    assert set(knowledge()["classes"]) == {"2", "4", "5"}


def test_reply_codes_of_rfc5321_and_7504_are_present() -> None:
    assert [c for c in REPLY_CODES if c not in knowledge()["reply"]] == []


def test_every_reason_name_is_explained() -> None:
    assert {r.value for r in Reason} <= set(knowledge()["reasons"])


def test_every_entry_has_plain_words_and_an_actor() -> None:
    k = knowledge()
    entries = [*k["enhanced"].values(), *k["reply"].values(), *k["providers"],
               *k["reasons"].values(), *k["classes"].values()]
    for entry in entries:
        assert entry.meaning and entry.action and isinstance(entry.actor, Actor), entry
    assert all(e.any_of or e.all_of for e in k["providers"])


@pytest.mark.parametrize(("diagnostic", "status", "code", "actor"), [
    ("550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP",
     "5.7.708", "5.7.708", Actor.SENDER_POSTMASTER),
    ("550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains",
     "5.7.750", "5.7.750", Actor.US),
    ("550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", "5.4.1", "5.4.1",
     Actor.SENDER),
    ("550-5.7.26 This mail is unauthenticated, which poses a security risk", "5.7.26", "5.7.26",
     Actor.SENDER_POSTMASTER),
    ("452-4.2.2 The email account that you tried to reach is over quota.", "4.2.2",
     "4.2.2/5.2.2", Actor.RECIPIENT),
    ("421 4.7.0 [TSS04] Messages from 1.2.3.4 temporarily deferred due to unexpected volume",
     "4.7.0", "TSS04", Actor.SENDER_POSTMASTER),
    ("554 5.7.1 Service unavailable; Client host [1.2.3.4] blocked using zen.spamhaus.org",
     "5.7.1", "SBL/ZEN", Actor.SENDER_POSTMASTER),
    ("554 Blocked - see https://www.spamcop.net/bl.shtml?1.2.3.4", "", "SCBL",
     Actor.SENDER_POSTMASTER),
    ("550 permanent failure: listed at b.barracudacentral.org", "5.7.1", "BRBL",
     Actor.SENDER_POSTMASTER),
])
def test_provider_codes_in_the_diagnostic_win(diagnostic: str, status: str, code: str,
                                              actor: Actor) -> None:
    remote = "gmail-smtp-in.l.google.com" if "quota" in diagnostic else ""
    result = explain(status, diagnostic[:3], diagnostic, "", remote_mta=remote)
    assert (result.source, result.code, result.actor) == ("provider", code, actor)


@pytest.mark.parametrize(("status", "diagnostic", "title"), [
    # Registry meanings stand when a provider's reuse of the number is not evident:
    ("5.1.10", "550 5.1.10 domain accepts no mail (null MX)", "Recipient address has null MX"),
    ("5.7.27", "550 5.7.27 sender domain has null MX", "Sender address has null MX"),
    ("4.4.5", "451 4.4.5 system congested, try later", "Mail system congestion"),
])
def test_registry_wins_when_no_provider_is_named(status: str, diagnostic: str,
                                                 title: str) -> None:
    result = explain(status, diagnostic[:3], diagnostic, "")
    assert (result.source, result.title) == ("enhanced", title)


def test_provider_rule_limited_to_its_mta() -> None:
    diagnostic = "452 4.2.2 mailbox over quota"
    assert provider_entry(diagnostic, "4.2.2", "mx.example.org") is None
    assert provider_entry(diagnostic, "4.2.2", "mx1.gmail.com").provider == "Gmail"


def test_enhanced_beats_reply_and_reason() -> None:
    result = explain("5.1.1", "550", "no such user", "mailboxfull")
    assert (result.source, result.code, result.actor) == ("enhanced", "5.1.1", Actor.SENDER)


def test_generic_status_gives_way_to_a_known_reason() -> None:
    result = explain("5.0.0", "550", "mailbox unavailable", "userunknown")
    assert (result.source, result.title) == ("reason", "userunknown")
    assert explain("5.0.0", "554", "", "").source == "reply"
    assert explain("5.2.0", "", "", "mailboxfull").source == "reason"
    assert explain("5.2.0", "", "", "").source == "enhanced"


def test_transient_and_given_up() -> None:
    retrying = explain("4.2.2", "452", "full", "mailboxfull", action="delayed")
    assert "temporary" in retrying.meaning and retrying.permanent is False
    gave_up = explain("4.4.7", "", "", "expired", action="failed")
    assert "gave up" in gave_up.meaning


def test_success_and_unknown_codes() -> None:
    assert explain("2.1.5").actor == Actor.NOBODY
    assert explain("5.9.9").title == "Other undefined status"
    nothing = explain()
    assert nothing.source == "none" and nothing.actor == Actor.SENDER_POSTMASTER
    assert "Who must act" in explain("5.1.1").sentence()


def test_pathological_diagnostic_is_linear() -> None:
    huge = ("a" * 5000 + "(" * 5000 + "5.7." * 5000) * 4
    result = explain("5.7.1", "550", huge, "")
    assert result.source in ("provider", "enhanced")
