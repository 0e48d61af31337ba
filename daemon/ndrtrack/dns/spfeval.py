"""Evaluate SPF for one (IP, MAIL FROM, HELO) with pyspf, through our own resolver.

pyspf calls the module-level function ``spf.DNSLookup(name, qtype, strict, timeout)`` for
every DNS question.  We replace it once with :func:`_bridged_lookup`, which looks for a
*bridge* in a context variable: when :func:`evaluate_spf` runs pyspf in a worker thread
(``asyncio.to_thread`` copies the context), the bridge sends each question back to the event
loop, to the configured :class:`~ndrtrack.dns.resolver.Resolver`.  So pyspf asks the same
servers (and ports) as the rest of ndrtrack, shares its cache and concurrency bound, and its
lookups are recorded as evidence.  Without a bridge (someone else using pyspf in this
process) the original function is called, unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import spf

from ndrtrack.dns.resolver import Evidence, Lookup, Resolver

#: Results pyspf returns (RFC 7208 §2.6), for validation and documentation.
RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")


@dataclass(frozen=True, slots=True)
class SpfEvaluation:
    """What a receiver concludes for this sender (RFC 7208 ``check_host()``)."""

    ip: str
    sender: str
    helo: str
    identity: str  # mailfrom | helo (pyspf uses postmaster@HELO when MAIL FROM is empty)
    result: str  # pass | fail | softfail | neutral | none | permerror | temperror
    smtp_code: int  # what pyspf suggests a receiver answer (250, 550, 451)
    explanation: str
    mechanism: str  # the term that matched, when one did
    lookups: tuple[Lookup, ...]


@dataclass(frozen=True, slots=True)
class _Bridge:
    evidence: Evidence
    loop: asyncio.AbstractEventLoop
    wait: float  # longest wait for one answer (the resolver's own tries end before)


_BRIDGE: contextvars.ContextVar[_Bridge | None] = contextvars.ContextVar("spf_bridge",
                                                                          default=None)
_ORIGINAL: Callable[..., Any] = spf.DNSLookup


def _bridged_lookup(name: str, qtype: str, strict: Any = True, timeout: float = 30
                    ) -> list[tuple[tuple[str, str], Any]]:
    bridge = _BRIDGE.get()
    if bridge is None:
        return list(_ORIGINAL(name, qtype, strict, timeout))
    future = asyncio.run_coroutine_threadsafe(bridge.evidence.ask(name, qtype), bridge.loop)
    try:
        lookup = future.result(bridge.wait)
    except TimeoutError:
        future.cancel()
        raise spf.TempError(f"DNS no answer for {name} {qtype} within {bridge.wait:g} s"
                            ) from None
    if not lookup.ok:
        raise spf.TempError(f"DNS {lookup.error}")
    return [((name, qtype), _pyspf_value(qtype, answer)) for answer in lookup.answers]


def _pyspf_value(qtype: str, answer: str) -> Any:
    """Our presentation text → the value shape pyspf's dnspython driver produces."""
    if qtype in ("TXT", "SPF"):
        return (answer.encode("utf-8"),)
    if qtype == "MX":
        preference, _, exchange = answer.partition(" ")
        return int(preference), exchange
    if qtype == "PTR":
        return answer.rstrip(".")
    return answer


spf.DNSLookup = _bridged_lookup


async def evaluate_spf(resolver: Resolver, ip: str, sender: str, helo: str = "",
                       *, receiver: str = "") -> SpfEvaluation:
    """SPF result for (ip, MAIL FROM ``sender``, ``helo``), with pyspf's explanation."""
    settings = resolver.settings
    per_question = settings.timeout * (settings.retries + 1) * max(len(resolver.servers), 1)
    evidence = Evidence(resolver)
    bridge = _Bridge(evidence, asyncio.get_running_loop(), per_question + 5)
    token = _BRIDGE.set(bridge)
    try:
        query, (result, code, explanation) = await asyncio.to_thread(
            _check, ip, sender, helo, receiver, per_question)
    finally:
        _BRIDGE.reset(token)
    return SpfEvaluation(
        ip=ip, sender=sender, helo=helo, identity=query.ident, result=str(result),
        smtp_code=int(code), explanation=str(explanation),
        mechanism=str(query.mechanism or ""), lookups=evidence.recorded())


def _check(ip: str, sender: str, helo: str, receiver: str, timeout: float
           ) -> tuple[spf.query, tuple[str, int, str]]:
    query = spf.query(i=ip, s=sender, h=helo, receiver=receiver or None, timeout=timeout,
                      querytime=0)
    return query, query.check()
