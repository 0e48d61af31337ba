"""smtpf (BarricadeMX's SMTP filter in front of the MTA): ``smtpf[pid]: <SID> #nnn text``.

The 18-character session id (SID) ties the lines of one SMTP session; ``tid=`` (also 18
characters) ties the lines of one message within it.  Every reply smtpf sends ends with
``#nnn <SID>``, so a bounce or a sender's log quoting that reply points at the session: the
SID is kept as a link of each of its messages.  Lines by number:

- ``#637 start HOST [IP]:PORT`` — the session's client;
- ``#717 sender <addr> tid=T … x="250 …"`` — a message begins (refused if x is 4xx/5xx);
- ``#718 recipient ADDR tid=T f=".." x="…"`` — ADDR may be bare, in ``<>``, or (after a
  call-ahead refusal) the MTA's reply text; the address in ``x`` is the reliable one;
- ``#719 data tid=T x="…"`` — refused at DATA (e.g. greylisting);
- ``#720 message tid=T … m=<Message-ID> x="250 …"`` — accepted (and handed on) or not;
- ``#304 route:DOMAIN << 250 2.0.0 Ok: queued as QID`` — the MTA's reply and queue id: the
  link from the filter's message to the MTA's own trace (no tid: it belongs to the session's
  current message);
- ``#721 end i=IP … l="last reply"`` — the session is over;
- ``#558 call-ahead``, ``#387 grey listed``, ``#437 … is MX``, ``#294 queuing`` — evidence.
Lines without a SID (start-up banners, ``#715/#716`` statistics) and ``SID server-id=…
accept no socket`` carry no message.
"""

from __future__ import annotations

import re

from ndrtrack.logs.formats._base import Event, LogFormat, event, reply_codes
from ndrtrack.logs.syslog import Envelope

_SID = re.compile(r"([0-9A-Za-z]{18}) (?:#(\d+) )?(.*)", re.S)
_TID = re.compile(r"\btid=([0-9A-Za-z]{18})\b")
_X = re.compile(r'\bx="((?:[^"\\]|\\.)*)"')
_ANGLE = re.compile(r"<([^<>\s]*@[^<>\s]*)>")
_START = re.compile(r"start (\S+) \[([0-9A-Fa-f:.]+)\]")
_MSGID = re.compile(r"\bm=<([^>]*)>")
_ROUTE = re.compile(r"route:(\S+) << ([245]\d\d.*?)\s*$")
_QUEUED_AS = re.compile(r"queued as ([0-9A-Za-z]+)")
_SENDER = re.compile(r"sender <([^>]*)>")


class Smtpf(LogFormat):
    name = "smtpf"
    mta = "smtpf"
    programs = ("smtpf",)

    def read(self, env: Envelope) -> Event | None:
        m = _SID.match(env.message)
        if m is None:
            if env.message.startswith("#") or "=" in env.message or env.message:
                return event(env, "smtpf", "info")
            return None
        sid, number, text = m.groups()
        handler = _BY_NUMBER.get(number or "")
        if handler is not None:
            return handler(env, sid, text)
        if number is None and "accept" in text:
            return event(env, "smtpf", "info")
        return event(env, "smtpf", "note", session_id=sid)


def _status(reply: str, accepted: str) -> str:
    return {"2": accepted, "4": "deferred", "5": "rejected"}.get(reply[:1], "")


def _reply(text: str) -> str:
    x = _X.search(text)
    return x.group(1) if x else ""


def _start(env: Envelope, sid: str, text: str) -> Event:
    m = _START.match(text)
    if m is None:
        return event(env, "smtpf", "note", session_id=sid)
    return event(env, "smtpf", "session-start", session_id=sid, client_host=m.group(1),
                 client_ip=m.group(2))


def _sender(env: Envelope, sid: str, text: str) -> Event:
    tid = _TID.search(text)
    reply = _reply(text)
    s = _SENDER.match(text)
    _code, dsn = reply_codes(reply)
    status = _status(reply, "")
    return event(env, "smtpf", "sender", session_id=sid, queue_id=tid.group(1) if tid else "",
                 sender=s.group(1) if s else "", reply=reply, dsn=dsn,
                 status="rejected" if status in ("rejected", "deferred") else "")


def _recipient(env: Envelope, sid: str, text: str) -> Event:
    tid = _TID.search(text)
    reply = _reply(text)
    addr = _ANGLE.search(reply) or _ANGLE.search(text)
    recipient = addr.group(1) if addr else text.split(" ", 2)[1] if " " in text else ""
    _code, dsn = reply_codes(reply)
    return event(env, "smtpf", "recipient", session_id=sid,
                 queue_id=tid.group(1) if tid else "", recipient=recipient, reply=reply,
                 dsn=dsn, status=_status(reply, "accepted"))


def _message(env: Envelope, sid: str, text: str, kind: str = "handoff") -> Event:
    tid = _TID.search(text)
    reply = _reply(text)
    msgid = _MSGID.search(text)
    _code, dsn = reply_codes(reply)
    return event(env, "smtpf", kind, session_id=sid, queue_id=tid.group(1) if tid else "",
                 message_id=msgid.group(1) if msgid else "", reply=reply, dsn=dsn,
                 status=_status(reply, "sent"))


def _data(env: Envelope, sid: str, text: str) -> Event:
    return _message(env, sid, text, "handoff")


def _route(env: Envelope, sid: str, text: str) -> Event:
    m = _ROUTE.match(text)
    if m is None:
        return event(env, "smtpf", "note", session_id=sid)
    route, reply = m.groups()
    qid = _QUEUED_AS.search(reply)
    _code, dsn = reply_codes(reply)
    return event(env, "smtpf", "downstream", session_id=sid, relay=route, reply=reply,
                 dsn=dsn, related_id=qid.group(1) if qid else "")


def _end(env: Envelope, sid: str, text: str) -> Event:
    return event(env, "smtpf", "session-end", session_id=sid)


def _note(env: Envelope, sid: str, text: str) -> Event:
    return event(env, "smtpf", "note", session_id=sid)


_BY_NUMBER = {"637": _start, "717": _sender, "718": _recipient, "719": _data, "720": _message,
              "304": _route, "721": _end}

FORMAT = Smtpf()
