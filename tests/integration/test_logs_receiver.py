"""The built-in syslog receiver over real loopback sockets: UDP datagrams, TCP with octet
counting and with newline framing, RFC 3164 and RFC 5424 messages."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from conftest import free_port
from ndrtrack.config import LogsConfig, SyslogReceiverConfig
from ndrtrack.logs.receiver import SyslogReceiver
from ndrtrack.store.base import LogQuery, open_store


def reject(i: int, host: str = "gw1") -> str:
    return (f"<22>Nov 28 01:00:{i:02d} {host} postfix/smtpd[7]: NOQUEUE: reject: RCPT from "
            f"c.example[192.0.2.{i}]: 550 5.1.1 <u{i}@corp.test>: Recipient address rejected: "
            f"User unknown; from=<s{i}@example.org> to=<u{i}@corp.test> proto=ESMTP helo=<c>")


def test_udp_and_tcp_framings(tmp_path: Path) -> None:
    store = open_store("sqlite", str(tmp_path / "index.sqlite3"))
    store.setup()
    port = free_port()
    config = LogsConfig(syslog=SyslogReceiverConfig(enabled=True, host="127.0.0.1", port=port))

    async def run() -> None:
        receiver = SyslogReceiver(config=config, store=store, flush_seconds=0.05)
        await receiver.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.sendto(reject(1).encode(), ("127.0.0.1", port))
                udp.sendto(b"garbage that is no syslog", ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for i in (2, 3):  # octet counting (RFC 6587 3.4.1)
                data = reject(i).encode()
                writer.write(str(len(data)).encode() + b" " + data)
            writer.write((reject(4) + "\n").encode())  # non-transparent (LF) framing
            five = ("<22>1 2026-11-28T01:00:05Z gw2 postfix/smtpd 7 - - " + reject(5)
                    .split(": ", 1)[1]).encode()
            writer.write(str(len(five)).encode() + b" " + five)
            no_host = reject(6).replace(" gw1 ", " ", 1) + "\n"  # host from the peer address
            writer.write(no_host.encode())
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            for _ in range(200):
                if len(store.search(LogQuery(limit=100))) == 6:
                    break
                await asyncio.sleep(0.02)
        finally:
            await receiver.stop()
        del reader

    asyncio.run(run())
    traces = store.search(LogQuery(limit=100))
    got = sorted((t.sender, t.host) for t in traces)
    assert got == [("s1@example.org", "gw1"), ("s2@example.org", "gw1"),
                   ("s3@example.org", "gw1"), ("s4@example.org", "gw1"),
                   ("s5@example.org", "gw2"), ("s6@example.org", "127.0.0.1")]
    assert all(t.outcome == "rejected" and t.recipients[0].dsn == "5.1.1" for t in traces)
    store.close()
