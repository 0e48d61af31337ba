"""The chunked DATA reader: terminator anywhere, dot-unstuffing, size limit, what follows."""

from __future__ import annotations

import asyncio

import pytest

from ndrtrack.intake.smtp import READ_CHUNK, read_data


def run(pieces: list[bytes], limit: int = 10_000) -> tuple[bytes | None, bytes]:
    """Feed ``pieces`` to a real StreamReader; the section read and what is left after it."""

    async def main() -> tuple[bytes | None, bytes]:
        reader = asyncio.StreamReader(limit=2**20)
        for piece in pieces:
            reader.feed_data(piece)
        reader.feed_eof()
        body = await read_data(reader, limit)
        return body, await reader.read()

    return asyncio.run(main())


def test_plain_message() -> None:
    assert run([b"Subject: x\r\n\r\nhello\r\n.\r\n"]) == (b"Subject: x\r\n\r\nhello\r\n", b"")


def test_empty_message() -> None:
    assert run([b".\r\n"]) == (b"", b"")


def test_leading_periods_are_removed_per_rfc5321() -> None:
    body, _ = run([b"..stuffed\r\nplain\r\n.x\r\n..\r\n...\r\n.\r\n"])
    assert body == b".stuffed\r\nplain\r\nx\r\n.\r\n..\r\n"


@pytest.mark.parametrize("split", range(1, 6))
def test_terminator_split_across_reads(split: int) -> None:
    data = b"line one\r\nline two\r\n.\r\n"
    cut = len(data) - split

    async def main() -> bytes | None:
        reader = asyncio.StreamReader()
        reader.feed_data(data[:cut])
        task = asyncio.ensure_future(read_data(reader, 10_000))
        await asyncio.sleep(0.01)
        assert not task.done()  # the end has not arrived yet
        reader.feed_data(data[cut:])
        return await task

    assert asyncio.run(main()) == b"line one\r\nline two\r\n"


def test_what_follows_the_terminator_stays_in_the_reader() -> None:
    assert run([b"a\r\n.\r\nQUIT\r\n"]) == (b"a\r\n", b"QUIT\r\n")


def test_no_false_end_inside_lines() -> None:
    body, _ = run([b"a.\r\n. b\r\nx\r\n.y\r\n.\r\n"])
    assert body == b"a.\r\n b\r\nx\r\ny\r\n"


def test_size_limit_exact_and_over() -> None:
    line = b"x" * 98 + b"\r\n"
    assert run([line * 10 + b".\r\n"], limit=1000)[0] == line * 10
    assert run([line * 10 + b"y\r\n.\r\n"], limit=1000)[0] is None


def test_a_huge_message_is_read_to_its_end_and_refused() -> None:
    line = b"z" * 998 + b"\r\n"
    pieces = [line * 64 for _ in range(40)] + [b".\r\nNOOP\r\n"]  # ~2.5 MB
    body, rest = run(pieces, limit=READ_CHUNK)
    assert body is None and rest == b"NOOP\r\n"


def test_connection_closed_during_data() -> None:
    with pytest.raises(ConnectionResetError):
        run([b"partial message\r\n"])
