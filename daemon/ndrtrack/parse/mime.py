"""A fast RFC 5322/MIME parser that builds the same ``compat32`` message tree as the stdlib.

Why: ``BytesParser(policy=compat32)`` reads a message line by line through a stack of
Python generators and end-of-part predicates; on the bounce corpus that alone was a third
of the decoder's time.  Here a part is cut out by searching for its boundary lines in the
raw bytes (``bytes.find``), and a header block is read by one regex.
The result is the same tree ``email.feedparser`` builds — same headers (``_headers``
values as ``compat32.header_source_parse`` leaves them), payloads, preamble, epilogue,
default types, ``message/delivery-status`` header blocks, the RFC 2046 rule that the line
end before a boundary belongs to the boundary — so every reader written against the stdlib
tree works unchanged (``tests/unit/test_parse_robust.py`` compares both trees on every
sample and on random ones).
Defects are not recorded: nothing downstream reads them.

It also bounds memory: the whole message is never decoded to one ``str``, and a leaf body
longer than ``max_leaf`` bytes is cut at a line end (an NDR's meaning never lives in the
20th MB of an attachment), and so is a header block over ``MAX_HEADER_BLOCK`` (a loop's
thousands of Received lines); each cut is noted in :data:`TRUNCATED_ATTR` on the root message.
Outlook containers (TNEF, ``.msg``) are kept whole — they cannot be read from a prefix.
"""

from __future__ import annotations

import re
from email.message import Message
from typing import Any

MAX_LEAF = 2 << 20  # a leaf body longer than this (bytes) is cut
MAX_HEADER_BLOCK = 1 << 20  # header lines beyond this many bytes of a block are dropped
MAX_DEPTH = 200  # nesting beyond this is kept as text (the stdlib recurses to ~1000 and dies)
TRUNCATED_ATTR = "_ndrtrack_truncated"
CTYPE_ATTR = "_ndrtrack_ctype"  # get_content_type() as parsed (readers: extract.typed_parts)
_WHOLE_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-outlook"})
_WHOLE_NAMES = (".msg", ".dat", ".tnef")

# Header lines as feedparser.headerRE accepts them, each with its line end (or the end).
_HEADER_BLOCK = re.compile(
    rb"(?:(?:From |[\041-\071\073-\176]*:|[\t ])[^\r\n]*(?:\r\n|\r|\n|\Z))*"
)
# The same decision made only at line starts: the first line, then the first "\n" not
# followed by a header or folded line (an empty line included).  Values are never scanned,
# so this is several times faster; a bare CR (a line end for feedparser) takes _HEADER_BLOCK.
_HEADER_START = re.compile(rb"From |[\041-\071\073-\176]*+:|[\t ]")
_NOT_HEADER_NEXT = re.compile(rb"\n(?!From |[\041-\071\073-\176]*+:|[\t ])")
# A field and its folded lines: the value as ``compat32.header_source_parse`` leaves it
# (leading blanks and the last line end dropped, inner line ends kept).  "." stops only at
# "\n" and runs faster than a class: with CRLF line ends each value then ends in one "\r"
# (there is no other CR in a plain block), which is cut off.
_FIELD = re.compile(r"^([\041-\071\073-\176]*+):[ \t]*+(.*(?:\n[ \t].*)*)", re.M)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
# An empty line after a line end (atomic: the "\n" of a "\r\n" is not a line of its own).
# Written as branches that start with a literal (a CR not followed by LF being a line end
# of its own), not as an atomic group: the engine can then scan for CR and LF.
_BLANK_AFTER = re.compile(rb"\r\n(\r\n|\r|\n)|\r(?!\n)(\r\n|\r|\n)|\n(\r\n|\r|\n)")


class ParsedMessage(Message):
    """A compat32 ``Message`` whose ``get`` looks names up in a list of lowercased names.

    ``Message.get`` lowercases and compares every header name on every call, and the
    decoders ask each part for its type, encoding, sender and subject many times: that was a
    tenth of the decoder's time.  The names are lowercased once and rebuilt whenever the
    header list is replaced or changes length (every ``Message`` method that adds or removes
    a header does one or the other; ``replace_header`` keeps the name), so ``get`` never
    answers from a stale list.
    """

    def get(self, name: str, failobj: Any = None) -> Any:
        own = vars(self)
        headers: list[tuple[str, Any]] = own["_headers"]
        cached = own.get("_ndrtrack_names")
        if cached is None or cached[0] is not headers or cached[1] != len(headers):
            cached = own["_ndrtrack_names"] = (headers, len(headers),
                                               [key.lower() for key, _ in headers])
        names: list[str] = cached[2]
        name = name.lower()
        if name not in names:  # both scans run in C
            return failobj
        key, value = headers[names.index(name)]
        if value.__class__ is str and value.isascii():
            return value  # what compat32.header_fetch_parse returns for it
        return self.policy.header_fetch_parse(key, value)

    def items(self) -> list[tuple[str, Any]]:
        """``Message.items`` with ASCII values passed through as compat32 would."""
        fetch = self.policy.header_fetch_parse
        return [(key, value if value.__class__ is str and value.isascii() else fetch(key, value))
                for key, value in vars(self)["_headers"]]


