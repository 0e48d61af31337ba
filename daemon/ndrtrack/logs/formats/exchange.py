"""Exchange message tracking logs (``MSGTRK*.LOG``): CSV whose ``#Fields:`` header names the
columns (their set and order differ between versions, so nothing is positional).

One row per event and message: ``event-id`` RECEIVE, SUBMIT, SEND, DELIVER, FAIL, DEFER, DSN,
EXPAND, REDIRECT, RESOLVE, TRANSFER, HAREDIRECT, AGENTINFO…; ``internal-message-id`` ties the
rows of one message on one server (it is the trace's queue id), ``message-id`` is the
Message-ID, ``recipient-address`` and ``recipient-status`` are ``;``-separated parallel
lists, ``reference`` links a DSN to the Message-ID of the message it reports on.

The reader turns each row into a compact ``EVENT key="value" …`` text that ``read`` parses,
so the stored timeline can be parsed again without the file's header.
"""

from __future__ import annotations

import csv
import re

from ndrtrack.logs.formats._base import Event, LineReader, LogFormat, event, reply_codes
from ndrtrack.logs.syslog import Clock, Envelope

_KEEP = ("internal-message-id", "message-id", "sender-address", "recipient-address",
         "recipient-status", "client-ip", "client-hostname", "server-ip", "server-hostname",
         "reference", "source", "connector-id", "return-path")
_PAIR = re.compile(r'([a-z-]+)="((?:[^"\\]|\\.)*)"')
_STATUS = {"DELIVER": "sent", "SEND": "sent", "FAIL": "bounced", "DEFER": "deferred",
           "DROP": "discarded", "POISONMESSAGE": "held"}
_KIND = {"RECEIVE": "received", "SUBMIT": "received", "DSN": "notification",
         "DELIVER": "delivery", "SEND": "delivery", "FAIL": "delivery", "DEFER": "delivery",
         "DROP": "discard"}


class Exchange(LogFormat):
    name = "exchange"
    mta = "exchange"
    programs = ()

    def read(self, env: Envelope) -> Event | None:
        event_id, _, rest = env.message.partition(" ")
        if not event_id.isupper():
            return None
        f = {k: v.replace('\\"', '"') for k, v in _PAIR.findall(rest)}
        qid = f.get("internal-message-id", "")
        common = {"queue_id": qid, "message_id": f.get("message-id", "").strip("<>")}
        kind = _KIND.get(event_id, "note")
        if kind == "received":
            return event(env, "exchange", kind, sender=f.get("sender-address", ""),
                         client_ip=f.get("client-ip", ""),
                         client_host=f.get("client-hostname", ""), **common)
        if kind == "notification":
            return event(env, "exchange", kind, related_id=f.get("reference", "").strip("<>"),
                         sender=f.get("sender-address", ""), **common)
        if event_id in _STATUS:
            status_text = f.get("recipient-status", "")
            _code, dsn = reply_codes(status_text.split(";")[0])
            relay = f.get("server-hostname", "") if event_id == "SEND" else f.get("source", "")
            return event(env, "exchange", kind, recipient=f.get("recipient-address", ""),
                         status=_STATUS[event_id], reply=status_text, dsn=dsn, relay=relay,
                         sender=f.get("sender-address", ""), **common)
        return event(env, "exchange", "note", **common)

    def reader(self, clock: Clock, host: str, source: str) -> LineReader:
        columns: list[str] = []

        def read(line: str) -> Envelope | None:
            if line.startswith("#"):
                if line.startswith("#Fields:"):
                    columns[:] = [c.strip() for c in line[8:].split(",")]
                return None
            if not columns:
                return None
            try:
                values = next(csv.reader([line]))
            except (csv.Error, StopIteration):
                return None
            row = dict(zip(columns, values, strict=False))
            stamp = row.get("date-time", "")
            try:
                at = clock.iso(stamp.replace("Z", "+00:00"))
            except ValueError:
                return None
            text = row.get("event-id", "") + " " + " ".join(
                f'{k}="{_escape(row[k])}"' for k in _KEEP if row.get(k))
            server = host or row.get("server-hostname") or row.get("client-hostname", "")
            return Envelope(at, server, "exchange", "", text, source)

        return read

    def sniff(self, lines: list[str]) -> bool:
        return any(line.startswith(("#Software: Microsoft Exchange", "#Log-type: Message Track"))
                   for line in lines[:4])


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


FORMAT = Exchange()
