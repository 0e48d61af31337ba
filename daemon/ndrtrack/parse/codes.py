"""The code knowledge base: what a bounce's codes mean, who must act, and what to do.

Four data files in ``parse/data/`` (YAML, shipped as package data) hold the knowledge:

- ``provider_codes.yaml`` — provider codes and block lists recognised in the diagnostic text
  (Microsoft 365 5.7.708, Gmail 5.7.26, Yahoo TSS04, Spamhaus, …);
- ``enhanced_status.yaml`` — the whole IANA SMTP Enhanced Status Codes registry;
- ``reply_codes.yaml`` — RFC 5321/7504 reply codes;
- ``reasons.yaml`` — the design's reason names.

:func:`explain` picks the most specific entry that applies, in that order.  One refinement:
an enhanced status with detail ``0`` (``5.0.0`` from Exim, ``4.4.0``, …) says little, so a
known reason — classified from the diagnostic text — is preferred over it.  Provider entries
match by case-insensitive substrings only, so even a hostile diagnostic costs linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from ndrtrack.model import Actor
from ndrtrack.parse.gate import GateTable

ACTOR_WORDS = {
    Actor.SENDER: "the sender",
    Actor.SENDER_POSTMASTER: "the sender's postmaster (the team running the sending mail server)",
    Actor.RECIPIENT: "the recipient",
    Actor.RECIPIENT_POSTMASTER:
        "the recipient's postmaster (the team running the receiving server)",
    Actor.US: "our own mail team",
    Actor.NOBODY: "nobody for now",
}
MAX_DIAGNOSTIC = 16_384
_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
_REPLY = re.compile(r"^[2-5]\d\d$")


@dataclass(frozen=True, slots=True)
class Explanation:
    """One code explained for a person."""

    code: str
    source: str  # provider | enhanced | reply | reason | none
    title: str
    meaning: str
    actor: Actor
    action: str
    provider: str = ""
    permanent: bool | None = None

    def sentence(self) -> str:
        """One line for ``--jsonl``: meaning, who must act, what to do."""
        label = f"{self.provider} {self.code}".strip() if self.provider else self.code
        head = f"{label}: " if label else ""
        if label and self.title:
            head = f"{label} ({self.title}): "
        return f"{head}{self.meaning} Who must act: {ACTOR_WORDS[self.actor]}. {self.action}"


@dataclass(frozen=True, slots=True)
class _Entry:
    code: str
    title: str
    meaning: str
    actor: Actor
    action: str
    provider: str = ""
    transient_action: str = ""
    any_of: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    mta_suffixes: tuple[str, ...] = ()


def _load(name: str) -> Any:
    text = resources.files("ndrtrack.parse").joinpath("data", name).read_text("utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def _entry(code: str, raw: dict[str, Any]) -> _Entry:
    """Validate one data entry; a bad actor name fails loudly when the data is loaded."""
    def words(key: str) -> tuple[str, ...]:
        value = raw.get(key) or ()
        return tuple(str(v).casefold() for v in ([value] if isinstance(value, str) else value))

    return _Entry(
        code=str(raw.get("code", code)),
        title=str(raw.get("title", "")),
        meaning=" ".join(str(raw["meaning"]).split()),
        actor=Actor(raw["actor"]),
        action=" ".join(str(raw["action"]).split()),
        provider=str(raw.get("provider", "")),
        transient_action=" ".join(str(raw.get("transient_action", "")).split()),
        any_of=words("any"),
        all_of=words("all"),
        statuses=words("status"),
        mta_suffixes=words("mta"),
    )


@lru_cache(maxsize=1)
def knowledge() -> dict[str, Any]:
    """All four tables, loaded once."""
    enhanced = _load("enhanced_status.yaml")
    return {
        "classes": {k: _entry(k, v) for k, v in enhanced["classes"].items()},
        "enhanced": {k: _entry(k, v) for k, v in enhanced["codes"].items()},
        "reply": {str(k): _entry(str(k), v) for k, v in _load("reply_codes.yaml").items()},
        "providers": tuple(_entry(str(v["id"]), v) for v in _load("provider_codes.yaml")),
        "reasons": {k: _entry(k, v) for k, v in _load("reasons.yaml").items()},
    }


def _provider_matches(entry: _Entry, text: str, status: str, mta: str) -> bool:
    if entry.statuses and status not in entry.statuses:
        return False
    if entry.mta_suffixes and not any(mta.endswith(s) for s in entry.mta_suffixes):
        return False
    if entry.all_of and not all(w in text for w in entry.all_of):
        return False
    return not entry.any_of or any(w in text for w in entry.any_of)


@lru_cache(maxsize=1)
def _provider_gate() -> tuple[tuple[_Entry, ...], GateTable]:
    """The provider entries and their gates: an entry can match only if its first ``all``
    word, or one of its ``any`` words, occurs in the text."""
    entries: tuple[_Entry, ...] = knowledge()["providers"]
    return entries, GateTable([e.all_of[:1] if e.all_of else e.any_of for e in entries])


def provider_entry(diagnostic: str, status: str = "", remote_mta: str = "") -> _Entry | None:
    """The first provider/block-list entry named by the diagnostic, if any.

    Each distinct word of the table is looked for once, and only the entries it opens are
    tested in table order (instead of every entry's word lists for every explanation)."""
    text = diagnostic[:MAX_DIAGNOSTIC].casefold()
    if not text:
        return None
    entries, gates = _provider_gate()
    mta = remote_mta.casefold().rstrip(".")
    for index in gates.opened(text):
        if _provider_matches(entries[index], text, status, mta):
            return entries[index]
    return None


def _enhanced(status: str) -> tuple[_Entry, _Entry, str] | None:
    """(detail entry, class entry, specificity) for ``c.s.d``.

    Specificity: ``specific`` (detail ≠ 0), ``subject`` (``c.s.0``) or ``generic`` (``c.0.0``).
    """
    m = _STATUS.match(status.strip())
    if m is None:
        return None
    cls, subject, detail = m.groups()
    table, classes = knowledge()["enhanced"], knowledge()["classes"]
    entry = table.get(f"X.{int(subject)}.{int(detail)}") or table.get(f"X.{int(subject)}.0")
    if entry is None:
        entry = table["X.0.0"]
    level = "specific" if int(detail) else ("subject" if int(subject) else "generic")
    return entry, classes[cls], level


def explain(
    status: str = "",
    reply_code: str = "",
    diagnostic: str = "",
    reason: str = "",
    *,
    remote_mta: str = "",
    permanent: bool | None = None,
    action: str = "",
) -> Explanation:
    """The most specific explanation: provider code > enhanced status > reply code > reason."""
    status, reply_code = status.strip(), reply_code.strip()
    if permanent is None and status[:1] in "245" and status:
        permanent = status[0] == "5"
    found = provider_entry(diagnostic, status, remote_mta)
    if found is not None:
        return _from_entry(found, "provider", permanent)
    enhanced = _enhanced(status)
    reasons, replies = knowledge()["reasons"], knowledge()["reply"]
    known_reason = reason in reasons and reason != "undefined"
    if enhanced is not None and enhanced[2] != "generic":
        if enhanced[2] == "specific" or not known_reason:
            return _from_status(status, *enhanced[:2], permanent, action)
    if known_reason:
        code = status or reply_code or reason
        return _from_entry(reasons[reason], "reason", permanent, code=code, title=reason)
    if _REPLY.match(reply_code) and reply_code in replies:
        return _from_entry(replies[reply_code], "reply", permanent)
    if enhanced is not None:
        return _from_status(status, *enhanced[:2], permanent, action)
    if reason in reasons:
        return _from_entry(reasons[reason], "reason", permanent, code=reason, title=reason)
    return Explanation(code="", source="none", title="", permanent=permanent,
                       meaning="The NDR gives no code that explains the failure.",
                       actor=Actor.SENDER_POSTMASTER,
                       action="Read the diagnostic text and the mail logs for this message.")


def _from_entry(entry: _Entry, source: str, permanent: bool | None, *, code: str = "",
                title: str = "") -> Explanation:
    return Explanation(code=code or entry.code, source=source, title=title or entry.title,
                       meaning=entry.meaning, actor=entry.actor, action=entry.action,
                       provider=entry.provider, permanent=permanent)


def _from_status(status: str, entry: _Entry, cls: _Entry, permanent: bool | None,
                 dsn_action: str = "") -> Explanation:
    """Combine the detail entry with its class: a 4.x.x is retried, a 2.x.x succeeded."""
    meaning, actor, action = entry.meaning, entry.actor, entry.action
    if status.startswith("2"):
        meaning, actor, action = f"{cls.meaning} ({entry.title}.)", Actor.NOBODY, cls.action
    elif status.startswith("4") and dsn_action == "failed":
        meaning = (f"{entry.meaning} The sending server retried until it gave up on this "
                   "temporary error.")
    elif status.startswith("4"):
        meaning = f"{entry.meaning} This is temporary: {cls.meaning[0].lower()}{cls.meaning[1:]}"
        action = entry.transient_action or f"{entry.action} The sending server retries meanwhile."
    return Explanation(code=status, source="enhanced", title=entry.title, meaning=meaning,
                       actor=actor, action=action, permanent=permanent)