def content_type(msg: Message) -> str:
    """``msg.get_content_type()`` without its extra calls (asked once per parsed part).

    The first Content-Type is looked up in the raw header list: most parts (a report's
    field blocks above all) are asked nothing else, so ``get`` need not index their names."""
    raw = _first_raw(msg, "content-type")
    if raw is None:
        return msg.get_default_type()
    value = raw if raw.__class__ is str and raw.isascii() else msg.get("content-type")
    if not isinstance(value, str):
        return msg.get_content_type()
    ctype = value.partition(";")[0].strip().lower()
    return ctype if ctype.count("/") == 1 else "text/plain"


def _first_raw(msg: Message, name: str) -> Any:
    """The stored value of the first header called ``name`` (lowercase), or None."""
    for key, value in vars(msg)["_headers"]:
        if key.lower() == name:
            return value
    return None


def boundary_of(msg: Message) -> str | None:
    """``msg.get_boundary()``, with the common Content-Type split on ";" here: ASCII, no
    escapes, RFC 2231 parts or angle brackets, at most one quoted value without a ";" in
    it (the stdlib's parameter machinery costs more than the rest of reading a multipart)."""
    value = msg.get("content-type")
    if not isinstance(value, str) or not _plain_params(value):
        return msg.get_boundary()
    for piece in value.split(";"):
        name, equals, found = piece.partition("=")
        if name.strip().lower() == "boundary":
            found = found.strip()
            if len(found) > 1 and found[0] == '"' and found[-1] == '"':
                found = found[1:-1]
            return found.rstrip() if equals else ""
    return None


def _plain_params(value: str) -> bool:
    if not value.isascii() or "\\" in value or "*" in value or "<" in value:
        return False
    quotes = value.count('"')
    if quotes == 0:
        return True
    first = value.find('"')
    return quotes == 2 and ";" not in value[first : value.find('"', first + 1)]


def _text(raw: bytes, start: int, end: int) -> str:
    return raw[start:end].decode("ascii", "surrogateescape")


def _header_end(raw: bytes, start: int, end: int) -> int:
    """Where the header block starting at ``start`` ends (feedparser's header loop)."""
    if _HEADER_START.match(raw, start, end) is None:
        return start
    found = _NOT_HEADER_NEXT.search(raw, start, end)
    stop = found.start() + 1 if found else end
    if raw.count(b"\r", start, stop) != raw.count(b"\r\n", start, stop):
        return _HEADER_BLOCK.match(raw, start, end).end()  # type: ignore[union-attr]
    return stop


def _blank_line(raw: bytes, pos: int, end: int) -> tuple[int, int] | None:
    """(start, end) of the first empty line in raw[pos:end]; ``pos`` is a line start."""
    if pos < end and raw[pos] in b"\r\n":
        return pos, pos + (2 if raw.startswith(b"\r\n", pos) and pos + 2 <= end else 1)
    found = _BLANK_AFTER.search(raw, pos, end)
    return found.span(found.lastindex or 0) if found else None


def _put(msg: Message, payload: object) -> None:
    """Set the payload as feedparser does (``set_payload`` without a charset)."""
    vars(msg)["_payload"] = payload


def _strip_eol(text: str) -> str:
    """``text`` without its last line end (feedparser's NLCRE_eol)."""
    if text.endswith("\n"):
        return text[:-2] if text.endswith("\r\n") else text[:-1]
    return text[:-1] if text.endswith("\r") else text


