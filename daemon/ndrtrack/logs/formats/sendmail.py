"""Sendmail: ``sm-mta[pid]: <QID>: key=value, key=value, ...`` (also ``sendmail``,
``sm-msp-queue``).

Queue ids are 14 characters (``6AS1L5nP027061``: time, sequence, pid) and are not reused.
What a trace needs:

- ``from=<..>, size=, class=, nrcpts=, msgid=<..>, proto=, daemon=, relay=host [ip]`` —
  the envelope sender and client (logged when the transaction ends, so after any rejects);
- ``to=<..>[,<..>], [ctladdr=,] delay=, xdelay=, mailer=, pri=, [relay=,] [dsn=,]
  [reply=,] stat=Sent (...)|Deferred: ...|User unknown|...`` — one attempt for each address;
- ``<QID>: <QID2>: DSN: reason`` / ``return to sender:`` / ``sender notify:`` /
  ``postmaster notify:`` — the NDR or warning QID2 this message caused;
- ``ruleset=check_rcpt|check_mail|check_relay, arg1=<..>, relay=.., reject=550 5.7.1 ..`` and
  ``<addr>... User unknown`` — refusals during the SMTP dialogue (the id is already assigned);
- ``milter=NAME, action=.., reject=..`` / ``Milter: ... reject=``, ``Milter ... discard``.
"""

from __future__ import annotations

import re

from ndrtrack.logs.formats._base import Event, LogFormat, event, reply_codes, strip_brackets
from ndrtrack.logs.syslog import Envelope

_QID = re.compile(r"([0-9A-Za-z]{14}|[0-9A-Za-z]{12}): ")
_KV = re.compile(r"(\w+)=(<[^>]*>|\[[^\]]*\](?: \[[^\]]*\])?|[^,]*?(?: \[[^\]]*\])?)(?:, |$)")
_NOTIFY = re.compile(r"([0-9A-Za-z]{12,14}): (DSN|return to sender|sender notify|"
                     r"postmaster notify): (.*)")
_USER = re.compile(r"<([^>]*)>\.\.\. (.*)")
_RELAY = re.compile(r"(\S*?)\.? ?\[([0-9A-Fa-f:.]+)\]")
_STAT = {"Sent": "sent", "Deferred": "deferred", "queued": "deferred"}
_NOISE = ("starting daemon", "alias database", "did not issue", "lost input channel",
          "timeout waiting", "STARTTLS", "AUTH=", "collect:", "SYSERR", "Authentication-Warning",
          "tls_", "rejecting connections", "accepting connections", "load average",
          "runqueue", "grew WorkList", "headers too large", "Milter ", "milter ")


class Sendmail(LogFormat):
    name = "sendmail"
    mta = "sendmail"
    programs = ("sm-mta", "sendmail", "sm-msp-queue", "sm-msp")

    def read(self, env: Envelope) -> Event | None:
        msg = env.message
        m = _QID.match(msg)
        if m is None:
            if msg.startswith(_NOISE) or msg.startswith(("NOQUEUE:", "/")) or ": " in msg[:80]:
                return event(env, "sendmail", "info")
            return None
        qid, rest = m.group(1), msg[m.end():]
        if rest.startswith(("from=", "to=", "ruleset=", "milter=", "Milter")):
            return _keyed(env, qid, rest)
        n = _NOTIFY.match(rest)
        if n is not None:
            kind = "notification"
            if n.group(3).startswith("Cannot send message for"):
                kind = "expired"  # the queue lifetime ran out ("Cannot send message for 5 days")
            return event(env, "sendmail", kind, queue_id=qid, related_id=n.group(1),
                         status=n.group(2))
        u = _USER.match(rest)
        if u is not None:
            reply = u.group(2)
            _code, dsn = reply_codes(reply)
            return event(env, "sendmail", "reject", queue_id=qid, recipient=u.group(1),
                         status="rejected", dsn=dsn, reply=reply)
        if rest.startswith(_NOISE) or "did not issue" in rest or rest.startswith("message size"):
            return event(env, "sendmail", "note", queue_id=qid,
                         **_client_of(rest))
        return event(env, "sendmail", "note", queue_id=qid)


def _fields(rest: str) -> dict[str, str]:
    return {k: v for k, v in _KV.findall(rest)}


def _client_of(text: str) -> dict[str, str]:
    m = _RELAY.search(text)
    if m is None:
        return {}
    return {"client_host": m.group(1), "client_ip": m.group(2)}


def _keyed(env: Envelope, qid: str, rest: str) -> Event:
    f = _fields(rest)
    if "from" in f:  # logged when the SMTP transaction ends; nrcpts=0: nothing was accepted
        return event(env, "sendmail", "queued", queue_id=qid, sender=strip_brackets(f["from"]),
                     message_id=strip_brackets(f.get("msgid", "")),
                     status="rejected" if f.get("nrcpts") == "0" else "",
                     **_client_of(f.get("relay", "")))
    if "to" in f and "reject" not in f:
        stat = f.get("stat", "")
        word = stat.split(" ", 1)[0].rstrip(":")
        status = _STAT.get(word, "bounced" if f.get("dsn", "").startswith("5") else
                           "deferred" if f.get("dsn", "").startswith("4") else "bounced")
        if "mailer" not in f and word != "Sent":
            status = "rejected"  # no mailer: refused while receiving (e.g. size after DATA)
        reply = f.get("reply", "") or (stat.partition(" ")[2].strip("() ") if word == "Sent"
                                       else stat)
        recipients = [strip_brackets(a) for a in f["to"].split(",")]
        ctl = strip_brackets(f.get("ctladdr", "").split(" ")[0])
        recipient = recipients[0] if "@" in recipients[0] or not ctl else ctl
        return event(env, "sendmail", "delivery", queue_id=qid, recipient=recipient,
                     orig_recipient=recipients[0] if recipient != recipients[0] else "",
                     relay=f.get("relay", f.get("mailer", "")), status=status,
                     dsn=f.get("dsn", ""), reply=reply)
    reject = f.get("reject", "")
    _code, dsn = reply_codes(reject)
    arg = strip_brackets(f.get("arg1", ""))
    ruleset = f.get("ruleset", "")
    sender = arg if ruleset == "check_mail" else ""
    recipient = arg if ruleset == "check_rcpt" else strip_brackets(f.get("to", ""))
    if not reject:
        return event(env, "sendmail", "note", queue_id=qid)
    return event(env, "sendmail", "reject", queue_id=qid, sender=sender, recipient=recipient,
                 status="rejected", dsn=dsn, reply=reject, **_client_of(f.get("relay", "")))


FORMAT = Sendmail()
