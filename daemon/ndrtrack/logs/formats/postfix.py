"""Postfix: one handler per kind of line, dispatched on what follows the queue id.

Lines look like ``postfix/<service>[pid]: <QID>: key=value, ...`` (the service may carry an
instance prefix: ``postfix/submission/smtpd``, ``postfix-out/smtp``).  Queue ids are either
short (upper-case hex) or long (``enable_long_queue_ids``: the time in base 52, ``z``, the
inode in base 51 — which has no ``z``).  What a trace needs:

- smtpd ``QID: client=host[ip]`` starts a message received by SMTP; pickup ``QID: uid= from=``
  one submitted locally (also content-filter re-injection arrives through smtpd).
- cleanup ``QID: message-id=<..>``; ``milter-reject``/``milter-discard``/``milter-hold``
  and header/body ``reject``/``hold``/``discard`` end or park a message.
- qmgr ``from=<..>, size=, nrcpt=`` (envelope sender), ``removed`` (the end of the queue
  file), ``from=<..>, status=expired, returned to sender``.
- smtp/lmtp/local/virtual/pipe/error/discard ``to=<..>[, orig_to=<..>], relay=, delay=,
  delays=, dsn=, status=sent|deferred|bounced|expired (reply)``; a reply ``queued as QID2`` from
  a content filter or next hop links the two queue files.
- bounce ``QID: sender non-delivery notification: QID2`` links a message to its NDR.
- smtpd/postscreen/cleanup ``NOQUEUE: reject: RCPT from host[ip]: 550 5.1.1 ...; from=<..>
  to=<..> proto=ESMTP helo=<..>`` — a message refused before it had a queue file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, overload

from ndrtrack.logs.formats._base import UNTRACED, Event, LogFormat, Untraced, event, reply_codes
from ndrtrack.logs.syslog import Envelope

#: the commonest lines build their ``Event`` positionally: a keyword call of ``event()``
#: costs ~1.2 µs, a tuple ~0.3 µs, at a budget of a few µs per line
_new = tuple.__new__

#: An optional group is spelled ``(?:x|)``: it matches as ``(?:x)?`` does, but the engine takes
#: an alternative faster than a repeat (the reject tail: 1 µs -> 0.6 µs)
_QID = re.compile(
    r"([0-9A-F]{5,24}|[0-9A-Za-z]{8,12}z[0-9A-Za-y]{1,10})"
    r": ")
#: (``,[^ ]*+(?: [^ ]*+)*? dsn=`` is ``,.*? dsn=`` trying the tail only at the spaces, in the
#: same order: the lazy ``.*?`` tried it at every character — a third of the match)
_DELIVERY = re.compile(
    r"to=<?([^>,]*)>?,(?: orig_to=<?([^>,]*)>?,|) relay=([^,]*),[^ ]*+(?: [^ ]*+)*? dsn=([^,]*),"
    r" status=(\S+)(?: \((.*)\)|)$", re.S)
_QUEUED_AS = re.compile(r"(?:queued|forwarded) as ([0-9A-Za-z]{5,20})\b")
_REMOTE = re.compile(r"(?:host (\S+) (?:said|refused to talk to me): |conversation with (\S+)"
                     r" timed out |lost connection with (\S+) )(.*)$", re.S)
_FROM = re.compile(r"from=<?([^>,\s]*)>?(?:, size=(\d+), nrcpt=(\d+)|)(?:, status=([^,\s]+)|)")
_CLIENT = re.compile(r"client=([^\[,]*)\[([^\]]*)\]")
_MSGID = re.compile(r"(?:resent-|)message-id=(?:<([^>]*)>|(.*))$", re.S)
_UID = re.compile(r"uid=(\d+) from=<([^>]*)>")
_NOTIFY = re.compile(r"(sender|postmaster) (non-delivery|delay|delivery status|success) "
                     r"notification: (\S+)")
#: ``ACTION: STAGE from host[ip]: REPLY; from=<..> to=<..> proto=.. helo=<..>[: TAIL]`` in two
#: parts (see ``_match_action``): one pattern with a lazy ``(.*?)`` for the reply tried the
#: tail at every character of the reply (~9 µs a reject line; now ~3)
_ACTION_HEAD = re.compile(
    r"(reject|milter-reject|milter-discard|milter-hold|hold|discard|filter|redirect|"
    r"reject_warning|warn): (\S+(?: \S+|)) from ([^\[\s]*)\[([^\]]*)\](?::\d+|):? ", re.S)
_ACTION_TAIL = re.compile(
    r";(?:,? from=<([^>]*)>|)(?:,? to=<([^>]*)>|)(?:,? proto=(\S+?),?|)(?: helo=<([^>]*)>|)"
    r"(?:: (.*)|)$", re.S)
_PROXY = re.compile(r"(proxy-accept|proxy-reject): (\S+): (.*?); from=<([^>]*)>"
                    r"(?: to=<([^>]*)>|)(?: proto=(\S+)|)(?: helo=<([^>]*)>|)", re.S)
#: (the look-behind starts a try only where a name can start: searched without it, every
#: position of a long TLS line rescanned the rest of its word — ~5 µs a line)
_HOST_IP = re.compile(r"(?<![^\[\s])([^\[\s]*)\[([0-9A-Fa-f:.]+)\]")
_DNSBL_ADDR = re.compile(r"addr ([0-9A-Fa-f:.]+) listed")
_CONNECT = re.compile(r"(connect|disconnect) from ([^\[\s]*)\[([^\]]*)\]")
_LOST = re.compile(r"lost connection after (\S+) from ([^\[\s]*)\[([^\]]*)\]")
#: message prefixes (after any queue id) of lines that are understood but trace nothing
_NOISE = ("warning:", "statistics:", "daemon started", "terminating on signal", "reload",
          "starting the Postfix", "stopping the Postfix", "refreshing the Postfix",
          "the Postfix mail system", "Postfix is running", "fatal:", "panic:", "error:",
          "Anonymous TLS connection", "Trusted TLS connection", "Untrusted TLS connection",
          "Verified TLS connection", "SSL_accept error", "TLS SNI", "connect to ", "setting up TLS",
          "improper command pipelining", "too many errors", "timeout after",
          "NOQUEUE: lost connection", "table ", "dict_", "message-id: ", "scache ",
          "looking for", "mapping ", "network_biopair", "disconnect:", "SASL ", "sasl_",
          "host ", "enabling PIX", "lost connection with", "conversation with", "Host offered",
          "certificate verification", "Server certificate", "client certificate",
          "postfix-script", "send attr", "initializing the server-side TLS", "cache ",
          "hostname ", "address not listed", "addr ", "input attribute", "cannot ",
          "unable to ", "using backwards-compatible", "status=deferred", "max ",
          "auto_clnt_", "vstream_", "mail_queue_enter", "Unable to ", "unexpected ",
          "query ", "initializing ", "bare <LF>", "discarding EHLO", "Released from",
          "SSL_connect", "skipped", "lost connection after", "timeout after", "too many ",
          "improper command", "NOQUEUE: ", "Anonymous TLS", "proxy-", "reject: ", "addr ")

#: the same prefixes by first character: ``startswith`` over the whole tuple tried ~80
#: prefixes for every line that is not noise (most of them) — ~1.5 µs a line
_NOISE_BY_FIRST: dict[str, tuple[str, ...]] = {}
for _prefix in _NOISE:
    _NOISE_BY_FIRST[_prefix[0]] = (*_NOISE_BY_FIRST.get(_prefix[0], ()), _prefix)


_QUIET_PROGRAMS = ("/anvil", "/master", "/postfix-script", "/tlsmgr", "/scache", "/postlogd",
                   "/postsuper", "/postqueue", "/sendmail", "/postdrop", "/verify",
                   "/trivial-rewrite", "/tlsproxy", "/dnsblog", "/proxymap", "/flush")


class Postfix(LogFormat):
    name = "postfix"
    mta = "postfix"
    programs = ("postfix",)

    def read(self, env: Envelope) -> Event | None:
        got = self.read_for_trace(env)
        return _no_queue_id(env, env.message, True) if got is UNTRACED else got

    def read_for_trace(self, env: Envelope) -> Event | Untraced | None:
        """``read``, except that a connection line outside any message (connect, disconnect,
        postscreen, TLS and other chatter: a third of a log) is only recognised, not taken
        apart.  (The bulk import's path: ``read`` takes such a line apart afterwards.)"""
        msg = env.message
        # (no ": " look-up first: a failed match costs little more, a found one twice as much)
        m = _QID.match(msg)
        if m is None:
            return _no_queue_id(env, msg, False)
        rest = msg[m.end():]
        return _BY_PREFIX.get(rest[:3], _other)(env, m.group(1), rest)


def _other(env: Envelope, qid: str, rest: str) -> Event | None:
    """A queued message's line that ``_BY_PREFIX`` does not know by its first characters."""
    action = _match_action(rest)
    if action is not None:
        return _action(env, qid, action)
    if rest.startswith("proxy-"):
        return _proxy(env, qid, rest)
    return event(env, "postfix", "note", queue_id=qid)


def _delivery(env: Envelope, qid: str, rest: str) -> Event | None:
    m = _DELIVERY.match(rest)
    if m is None:
        return None
    to, orig, relay, dsn, status, reply = m.groups()
    reply = reply or ""
    related = ""
    if " as " in reply:
        q = _QUEUED_AS.search(reply)
        related = q.group(1) if q else ""
    at, host, program, _pid, text, source = env
    return _new(Event, (at, host, "postfix", program, qid, "delivery", "", "", to, "", "",
                        relay, status, dsn, reply, text, source, orig or "", "", related, ""))


def _from(env: Envelope, qid: str, rest: str) -> Event | None:
    m = _FROM.match(rest)
    if m is None:
        return None
    sender, _size, _nrcpt, status = m.groups()
    if status:  # "status=expired, returned to sender"
        return event(env, "postfix", "expired", queue_id=qid, sender=sender, status=status)
    at, host, program, _pid, text, source = env
    return _new(Event, (at, host, "postfix", program, qid, "queued", "", sender, "", "", "", "",
                        "", "", "", text, source, "", "", "", ""))


def _client(env: Envelope, qid: str, rest: str) -> Event | None:
    m = _CLIENT.match(rest)
    if m is None:
        return None
    at, host, program, _pid, text, source = env
    return _new(Event, (at, host, "postfix", program, qid, "client", "", "", "", m.group(2),
                        m.group(1), "", "", "", "", text, source, "", "", "", ""))


def _message_id(env: Envelope, qid: str, rest: str) -> Event | None:
    m = _MSGID.match(rest)
    if m is None or rest.startswith("resent"):
        return None if m is None else event(env, "postfix", "note", queue_id=qid)
    mid = (m.group(1) if m.group(1) is not None else m.group(2)).strip()
    at, host, program, _pid, text, source = env
    return _new(Event, (at, host, "postfix", program, qid, "message-id", mid, "", "", "", "", "",
                        "", "", "", text, source, "", "", "", ""))


def _removed(env: Envelope, qid: str, rest: str) -> Event | None:
    if rest.rstrip() != "removed":
        return None
    at, host, program, _pid, text, source = env
    return _new(Event, (at, host, "postfix", program, qid, "removed", "", "", "", "", "", "",
                        "", "", "", text, source, "", "", "", ""))


def _pickup(env: Envelope, qid: str, rest: str) -> Event | None:
    m = _UID.match(rest)
    if m is None:
        return None
    return event(env, "postfix", "pickup", queue_id=qid, sender=m.group(2))


def _notify(env: Envelope, qid: str, rest: str) -> Event | None:
    m = _NOTIFY.match(rest)
    if m is None:
        return None
    return event(env, "postfix", "notification", queue_id=qid, related_id=m.group(3),
                 status=m.group(2))


def _remote(env: Envelope, qid: str, rest: str) -> Event | None:
    """``host mx[ip] said: 450 4.7.1 … (in reply to RCPT TO command)``: the remote's words."""
    m = _REMOTE.match(rest)
    if m is None:
        return event(env, "postfix", "note", queue_id=qid)
    relay = m.group(1) or m.group(2) or m.group(3)
    _code, dsn = reply_codes(m.group(4))
    return event(env, "postfix", "remote-reply", queue_id=qid, relay=relay, reply=m.group(4),
                 dsn=dsn)


#: (action, stage, host, ip, reply, sender, rcpt, proto, helo, tail); the last five may be None
_ActionFields = tuple[Any, ...]


def _match_action(text: str, pos: int = 0) -> _ActionFields | None:
    """The ``_ActionFields`` of an action line, or None.

    The reply runs to the first ``;`` where the ``from=/to=/proto=/helo=`` tail matches up to
    the end (else to the end): what ``(.*?)(?:;TAIL)?$`` in one pattern gives, but trying the
    tail only at the ``;``s — which a search of the tail does: it starts with that literal.
    (One search, not a ``find`` and a match per ``;``: each call into the engine costs ~1,000
    instructions, and a reply often has a ``;`` of its own.)"""
    head = _ACTION_HEAD.match(text, pos)
    if head is None:
        return None
    start = head.end()
    tail = _ACTION_TAIL.search(text, start)
    if tail is not None:
        return (*head.groups(), text[start:tail.start()], *tail.groups())
    end = len(text) - 1 if text.endswith("\n") else len(text)  # where "$" matches first
    return (*head.groups(), text[start:end], None, None, None, None, None)


def _action(env: Envelope, qid: str, fields: _ActionFields) -> Event:
    action, stage, host, ip, reply, sender, rcpt, _proto, helo, tail = fields
    status = _ACTION_STATUS.get(action) or action
    if tail and not reply[:1].isdigit():  # cleanup: "reject: header ...; from=..: 5.7.1 text"
        reply = f"{tail} ({reply})"
    code, dsn = reply_codes(reply)
    kind = "reject" if action in {"reject", "milter-reject"} else action
    # positional: a pre-queue reject is a line in thirty, and event()'s keywords cost ~1.5 µs
    at, ehost, program, _pid, text, source = env
    return _new(Event, (at, ehost, "postfix", program, qid, kind, "", sender, rcpt or "", ip,
                        host, "", status, dsn, reply, text, source, "", helo or "", "", ""))


_ACTION_STATUS = {"reject": "rejected", "milter-reject": "rejected", "milter-discard":
                  "discarded", "discard": "discarded", "milter-hold": "held", "hold": "held",
                  "filter": "filtered", "redirect": "redirected", "reject_warning": "warned",
                  "warn": "warned"}

_BY_PREFIX: dict[str, Callable[[Envelope, str, str], Event | None]] = {
    "to=": _delivery, "fro": _from, "cli": _client, "mes": _message_id,
    "res": _message_id, "rem": _removed, "uid": _pickup, "sen": _notify, "pos": _notify,
    "hos": _remote, "con": _remote, "los": _remote,
}


def _proxy(env: Envelope, qid: str, rest: str) -> Event | None:
    """smtpd as a before-queue content filter proxy: the filter's verdict at end of data."""
    m = _PROXY.match(rest)
    if m is None:
        return None
    action, _stage, reply, sender, rcpt, _proto, helo = m.groups()
    _code, dsn = reply_codes(reply)
    q = _QUEUED_AS.search(reply)
    if action == "proxy-reject":
        return event(env, "postfix", "reject", queue_id=qid, sender=sender, helo=helo or "",
                     reply=reply, dsn=dsn, status="rejected")
    return event(env, "postfix", "note", queue_id=qid, sender=sender, helo=helo or "",
                 reply=reply, dsn=dsn, related_id=q.group(1) if q else "",
                 recipient="" if rcpt is None else "")


@overload
def _no_queue_id(env: Envelope, msg: str, build: Literal[True]) -> Event | None: ...
@overload
def _no_queue_id(env: Envelope, msg: str, build: bool) -> Event | Untraced | None: ...


def _no_queue_id(env: Envelope, msg: str, build: bool) -> Event | Untraced | None:
    """A line without a queue id: a warning about a queued message, a pre-queue verdict
    (``NOQUEUE: reject: ...``), or one about a client connection outside any message.  The
    last give their Event, or (``build`` false) ``UNTRACED``: whether the line is understood
    is decided alike, the fields only when built (their searches cost more than the rest)."""
    m = _CONNECT.match(msg)  # first and unguarded: a fifth of all lines; a failed match is cheap
    if m is not None:
        if not build:
            return UNTRACED
        kind, client_host, client_ip = m.groups()
        return _client_event(env, kind, client_ip, client_host)
    if msg.startswith(("warning: ", "NOQUEUE: ")):  # one call: most lines are neither
        if msg[0] == "N":
            action = _match_action(msg, 9)
            return None if action is None else _action(env, "", action)
        w = _QID.match(msg, 9)
        if w is not None:  # "warning: QID: ..." belongs to that message's timeline
            return event(env, "postfix", "warning", queue_id=w.group(1))
    if msg.startswith("lost connection after"):
        m = _LOST.match(msg)
        if m is not None:
            if not build:
                return UNTRACED
            return event(env, "postfix", "lost", client_host=m.group(2), client_ip=m.group(3))
    if msg.startswith(_NOISE_BY_FIRST.get(msg[:1], ())) \
            or env.program.endswith(_QUIET_PROGRAMS):
        return _info(env, msg) if build else UNTRACED
    if msg[:1].isupper() and "[" in msg:  # postscreen/tlsproxy verdicts: "WORDS [ip]:port"
        m = _HOST_IP.search(msg)
        if m is not None:
            return _client_event(env, "postscreen", m.group(2), "") if build else UNTRACED
    return None


def _info(env: Envelope, msg: str) -> Event:
    """A line understood but tracing nothing, with the client it names (if any)."""
    client = _HOST_IP.search(msg) if "[" in msg else _DNSBL_ADDR.match(msg)
    if client is None:
        return _client_event(env, "info", "", "")
    if client.re is _DNSBL_ADDR:
        return _client_event(env, "info", client.group(1), "")
    return _client_event(env, "info", client.group(2), client.group(1))


def _client_event(env: Envelope, kind: str, client_ip: str, client_host: str) -> Event:
    """A line about a client connection, outside any message (positional: a hot path)."""
    at, host, program, _pid, text, source = env
    return _new(Event, (at, host, "postfix", program, "", kind, "", "", "", client_ip,
                        client_host, "", "", "", "", text, source, "", "", "", ""))


FORMAT = Postfix()
