#!/usr/bin/env python3
# ruff: noqa: E501  (log line templates are as long as the lines they produce)
"""Generate a realistic Postfix syslog file for the log benchmarks (deterministic by seed).

The mix follows what a busy inbound/outbound gateway logs: many connections refused before
queueing (postscreen, RBL and unknown-user NOQUEUE rejects), inbound mail through a content
filter (two queue ids per message joined by ``queued as``), local and remote deliveries with
several recipients, deferrals that later succeed, bounces with the NDR they cause, TLS and
disconnect noise.  Lines of concurrent messages interleave in time order, as in a real log.

    python bench/gen_postfix_log.py --lines 1000000 --out /var/tmp/postfix-1m.log
"""

from __future__ import annotations

import argparse
import heapq
import random
import time
from collections.abc import Iterator

HOSTS = ("mx1", "mx2")
DOMAINS = [f"example{i}.com" for i in range(2000)] + ["gmail.com", "outlook.com", "yahoo.com"]
LOCAL = [f"corp{i}.test" for i in range(5)]
HEX = "0123456789ABCDEF"


class Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.pid = 1000

    def qid(self) -> str:
        return "".join(self.r.choice(HEX) for _ in range(10))

    def ip(self) -> str:
        r = self.r
        return f"{r.randint(11, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"

    def addr(self, domains: list[str]) -> str:
        return f"user{self.r.randint(1, 50000)}@{self.r.choice(domains)}"

    def rhost(self, ip: str) -> str:
        return "unknown" if self.r.random() < 0.2 else f"mail-{ip.replace('.', '-')}.{self.r.choice(DOMAINS)}"

    def message(self, t: float) -> list[tuple[float, str, str]]:
        """(time, program, text) lines of one SMTP session or message."""
        kind = self.r.random()
        if kind < 0.35:
            return self.rejected(t)
        if kind < 0.75:
            return self.inbound(t)
        return self.outbound(t)

    def rejected(self, t: float) -> list[tuple[float, str, str]]:
        ip = self.ip()
        host = self.rhost(ip)
        sender, rcpt = self.addr(DOMAINS), self.addr(LOCAL)
        if self.r.random() < 0.5:
            return [(t, "postfix/postscreen", f"CONNECT from [{ip}]:{self.r.randint(1024, 65000)} to [192.0.2.1]:25"),
                    (t + 0.1, "postfix/postscreen", f"DNSBL rank 3 for [{ip}]:{self.r.randint(1024, 65000)}"),
                    (t + 0.5, "postfix/postscreen", f"NOQUEUE: reject: RCPT from [{ip}]:{self.r.randint(1024, 65000)}: 550 5.7.1 Service unavailable; client [{ip}] blocked using zen.spamhaus.org; from=<{sender}>, to=<{rcpt}>, proto=ESMTP, helo=<{host}>"),
                    (t + 0.6, "postfix/postscreen", f"DISCONNECT [{ip}]:{self.r.randint(1024, 65000)}")]
        reply = self.r.choice((
            f"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table",
            f"554 5.7.1 <{rcpt}>: Relay access denied",
            f"450 4.7.1 <{host}>: Helo command rejected: Host not found"))
        return [(t, "postfix/smtpd", f"connect from {host}[{ip}]"),
                (t + 0.2, "postfix/smtpd", f"NOQUEUE: reject: RCPT from {host}[{ip}]: {reply}; from=<{sender}> to=<{rcpt}> proto=ESMTP helo=<{host}>"),
                (t + 0.3, "postfix/smtpd", f"disconnect from {host}[{ip}] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4")]

    def inbound(self, t: float) -> list[tuple[float, str, str]]:
        ip = self.ip()
        host = self.rhost(ip)
        q1, q2 = self.qid(), self.qid()
        sender = self.addr(DOMAINS)
        rcpts = [self.addr(LOCAL) for _ in range(self.r.choice((1, 1, 1, 2, 3)))]
        msgid = f"{self.r.getrandbits(64):x}@{sender.split('@')[1]}"
        size = self.r.randint(2000, 200000)
        lines = [(t, "postfix/smtpd", f"connect from {host}[{ip}]"),
                 (t + 0.1, "postfix/smtpd", f"Anonymous TLS connection established from {host}[{ip}]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"),
                 (t + 0.3, "postfix/smtpd", f"{q1}: client={host}[{ip}]"),
                 (t + 0.4, "postfix/cleanup", f"{q1}: message-id=<{msgid}>"),
                 (t + 0.5, "postfix/qmgr", f"{q1}: from=<{sender}>, size={size}, nrcpt={len(rcpts)} (queue active)"),
                 (t + 0.6, "postfix/smtpd", f"disconnect from {host}[{ip}] ehlo=1 starttls=1 mail=1 rcpt={len(rcpts)} data=1 quit=1 commands=6")]
        for i, rcpt in enumerate(rcpts):
            lines.append((t + 1.5 + i * 0.01, "postfix/smtp", f"{q1}: to=<{rcpt}>, relay=127.0.0.1[127.0.0.1]:10024, delay=1.5, delays=0.5/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {q2})"))
        lines += [(t + 1.6, "postfix/smtpd", "connect from localhost[127.0.0.1]"),
                  (t + 1.45, "postfix/smtpd", f"{q2}: client=localhost[127.0.0.1]"),
                  (t + 1.46, "postfix/cleanup", f"{q2}: message-id=<{msgid}>"),
                  (t + 1.6, "postfix/qmgr", f"{q2}: from=<{sender}>, size={size + 800}, nrcpt={len(rcpts)} (queue active)"),
                  (t + 1.6, "postfix/qmgr", f"{q1}: removed")]
        for i, rcpt in enumerate(rcpts):
            if self.r.random() < 0.03:
                lines.append((t + 1.7, "postfix/virtual", f"{q2}: to=<{rcpt}>, relay=virtual, delay=1.7, delays=1.6/0/0/0.1, dsn=5.2.2, status=bounced (mailbox full)"))
                lines += self.ndr(t + 1.8, q2, sender)
            else:
                lines.append((t + 1.7 + i * 0.01, "postfix/virtual", f"{q2}: to=<{rcpt}>, relay=virtual, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered to maildir)"))
        lines.append((t + 2.0, "postfix/qmgr", f"{q2}: removed"))
        return lines

    def ndr(self, t: float, parent: str, sender: str) -> list[tuple[float, str, str]]:
        q = self.qid()
        ip = self.ip()
        return [(t, "postfix/cleanup", f"{q}: message-id=<{t:.0f}.{q}@mx1.corp0.test>"),
                (t, "postfix/bounce", f"{parent}: sender non-delivery notification: {q}"),
                (t + 0.1, "postfix/qmgr", f"{q}: from=<>, size=4000, nrcpt=1 (queue active)"),
                (t + 0.9, "postfix/smtp", f"{q}: to=<{sender}>, relay=mx.{sender.split('@')[1]}[{ip}]:25, delay=0.9, delays=0.1/0/0.4/0.4, dsn=2.0.0, status=sent (250 2.0.0 OK)"),
                (t + 0.9, "postfix/qmgr", f"{q}: removed")]

    def outbound(self, t: float) -> list[tuple[float, str, str]]:
        q = self.qid()
        sender = self.addr(LOCAL)
        rcpts = [self.addr(DOMAINS) for _ in range(self.r.choice((1, 1, 2, 4)))]
        msgid = f"{self.r.getrandbits(64):x}@{sender.split('@')[1]}"
        lines = [(t, "postfix/submission/smtpd", f"connect from app1.corp0.test[10.0.0.{self.r.randint(2, 250)}]"),
                 (t + 0.1, "postfix/submission/smtpd", f"{q}: client=app1.corp0.test[10.0.0.{self.r.randint(2, 250)}], sasl_method=PLAIN, sasl_username={sender.split('@')[0]}"),
                 (t + 0.2, "postfix/cleanup", f"{q}: message-id=<{msgid}>"),
                 (t + 0.3, "postfix/qmgr", f"{q}: from=<{sender}>, size={self.r.randint(1000, 90000)}, nrcpt={len(rcpts)} (queue active)")]
        end = t + 1
        for rcpt in rcpts:
            ip = self.ip()
            relay = f"mx.{rcpt.split('@')[1]}[{ip}]:25"
            fate = self.r.random()
            if fate < 0.08:  # deferred, then sent much later
                lines.append((t + 2, "postfix/smtp", f"{q}: to=<{rcpt}>, relay={relay}, delay=2, delays=0.3/0/1/0.7, dsn=4.7.1, status=deferred (host {relay.split('[')[0]}[{ip}] said: 450 4.7.1 Greylisted, try again later (in reply to RCPT TO command))"))
                done = t + self.r.randint(300, 3600)
                end = max(end, done)
                lines.append((done, "postfix/smtp", f"{q}: to=<{rcpt}>, relay={relay}, delay={done - t:.0f}, delays={done - t - 1:.0f}/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK id=1ab2cd)"))
            elif fate < 0.12:
                lines.append((t + 2, "postfix/smtp", f"{q}: to=<{rcpt}>, relay={relay}, delay=2, delays=0.3/0/1/0.7, dsn=5.1.1, status=bounced (host {relay.split('[')[0]}[{ip}] said: 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown (in reply to RCPT TO command))"))
                lines += self.ndr(t + 2.1, q, sender)
            else:
                lines.append((t + 1.5, "postfix/smtp", f"{q}: to=<{rcpt}>, relay={relay}, delay=1.5, delays=0.3/0/0.6/0.6, dsn=2.0.0, status=sent (250 2.0.0 OK 1700000000 x12si34567.1 - gsmtp)"))
        lines.append((max(end, t + 2.2) + 0.01, "postfix/qmgr", f"{q}: removed"))
        lines.append((t + 0.4, "postfix/submission/smtpd", "disconnect from app1.corp0.test[10.0.0.9] ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6"))
        return lines


def generate(n_lines: int, seed: int = 1, start: float = 1795800000.0) -> Iterator[str]:
    gen = Gen(seed)
    heap: list[tuple[float, int, str, str, str]] = []
    t = start
    produced = 0
    seq = 0
    while produced < n_lines:
        t += gen.r.expovariate(1 / 0.09)
        host = gen.r.choice(HOSTS)
        for when, prog, text in gen.message(t):
            seq += 1
            heapq.heappush(heap, (when, seq, host, prog, text))
        while heap and heap[0][0] <= t and produced < n_lines:
            when, _, host, prog, text = heapq.heappop(heap)
            yield f"{time.strftime('%b %d %H:%M:%S', time.gmtime(when))} {host} {prog}[{gen.pid + seq % 977}]: {text}\n"
            produced += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.out, "w", encoding="utf-8") as out:
        out.writelines(generate(args.lines, args.seed))


if __name__ == "__main__":
    main()
