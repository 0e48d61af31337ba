"""DMARC policy of a From domain and DKIM selector checks: hints for authentication rejections.

An NDR saying "5.7.1 ... DMARC policy" or "DKIM signature did not verify" is explained by the
sender's published policy:

- DMARC (RFC 7489 §6.6.3): ``_dmarc.<From domain>`` TXT starting with ``v=DMARC1``; if there
  is none, ``_dmarc.<organisational domain>``, whose ``sp=`` (or else ``p=``) then applies to
  the sub-domain.  Several records → no policy.  Tags: ``p sp pct adkim aspf rua ruf fo``.
- DKIM (RFC 6376 §3.6.2): ``<selector>._domainkey.<domain>`` TXT with ``k=`` and ``p=``;
  an empty ``p=`` means the key was revoked.  A selector named in a bounced message's
  signature that does not resolve explains a ``dkim=fail``/``permerror``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ndrtrack.dns.rdns import org_domain
from ndrtrack.dns.resolver import Evidence, Lookup, Resolver

POLICIES = ("none", "quarantine", "reject")


def parse_tags(text: str) -> dict[str, str]:
    """``k=v; k2=v2`` tag lists (RFC 6376 §3.2, reused by RFC 7489): names lower-cased."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            tags.setdefault(name.strip().lower(), "".join(value.split()))
    return tags


@dataclass(frozen=True, slots=True)
class DmarcPolicy:
    """The DMARC policy that applies to mail with this From domain."""

    domain: str
    status: str  # found | none | multiple | error
    record_domain: str  # where the record was found (the domain or its org domain)
    record: str
    policy: str  # none | quarantine | reject — what applies to ``domain``; "" without record
    subdomain_policy: str
    pct: int
    adkim: str  # r | s
    aspf: str  # r | s
    rua: tuple[str, ...]
    problems: tuple[str, ...]
    lookups: tuple[Lookup, ...]


async def dmarc_policy(resolver: Resolver, domain: str) -> DmarcPolicy:
    """Find the DMARC record for ``domain`` (with the org-domain fallback) and read it."""
    domain = domain.strip().rstrip(".").lower()
    evidence = Evidence(resolver)
    org = org_domain(domain)
    candidates = [domain] if org == domain else [domain, org]
    problems: list[str] = []
    for where in candidates:
        lookup = await evidence.ask(f"_dmarc.{where}", "TXT")
        if not lookup.ok:
            return _empty(domain, "error", (f"could not ask: {lookup.error}",), evidence)
        records = [t for t in lookup.answers if t.replace(" ", "").lower().startswith("v=dmarc1")]
        if len(records) > 1:
            return _empty(domain, "multiple",
                          (f"_dmarc.{where}: {len(records)} DMARC records: none applies "
                           "(RFC 7489 §6.6.3)",), evidence)
        if records:
            return _read(domain, where, records[0], problems, evidence)
    return _empty(domain, "none", (f"no DMARC record for {domain}"
                                   + (f" nor {org}" if org != domain else ""),), evidence)


def _read(domain: str, where: str, record: str, problems: list[str],
          evidence: Evidence) -> DmarcPolicy:
    tags = parse_tags(record)
    policy = tags.get("p", "").lower()
    if policy not in POLICIES:
        problems.append(f"p={policy!r} is not a policy (treated as none; RFC 7489 §6.6.3)")
        policy = "none"
    subdomain = tags.get("sp", "").lower() or policy
    if subdomain not in POLICIES:
        problems.append(f"sp={subdomain!r} is not a policy")
        subdomain = policy
    applies = policy if where == domain else subdomain
    try:
        pct = int(tags.get("pct", "100"))
    except ValueError:
        problems.append(f"pct={tags['pct']!r} is not a number")
        pct = 100
    rua = tuple(u for u in tags.get("rua", "").split(",") if u)
    return DmarcPolicy(domain, "found", where, record, applies, subdomain, pct,
                       tags.get("adkim", "r").lower(), tags.get("aspf", "r").lower(), rua,
                       tuple(problems), evidence.recorded())


def _empty(domain: str, status: str, problems: tuple[str, ...],
           evidence: Evidence) -> DmarcPolicy:
    return DmarcPolicy(domain, status, "", "", "", "", 100, "r", "r", (), problems,
                       evidence.recorded())


@dataclass(frozen=True, slots=True)
class DkimKey:
    """Whether a DKIM selector resolves to a usable key."""

    domain: str
    selector: str
    status: str  # key | revoked | not-a-key | missing | error
    key_type: str
    summary: str
    lookups: tuple[Lookup, ...]


async def dkim_selector(resolver: Resolver, domain: str, selector: str) -> DkimKey:
    """Look up ``selector._domainkey.domain`` and say whether it holds a public key."""
    domain = domain.strip().rstrip(".").lower()
    evidence = Evidence(resolver)
    name = f"{selector}._domainkey.{domain}"
    lookup = await evidence.ask(name, "TXT")
    if not lookup.ok:
        return DkimKey(domain, selector, "error", "", f"could not ask: {lookup.error}",
                       evidence.recorded())
    if not lookup.answers:
        return DkimKey(domain, selector, "missing", "", f"{name} does not resolve: "
                       "signatures with this selector cannot verify", evidence.recorded())
    tags = parse_tags(lookup.answers[0])
    if "p" not in tags or tags.get("v", "DKIM1") != "DKIM1":
        return DkimKey(domain, selector, "not-a-key", "", f"{name} is not a DKIM key record",
                       evidence.recorded())
    key_type = tags.get("k", "rsa")
    if not tags["p"]:
        return DkimKey(domain, selector, "revoked", key_type,
                       f"{name}: the key is revoked (empty p=)", evidence.recorded())
    return DkimKey(domain, selector, "key", key_type, f"{name}: {key_type} key published",
                   evidence.recorded())