class _Boundary:
    """Finds the lines ``--boundary`` / ``--boundary--`` (trailing blanks allowed), as
    feedparser's boundary regex does line by line, with ``bytes.find``: a regex starting
    with a line-start look-behind would be tried at every offset."""

    __slots__ = ("sep",)

    def __init__(self, boundary: str) -> None:
        self.sep = b"--" + boundary.encode("ascii", "surrogateescape")

    def at(self, raw: bytes, index: int, end: int) -> tuple[int, bool] | None:
        """(end of the boundary line, is it the close boundary) for a match at ``index``."""
        if index and raw[index - 1] not in b"\r\n":
            return None
        after = index + len(self.sep)
        close = raw.startswith(b"--", after) and after + 2 <= end
        after += 2 if close else 0
        while after < end and raw[after] in b" \t":
            after += 1
        if after >= end:
            return end, close
        if raw[after] == 10:  # "\n"
            return after + 1, close
        if raw[after] == 13:  # "\r" or "\r\n"
            return after + (2 if after + 1 < end and raw[after + 1] == 10 else 1), close
        return None

    def search(self, raw: bytes, pos: int, end: int) -> tuple[int, int, bool] | None:
        """(start, end, is_close) of the first boundary line in raw[pos:end]."""
        index = raw.find(self.sep, pos, end)
        while index >= 0:
            found = self.at(raw, index, end)
            if found is not None:
                return index, found[0], found[1]
            index = raw.find(self.sep, index + 1, end)
        return None


class _Parser:
    """One parse of one byte string; ``cuts`` collects the leaf bodies that were cut."""

    def __init__(self, raw: bytes, max_leaf: int) -> None:
        self.raw = raw
        self.max_leaf = max_leaf
        self.cuts: list[str] = []

    def message(self, start: int, end: int, default: str, depth: int) -> tuple[Message, Message]:
        """(the message in raw[start:end], the message whose trailing line end a following
        boundary owns — feedparser's ``_last``)."""
        msg = ParsedMessage()
        if default != "text/plain":
            msg.set_default_type(default)
        pos, prefix = self.headers(msg, start, end)
        if prefix:  # feedparser pushes a last "From " header line back into the body
            body = _Parser(prefix.encode("ascii", "surrogateescape") + self.raw[pos:end],
                           self.max_leaf)
            last = body.body(msg, 0, len(body.raw), depth)
            self.cuts.extend(body.cuts)
            return msg, last
        return msg, self.body(msg, pos, end, depth)

    def body(self, msg: Message, pos: int, end: int, depth: int) -> Message:
        """Read raw[pos:end] as the body of ``msg``; returns feedparser's ``_last``."""
        if depth > MAX_DEPTH:
            _put(msg, _text(self.raw, pos, end))
            return msg
        ctype = vars(msg)[CTYPE_ATTR] = content_type(msg)
        if ctype == "message/delivery-status":
            return self.status_blocks(msg, pos, end, depth)
        maintype = ctype.partition("/")[0]
        if maintype == "message":
            inner, last = self.message(pos, end, "text/plain", depth + 1)
            _put(msg, [inner])
            return last
        if maintype == "multipart":
            boundary = boundary_of(msg)
            if boundary is not None:
                self.multipart(msg, boundary, pos, end, ctype, depth)
                return msg
        _put(msg, self.leaf(msg, ctype, pos, end))
        return msg

    def headers(self, msg: Message, start: int, end: int) -> tuple[int, str]:
        """Read the header block into ``msg``: the offset where the body starts, and a
        misplaced last ``From `` line that belongs to the body (usually "")."""
        raw = self.raw
        block_end = _header_end(raw, start, end)
        body = block_end
        if block_end < end and raw[block_end] in b"\r\n":  # the separating empty line
            body += 2 if raw.startswith(b"\r\n", block_end) else 1
        if block_end == start:
            return body, ""
        if block_end - start > MAX_HEADER_BLOCK:  # megabytes of header lines: keep the top
            kept = raw.rfind(b"\n", start, start + MAX_HEADER_BLOCK) + 1 or block_end
            self.cuts.append(f"header block cut at {kept - start} of {block_end - start} bytes")
            block_end = kept
        text = _text(raw, start, block_end)
        if _plain_fields(text):
            fields = _FIELD.findall(text)
            if "\r" in text:
                fields = [(name, value[:-1] if value[-1:] == "\r" else value)
                          for name, value in fields]
            vars(msg)["_headers"] = fields
            return body, ""
        lines = _LINE.findall(text)
        current: list[str] = []
        headers: list[tuple[str, str]] = vars(msg)["_headers"]
        for index, line in enumerate(lines):
            if line[0] in " \t":
                if current:
                    current.append(line)
                continue
            if current:
                headers.append(_header(current))
                current = []
            if line.startswith("From "):
                if index == 0:
                    msg.set_unixfrom(_strip_eol(line))
                elif index == len(lines) - 1:  # the body's first line, says feedparser
                    return body, line
                continue
            if line[0] != ":":
                current = [line]
        if current:
            headers.append(_header(current))
        return body, ""

    def leaf(self, msg: Message, ctype: str, start: int, end: int) -> str:
        if end - start > self.max_leaf and not _keep_whole(msg, ctype):
            cut = self.raw.rfind(b"\n", start, start + self.max_leaf) + 1 or start + self.max_leaf
            self.cuts.append(f"{ctype} body cut at {cut - start} of {end - start} bytes")
            end = cut
        return _text(self.raw, start, end)

    def status_blocks(self, msg: Message, pos: int, end: int, depth: int) -> Message:
        """RFC 3464 fields: header blocks separated by one empty line, each a Message."""
        blocks: list[Message] = []
        last = msg
        while True:
            blank = _blank_line(self.raw, pos, end)
            stop = blank[0] if blank else end
            block, last = self.message(pos, stop, "text/plain", depth + 1)
            blocks.append(block)
            if blank is None:
                break
            pos = blank[1]
            if pos >= end:
                break
        _put(msg, blocks)
        return last

    def multipart(  # noqa: PLR0913 - the parts of one multipart body
        self, msg: Message, boundary: str, pos: int, end: int, ctype: str, depth: int
    ) -> None:
        raw = self.raw
        finder = _Boundary(boundary)
        # A line cannot hold a line end: a folded-in boundary never matches (as in feedparser).
        found = None if "\n" in boundary or "\r" in boundary else finder.search(raw, pos, end)
        if found is None or found[2]:  # no start boundary: the whole body is text
            stop = end if found is None else found[0]
            _put(msg, _text(raw, pos, stop))
            msg.epilogue = ""
            return
        if found[0] > pos:
            msg.preamble = _strip_eol(_text(raw, pos, found[0]))
        default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
        cursor = found[1]
        parts: list[Message] = []
        _put(msg, parts)
        while True:
            while cursor < end and raw.startswith(finder.sep, cursor):
                again = finder.at(raw, cursor, end)  # consecutive boundary lines: no part
                if again is None:
                    break
                cursor = again[0]
            following = finder.search(raw, cursor, end)
            stop = following[0] if following else end
            part, last = self.message(cursor, stop, default, depth + 1)
            parts.append(part)
            _give_eol_to_boundary(last)
            if following is None:
                return  # no close boundary: no epilogue
            cursor = following[1]
            if following[2]:
                msg.epilogue = _text(raw, cursor, end)
                return


