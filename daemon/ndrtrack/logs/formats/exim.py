"""Exim: main log and reject log, read from Exim's own files or from syslog (``exim[pid]:``).

Exim's own files carry no host and no program: ``2026-11-28 01:13:51[.mmm] [+zone] [[pid]]
<message id> <flag> <address> <fields>``; a syslog line carries the same text without the time.
Message ids are ``1xX70h-0006Yu-2O`` (before 4.97) or ``1xX70h-0000000006Yu-2O3x``.
Flags: ``<=`` arrival (``H=name (helo) [ip]:port``, ``P=``, ``S=``, ``id=<Message-ID>``,
``R=<parent id>`` on a bounce), ``=>`` delivery, ``->`` another address of the same delivery,
``*>`` delivery suppressed, ``**`` failure, ``==`` deferral; then ``Completed``, ``Frozen``.
Fields after the address: ``R=`` router, ``T=`` transport, ``H=`` remote host, ``C="250 …"``
the remote's confirmation; a failure or deferral ends with ``: reason``.  Rejections
(``H=… F=<sender> rejected RCPT <rcpt>: reason``, ``rejected MAIL FROM``, ``rejected after
DATA``) come with no id or with the id of a message being received.  The reject log repeats
rejections followed by the message's header lines, which carry no time stamp.
"""

from __future__ import annotations

import re
from datetime import datetime

from ndrtrack.logs.formats._base import Event, LineReader, LogFormat, event, reply_codes
from ndrtrack.logs.syslog import Clock, Envelope, parse_line

_ID = r"[0-9A-Za-z]{6}-(?:[0-9A-Za-z]{11}-[0-9A-Za-z]{4}|[0-9A-Za-z]{6}-[0-9A-Za-z]{2})"
_NATIVE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?: ([+-]\d{4}))?(?: \[(\d+)\])? (.*)", re.S)
_LINE = re.compile(rf"(?:({_ID}) )?(.*)", re.S)
_FLAG = re.compile(r"(<=|=>|->|\*>|\*\*|==) (\S+)(?: <([^>]*)>)?(.*)", re.S)
_HOST = re.compile(r"\bH=(?:([^\s\[(]+) ?)?(?:\(([^)]*)\) ?)?\[([0-9A-Fa-f:.]+)\]")
_BARE_HOST = re.compile(r"for (?:([^\s\[(]+) )?(?:\([^)]*\) )?\[([0-9A-Fa-f:.]+)\]")
_FIELD = re.compile(r"\b(id|R|T|C|S|P|U)=(\"(?:[^\"\\]|\\.)*\"|\S+)")
_REJECT = re.compile(
    r"(?:.*?\bF=<([^>]*)> )?(?:temporarily )?rejected (RCPT <([^>]*)>|MAIL FROM:?\s*<([^>]*)>|"
    r"after DATA|from <([^>]*)>|connection|EHLO|HELO)(.*)", re.S)
_NOISE = ("SMTP connection", "Start queue run", "End queue run", "exim ", "SMTP command timeout",
          "no host name found", "SMTP protocol", "unexpected disconnection",
          "TLS error", "SMTP call from", "SMTP data timeout", "Spool file", "cwd=",
          "Connection ", "rejected connection", "no IP address found", "DKIM:", "spam acl",
          "sender verify", "SMTP syntax error", "ratelimit", "Warning:")


class Exim(LogFormat):
    name = "exim"
    mta = "exim"
    programs = ("exim", "exim4")

    def read(self, env: Envelope) -> Event | None:
        if env.pid == "+":  # a reject-log header line that continues the previous entry
            return event(env, "exim", "continuation")
        m = _LINE.match(env.message)
        assert m is not None
        qid, rest = m.group(1) or "", m.group(2)
        flag = _FLAG.match(rest) if qid else None
        if flag is not None:
            return _flagged(env, qid, flag)
        if qid:
            return _message_line(env, qid, rest)
        if " rejected " in rest or rest.startswith("rejected "):
            return _reject(env, "", rest)
        if rest.startswith(_NOISE) or "authenticator failed" in rest or rest.startswith("H="):
            return event(env, "exim", "info", **_client(rest))
        return None

    def reader(self, clock: Clock, host: str, source: str) -> LineReader:
        state: dict[str, datetime] = {}

        def read(line: str) -> Envelope | None:
            m = _NATIVE.match(line)
            if m is None:
                env = parse_line(line, clock, source)  # the same file sent through syslog
                if env is not None and env.program.startswith("exim"):
                    return env if env.host or not host else env._replace(host=host)
                last = state.get("at")  # reject log: the refused message's header lines
                return None if last is None else Envelope(last, host, "exim", "+", line, source)
            stamp, zone, pid, text = m.groups()
            try:
                at = clock.iso(stamp.replace(" ", "T") + (_zone(zone) if zone else ""))
            except ValueError:
                return None
            state["at"] = at
            return Envelope(at, host, "exim", pid or "", text, source)

        return read

    def sniff(self, lines: list[str]) -> bool:
        return any(_NATIVE.match(line) is not None for line in lines[:3])


