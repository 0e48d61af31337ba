"""SPF record syntax (RFC 7208 §4.6, §5, §6, §7): terms, checks and macro expansion.

A record looks like ``v=spf1 ip4:192.0.2.0/24 a mx:example.com/28 include:_spf.example.net
exists:%{i}._spf.%{d} redirect=_spf.example.com``: a version, then terms separated by spaces.
A term is a *mechanism* (optional qualifier ``+ - ~ ?``, a name, an optional ``:domain-spec``
or address, optional CIDR lengths) or a *modifier* (``name=value``).

This module is pure (no DNS): it parses a record into :class:`Term` records, lists every
syntax error a receiver would answer ``permerror`` for, and expands macros when the values
they need are known.  The tree expansion in ``spf.py`` asks DNS.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

VERSION = "v=spf1"
QUALIFIERS = "+-~?"
#: Mechanisms whose evaluation asks DNS: they count against the limit of 10 (§4.6.4).
DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})

_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$")
_MECHANISM = re.compile(r"^([+\-~?]?)([A-Za-z][A-Za-z0-9_.-]*)(.*)$")
_DUAL_CIDR = re.compile(r"^(.*?)(?:/(\d+))?(?://(\d+))?$")
_MACRO = re.compile(r"%(?:\{([slodiphcrtvSLODIPHCRTV])(\d*)(r?)([.\-+,/_=]*)\}|(.)|$)")
#: RFC 7208 toplabel: letters/digits with at least one letter, or with a hyphen inside.
_TOPLABEL = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]+$|^[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9]$")
_EXP_ONLY = frozenset("crt")


@dataclass(frozen=True, slots=True)
class Term:
    """One term as written, taken apart."""

    text: str
    name: str  # mechanism or modifier name, lower case
    qualifier: str = ""  # "+", "-", "~", "?" for mechanisms ("+" when not written); "" modifiers
    value: str = ""  # domain-spec, address, or modifier value ("" when absent)
    cidr4: int | None = None
    cidr6: int | None = None
    modifier: bool = False

    @property
    def asks_dns(self) -> bool:
        return self.name in DNS_MECHANISMS or self.name == "redirect"


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """A parsed record; ``problems`` lists syntax errors (each one a permerror)."""

    text: str
    terms: tuple[Term, ...]
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # not errors, but worth telling (ptr, terms after all)

    @property
    def mechanisms(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.modifier)

    def modifier(self, name: str) -> Term | None:
        return next((t for t in self.terms if t.modifier and t.name == name), None)


def is_spf(text: str) -> bool:
    """A TXT string is an SPF record when it is ``v=spf1`` alone or followed by a space."""
    head = text[: len(VERSION) + 1].lower()
    return head == VERSION or head == VERSION + " "


# --------------------------------------------------------------------------- parsing


def parse_record(text: str) -> SpfRecord:
    """Parse a record (that :func:`is_spf` accepted); never raises, problems are listed."""
    tokens = text.split(" ")
    terms: list[Term] = []
    problems: list[str] = []
    for token in tokens[1:]:
        if not token:
            continue  # several spaces: tolerated by receivers, noted below
        term, problem = parse_term(token)
        if problem:
            problems.append(f"{token}: {problem}")
        if term is not None:
            terms.append(term)
    for name in ("redirect", "exp"):
        if sum(1 for t in terms if t.modifier and t.name == name) > 1:
            problems.append(f"{name}=: may appear only once (RFC 7208 §6)")
    return SpfRecord(text, tuple(terms), tuple(problems), tuple(_notes(text, terms)))


def _notes(text: str, terms: list[Term]) -> list[str]:
    notes: list[str] = []
    names = [t.name for t in terms if not t.modifier]
    if "all" in names and names.index("all") < len(names) - 1:
        notes.append("mechanisms after 'all' are never reached")
    if "all" in names and any(t.name == "redirect" for t in terms):
        notes.append("redirect= is ignored because the record has an 'all' mechanism")
    if "ptr" in names:
        notes.append("the ptr mechanism should not be used (RFC 7208 §5.5)")
    if "  " in text or text.endswith(" "):
        notes.append("extra spaces between terms")
    return notes


def parse_term(token: str) -> tuple[Term | None, str]:
    """One term → (Term or None, problem text or "")."""
    modifier = _MODIFIER.match(token)
    if modifier:
        name, value = modifier.group(1).lower(), modifier.group(2)
        problem = ""
        if name in ("redirect", "exp"):
            problem = check_domain_spec(value)
        return Term(token, name, value=value, modifier=True), problem
    mechanism = _MECHANISM.match(token)
    if not mechanism:
        return None, "not a mechanism or modifier"
    qualifier, name, rest = mechanism.groups()
    name = name.lower()
    parse = _MECHANISM_PARSERS.get(name)
    if parse is None:
        return None, f"unknown mechanism {name!r}"
    return parse(token, qualifier or "+", name, rest)


def _parse_all(token: str, qualifier: str, name: str, rest: str) -> tuple[Term | None, str]:
    term = Term(token, name, qualifier)
    return term, (f"'{name}' takes no argument" if rest else "")


def _parse_domain_required(token: str, qualifier: str, name: str, rest: str
                           ) -> tuple[Term | None, str]:
    if not rest.startswith(":") or len(rest) < 2:
        return None, f"'{name}' needs ':domain'"
    return Term(token, name, qualifier, rest[1:]), check_domain_spec(rest[1:])


def _parse_ptr(token: str, qualifier: str, name: str, rest: str) -> tuple[Term | None, str]:
    if rest and not rest.startswith(":"):
        return None, "bad argument to 'ptr'"
    value = rest[1:]
    return Term(token, name, qualifier, value), (check_domain_spec(value) if value else "")


def _parse_a_mx(token: str, qualifier: str, name: str, rest: str) -> tuple[Term | None, str]:
    match = _DUAL_CIDR.match(rest)
    assert match is not None  # the pattern matches any string
    spec, cidr4, cidr6 = match.groups()
    if spec and not spec.startswith(":"):
        return None, f"bad argument to '{name}'"
    term = Term(token, name, qualifier, spec[1:],
                int(cidr4) if cidr4 else None, int(cidr6) if cidr6 else None)
    if term.cidr4 is not None and term.cidr4 > 32:
        return None, "IPv4 prefix length above 32"
    if term.cidr6 is not None and term.cidr6 > 128:
        return None, "IPv6 prefix length above 128"
    if spec == ":":
        return None, "empty domain after ':'"
    return term, (check_domain_spec(term.value) if term.value else "")


def _parse_ip(token: str, qualifier: str, name: str, rest: str) -> tuple[Term | None, str]:
    if not rest.startswith(":"):
        return None, f"'{name}' needs ':address'"
    version = 4 if name == "ip4" else 6
    try:
        network = ipaddress.ip_network(rest[1:], strict=False)
    except ValueError:
        return None, f"not an IPv{version} address or network: {rest[1:]!r}"
    if network.version != version:
        return None, f"not an IPv{version} address: {rest[1:]!r}"
    prefix = network.prefixlen
    return Term(token, name, qualifier, str(network),
                prefix if version == 4 else None, prefix if version == 6 else None), ""


_MECHANISM_PARSERS: dict[str, Callable[[str, str, str, str], tuple[Term | None, str]]] = {
    "all": _parse_all,
    "include": _parse_domain_required,
    "exists": _parse_domain_required,
    "a": _parse_a_mx,
    "mx": _parse_a_mx,
    "ptr": _parse_ptr,
    "ip4": _parse_ip,
    "ip6": _parse_ip,
}


def check_domain_spec(spec: str) -> str:
    """Problems of a domain-spec (§7.1): bad macros, or no valid top label at the end."""
    for match in _MACRO.finditer(spec):
        letter, _digits, _rev, _delims, other = match.groups()
        if letter is None and other is None:
            return "'%' at the end of the domain"
        if other is not None and other not in "%_-":
            return f"bad macro '%{other}'"
        if letter is not None and letter.lower() in _EXP_ONLY:
            return f"macro %{{{letter}}} is allowed only in exp="
    if spec.endswith("}"):
        return ""  # ends with a macro: checked once expanded
    labels = spec.rstrip(".").split(".")
    if len(labels) < 2 or not _TOPLABEL.match(labels[-1]):
        return f"not a domain name: {spec!r}"
    return ""


# --------------------------------------------------------------------------- macros


@dataclass(frozen=True, slots=True)
class MacroContext:
    """The values macros stand for; empty values cannot be expanded (§7.2)."""

    domain: str  # %{d}: the domain whose record is being read
    sender: str = ""  # %{s}: MAIL FROM (or postmaster@HELO)
    ip: str = ""  # %{i}, %{v}, %{c}
    helo: str = ""  # %{h}

    def value(self, letter: str) -> str | None:
        letter = letter.lower()
        local, _, sender_domain = self.sender.rpartition("@")
        address = ipaddress.ip_address(self.ip) if self.ip else None
        values = {
            "d": self.domain,
            "s": self.sender or None,
            "l": (local or "postmaster") if self.sender else None,
            "o": sender_domain or None,
            "h": self.helo or None,
            "i": _dotted(address) if address else None,
            "v": ("in-addr" if address.version == 4 else "ip6") if address else None,
            "c": str(address) if address else None,
            "r": "unknown",
            "p": None,  # needs a validated PTR lookup; left unexpanded
            "t": None,
        }
        return values[letter]


def _dotted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if address.version == 4:
        return str(address)
    return ".".join(address.exploded.replace(":", ""))


def expand(spec: str, context: MacroContext) -> str | None:
    """Expand the macros of a domain-spec; ``None`` when a needed value is unknown."""
    out: list[str] = []
    position = 0
    for match in _MACRO.finditer(spec):
        out.append(spec[position:match.start()])
        position = match.end()
        letter, digits, reverse, delimiters, other = match.groups()
        if letter is None:
            out.append({"%": "%", "_": " ", "-": "%20"}.get(other or "", ""))
            continue
        value = context.value(letter)
        if value is None:
            return None
        out.append(_transform(value, digits, bool(reverse), delimiters or ".", letter.isupper()))
    out.append(spec[position:])
    return _fit(("".join(out)).rstrip("."))


def _transform(value: str, digits: str, reverse: bool, delimiters: str, escape: bool) -> str:
    parts = re.split("[" + re.escape(delimiters) + "]", value)
    if reverse:
        parts.reverse()
    if digits:
        parts = parts[-int(digits):] if int(digits) else parts
    joined = ".".join(parts)
    return urllib.parse.quote(joined, safe="") if escape else joined


def _fit(domain: str) -> str:
    """§7.3: drop labels from the left until the name fits in 253 characters."""
    while len(domain) > 253 and "." in domain:
        domain = domain.split(".", 1)[1]
    return domain


def has_macros(spec: str) -> bool:
    return "%" in spec
