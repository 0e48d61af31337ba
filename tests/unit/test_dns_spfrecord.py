"""SPF record syntax and macro expansion (RFC 7208 §4.6, §5, §6, §7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ndrtrack.dns.spfrecord import (
    MacroContext,
    check_domain_spec,
    expand,
    is_spf,
    parse_record,
    parse_term,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("v=spf1 -all", True), ("v=spf1", True), ("V=SPF1 a", True),
    ("v=spf10 -all", False), ("v=spf1-all", False), ("spf1 -all", False), ("", False),
])
def test_is_spf(text: str, expected: bool) -> None:
    assert is_spf(text) is expected


# term → (name, qualifier, value, cidr4, cidr6, modifier)
TERMS = {
    "-all": ("all", "-", "", None, None, False),
    "a": ("a", "+", "", None, None, False),
    "~a:mail.example.com/28": ("a", "~", "mail.example.com", 28, None, False),
    "a//64": ("a", "+", "", None, 64, False),
    "mx:example.com/24//48": ("mx", "+", "example.com", 24, 48, False),
    "?include:_spf.example.net": ("include", "?", "_spf.example.net", None, None, False),
    "ip4:192.0.2.1": ("ip4", "+", "192.0.2.1/32", 32, None, False),
    "ip4:192.0.2.7/24": ("ip4", "+", "192.0.2.0/24", 24, None, False),
    "IP6:2001:DB8::/32": ("ip6", "+", "2001:db8::/32", None, 32, False),
    "ptr": ("ptr", "+", "", None, None, False),
    "exists:%{i}._spf.%{d}": ("exists", "+", "%{i}._spf.%{d}", None, None, False),
    "redirect=_spf.example.com": ("redirect", "", "_spf.example.com", None, None, True),
    "exp=explain.%{d}": ("exp", "", "explain.%{d}", None, None, True),
    "foo=bar": ("foo", "", "bar", None, None, True),  # unknown modifiers are ignored
}


@pytest.mark.parametrize("token", sorted(TERMS))
def test_terms(token: str) -> None:
    term, problem = parse_term(token)
    assert problem == "" and term is not None
    assert (term.name, term.qualifier, term.value, term.cidr4, term.cidr6,
            term.modifier) == TERMS[token]


@pytest.mark.parametrize("token", [
    "frobnicate", "all:x", "include", "include:", "exists:", "ip4:192.0.2.300",
    "ip4:2001:db8::1", "ip6:192.0.2.1", "ip4:192.0.2.0/33", "a/33", "mx//129", "a:",
    "include:%{x}.example.com", "include:example", "a:example.com%", "exists:%{c}.example.com",
    "redirect=%z.example.com", "ptr/24", "=x",
])
def test_term_errors(token: str) -> None:
    _term, problem = parse_term(token)
    assert problem


def test_record_problems_and_notes() -> None:
    record = parse_record("v=spf1 redirect=a.example redirect=b.example")
    assert any("only once" in p for p in record.problems)
    record = parse_record("v=spf1 -all ip4:192.0.2.1 ptr  redirect=x.example.com")
    assert not record.problems
    assert len(record.notes) == 4  # after all, redirect ignored, ptr, extra spaces
    assert [t.name for t in record.mechanisms] == ["all", "ip4", "ptr"]
    redirect = record.modifier("redirect")
    assert redirect is not None and redirect.asks_dns


RFC_CONTEXT = MacroContext(domain="email.example.com", sender="strong-bad@email.example.com",
                           ip="192.0.2.3", helo="mx.example.org")

# RFC 7208 §7.4, the examples
RFC_EXAMPLES = {
    "%{s}": "strong-bad@email.example.com",
    "%{o}": "email.example.com",
    "%{d}": "email.example.com",
    "%{d4}": "email.example.com",
    "%{d3}": "email.example.com",
    "%{d2}": "example.com",
    "%{d1}": "com",
    "%{dr}": "com.example.email",
    "%{d2r}": "example.email",
    "%{l}": "strong-bad",
    "%{l-}": "strong.bad",
    "%{lr}": "strong-bad",
    "%{lr-}": "bad.strong",
    "%{l1r-}": "strong",
    "%{ir}.%{v}._spf.%{d2}": "3.2.0.192.in-addr._spf.example.com",
    "%{lr-}.lp._spf.%{d2}": "bad.strong.lp._spf.example.com",
    "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}": "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
    "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}": "3.2.0.192.in-addr.strong.lp._spf.example.com",
    "%{d2}.trusted-domains.example.net": "example.com.trusted-domains.example.net",
    "%{h}.x.example": "mx.example.org.x.example",
    "a%%b%_c%-d.example": "a%b c%20d.example",
}


@pytest.mark.parametrize("spec", sorted(RFC_EXAMPLES))
def test_rfc_macro_examples(spec: str) -> None:
    assert expand(spec, RFC_CONTEXT) == RFC_EXAMPLES[spec]


def test_ipv6_macro_example() -> None:
    context = MacroContext(domain="email.example.com", sender="a@email.example.com",
                           ip="2001:db8::cb01")
    assert expand("%{ir}.%{v}._spf.%{d2}", context) == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com")


def test_uppercase_macro_is_url_escaped() -> None:
    context = MacroContext(domain="example.com", sender="a b@example.com")
    assert expand("%{L}.example.com", context) == "a%20b.example.com"


@pytest.mark.parametrize("spec", ["%{i}.example.com", "%{s}", "%{h}.x.example", "%{p}.example"])
def test_unknown_values_do_not_expand(spec: str) -> None:
    assert expand(spec, MacroContext(domain="example.com")) is None


def test_long_expansion_is_cut_from_the_left() -> None:
    context = MacroContext(domain="example.com", sender=("x" * 60 + ".") * 5 + "a@example.com")
    result = expand("%{l}.%{d}", context)
    assert result is not None and len(result) <= 253 and result.endswith(".example.com")


@pytest.mark.parametrize(("spec", "ok"), [
    ("example.com", True), ("example.com.", True), ("_spf.example.com", True),
    ("%{d}", True), ("example", False), ("example.123", False), ("ex.a-b", True),
])
def test_domain_spec(spec: str, ok: bool) -> None:
    assert (check_domain_spec(spec) == "") is ok


@given(st.text(alphabet="v=spf1 +-~?:/%{}._aeimnptrx0123456789ilsdoh", max_size=80))
def test_parser_never_raises(text: str) -> None:
    record = parse_record("v=spf1 " + text)
    assert all(isinstance(p, str) for p in record.problems)
    for term in record.terms:
        if "%" in term.value:
            expand(term.value, RFC_CONTEXT)