def _zone(zone: str) -> str:
    return f"{zone[:3]}:{zone[3:]}"


def _client(text: str) -> dict[str, str]:
    m = _HOST.search(text)
    if m is None:  # "authenticator failed for name [ip]:port"
        bare = _BARE_HOST.search(text)
        return {} if bare is None else {"client_host": bare.group(1) or "",
                                        "client_ip": bare.group(2)}
    return {"client_host": m.group(1) or "", "helo": m.group(2) or "", "client_ip": m.group(3)}


def _fields(text: str) -> dict[str, str]:
    return {k: v[1:-1] if v.startswith('"') else v for k, v in _FIELD.findall(text)}


def _flagged(env: Envelope, qid: str, m: re.Match[str]) -> Event:
    flag, addr, orig, rest = m.groups()
    fields = _fields(rest)
    if flag == "<=":
        return event(env, "exim", "arrival", queue_id=qid, sender="" if addr == "<>" else addr,
                     message_id=fields.get("id", "").strip("<>"),
                     related_id=fields.get("R", "") if addr == "<>" else "", **_client(rest))
    reason = ""
    colon = rest.find(": ")
    if flag in ("**", "==") and colon >= 0:
        reason = rest[colon + 2:].strip()
    reply = fields.get("C", "") or reason
    _code, dsn = reply_codes(_smtp_reply(reply))
    status = _STATUS[flag]
    host = _HOST.search(rest)
    relay = f"{host.group(1) or ''}[{host.group(3)}]" if host else fields.get("T", "")
    recipient = addr
    original = orig or ""
    if orig and "@" not in addr:  # "=> nobody <bob@example.test>": local part, then address
        recipient, original = orig, ""
    return event(env, "exim", "delivery", queue_id=qid, recipient=recipient,
                 orig_recipient=original, relay=relay, status=status, dsn=dsn, reply=reply)


_STATUS = {"=>": "sent", "->": "sent", "*>": "suppressed", "**": "bounced", "==": "deferred"}


def _smtp_reply(text: str) -> str:
    """The remote server's reply inside Exim's ``SMTP error … after RCPT TO:<x>: 550 …``."""
    m = re.search(r"\b([245]\d\d[ -].*)", text)
    return m.group(1) if m else text


def _message_line(env: Envelope, qid: str, rest: str) -> Event:
    if rest.startswith("Completed"):
        return event(env, "exim", "completed", queue_id=qid)
    if " rejected " in rest or rest.startswith("rejected "):
        return _reject(env, qid, rest)
    if rest.startswith("Frozen"):
        return event(env, "exim", "frozen", queue_id=qid, status="frozen")
    return event(env, "exim", "note", queue_id=qid)


def _reject(env: Envelope, qid: str, rest: str) -> Event:
    m = _REJECT.match(rest)
    if m is None:
        return event(env, "exim", "info", queue_id=qid, **_client(rest))
    sender, what, rcpt, mail_from, data_from, tail = m.groups()
    sender = sender or mail_from or data_from or ""
    colon = tail.find(": ")
    reason = tail[colon + 2:].strip().strip('"') if colon >= 0 else tail.strip()
    _code, dsn = reply_codes(reason)
    if what in ("connection", "EHLO", "HELO"):
        return event(env, "exim", "info", queue_id=qid, reply=reason, **_client(rest))
    return event(env, "exim", "reject", queue_id=qid, sender=sender, recipient=rcpt or "",
                 status="rejected", dsn=dsn, reply=reason, **_client(rest))


FORMAT = Exim()