def _plain_fields(block: str) -> bool:
    """Whether a header block is only ``Name: value`` fields and their folded lines, with
    ``\n`` or ``\r\n`` line ends — then one regex reads it.  A ``From `` envelope line, a
    line starting with ":", a leading folded line or a bare CR take the line-by-line path."""
    return (
        block[0] not in " \t:"
        and not block.startswith("From ")
        and "\nFrom " not in block
        and "\n:" not in block
        and ("\r" not in block or block.count("\r") == block.count("\r\n"))
    )


def _header(lines: list[str]) -> tuple[str, str]:
    """``compat32.header_source_parse``: name, and the value with its folding kept."""
    name, value = lines[0].split(":", 1)
    value = value.lstrip(" \t") + "".join(lines[1:])
    return name, value.rstrip("\r\n")


def _give_eol_to_boundary(last: Message) -> None:
    """RFC 2046: the line end before a boundary belongs to the boundary, not the part."""
    ctype = vars(last).get(CTYPE_ATTR) or content_type(last)
    if ctype.startswith("multipart/"):
        if last.epilogue == "":
            last.epilogue = None
        elif last.epilogue is not None:
            last.epilogue = _strip_eol(last.epilogue)
        return
    payload = vars(last)["_payload"]
    if isinstance(payload, str):
        _put(last, _strip_eol(payload))


def _keep_whole(msg: Message, ctype: str) -> bool:
    """Outlook containers are read from their whole bytes (their directory may be last)."""
    if ctype in _WHOLE_TYPES:
        return True
    name = msg.get_filename() or msg.get_param("name") or ""
    return isinstance(name, str) and name.lower().endswith(_WHOLE_NAMES)


def parse_message(raw: bytes, max_leaf: int = MAX_LEAF) -> Message:
    """The compat32 message tree of ``raw``; leaf bodies over ``max_leaf`` bytes are cut
    (each cut described in ``truncations(msg)``)."""
    parser = _Parser(raw, max_leaf)
    msg, _ = parser.message(0, len(raw), "text/plain", 0)
    if parser.cuts:
        vars(msg)[TRUNCATED_ATTR] = parser.cuts
    return msg


def truncations(msg: Message) -> list[str]:
    """The leaf bodies :func:`parse_message` cut in ``msg`` (empty when none)."""
    return list(vars(msg).get(TRUNCATED_ATTR, ()))
