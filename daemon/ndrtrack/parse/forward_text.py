"""Inline forwards: recover the forwarded message from the text a mail client wrote.

When a person presses "Forward" (not "Forward as attachment") the client throws the MIME
structure away and writes the original into the body: an optional separator line, a short
header block, then the original body.  The layouts differ by client and language, e.g.::

    ---------- Forwarded message ---------          (Gmail, HubSpot, in the user's language)
    -------- Forwarded Message --------             (Thunderbird: field, tab, value)
    -----Original Message-----                      (Outlook desktop, translated)
    ________________________________                (Outlook Live / 365: a rule, then fields)
    > Begin forwarded message:                      (Apple Mail: the whole block quoted)
       ----- Forwarded Message ----- From: …To: …Sent: …Subject: …   (Yahoo: one glued line)
    John Doe <john@x> kirjoitti 28/10/2021 12.46:   (a "wrote" line instead of a header block)

The rules below are structural: a header block is a run of ``Label: value`` lines whose labels
belong to the multilingual field vocabulary in :data:`FIELD_LABELS` and which names a sender
plus at least one of date/subject/recipient.  Quote markers (``>``), bold markers (``*From:*``)
and ``[mailto:…]`` / ``<mailto:…>`` decorations are stripped first.  Every scan is a single pass
over at most :data:`MAX_SCAN_LINES` lines with anchored, non-nested patterns, so a hostile body
costs linear time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import overload

MAX_SCAN_LINES = 5000
MAX_LINE = 2000

#: Header-block labels as clients write them, by canonical field (casefolded, without colon).
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "from": (
        "from", "von", "de", "da", "van", "från", "fra", "lähettäjä", "od", "от", "от кого",
        "kimden", "feladó", "afzender", "remitente", "mittente", "expéditeur", "absender",
        "差出人", "发件人", "寄件者", "보낸 사람", "від", "nadawca", "odesílatel",
        "avsändare", "afsender", "de la", "šalje", "pošiljatelj", "pošiljalec", "saatja",
        "nuo", "gönderen", "από", "αποστολέας", "отправитель", "avsender", "מאת", "من",
        "frá", "sender", "dari", "từ", "no", "від кого", "подател", "jakutaja",
    ),
    "to": (
        "to", "an", "à", "a", "para", "aan", "till", "til", "vastaanottaja", "do", "komu",
        "кому", "kime", "címzett", "destinatario", "destinataire", "empfänger", "per",
        "宛先", "收件人", "收件者", "받는 사람", "prima", "pentru", "către", "saaja", "kam",
        "alıcı", "προς", "אל", "إلى", "adressat", "adressaat", "recipient", "recipients",
        "kepada", "đến", "gavėjas", "adresāts", "címzettek", "vastaanottajat", "adresat",
        "adresaci", "za", "до", "per a", "pour",
    ),
    "cc": (
        "cc", "kopie", "kopia", "копия", "kopio", "kopi", "copie", "copia", "dw", "másolat",
        "kópia", "kopija", "копія", "抄送", "副本", "참조", "κοιν", "עותק", "نسخة", "bilgi",
        "cc list", "copie à", "kopie an", "kopie (cc)", "cc (kopie)", "bcc", "blindkopie",
        "kopioi", "másolatot kap", "копие", "tembusan",
    ),
    "date": (
        "date", "sent", "datum", "gesendet", "envoyé", "envoyé le", "enviado", "enviada",
        "data", "inviato", "verzonden", "skickat", "sendt", "lähetetty", "päivämäärä",
        "wysłano", "wysłane", "odesláno", "отправлено", "дата", "tarih", "gönderildi",
        "elküldve", "dátum", "trimis", "dată", "poslano", "poslato", "送信日時", "日付",
        "日期", "发送时间", "發送時間", "寄件日期", "보낸 날짜", "fecha", "sent at",
        "verstuurd", "ημερομηνία", "στάλθηκε", "תאריך", "التاريخ", "tanggal", "dikirim",
        "ngày", "đã gửi", "išsiųsta", "nosūtīts", "odoslané", "gesendet am", "date sent",
        "saadetud", "dato", "päiväys", "надіслано", "изпратено", "enviat", "data d'envio",
    ),
    "subject": (
        "subject", "betreff", "objet", "sujet", "asunto", "assunto", "oggetto", "onderwerp",
        "ämne", "emne", "aihe", "temat", "předmět", "тема", "konu", "tárgy", "predmet",
        "subiect", "件名", "主题", "主旨", "제목", "θέμα", "tema", "נושא", "الموضوع",
        "perihal", "chủ đề", "efni", "teema", "tēma", "zadeva", "относно", "assumpte",
    ),
    "reply-to": (
        "reply-to", "reply to", "antwort an", "répondre à", "responder a", "rispondi a",
        "antwoord aan", "svara till", "svar til", "vastausosoite", "odpowiedź do",
        "odpovědět", "ответить", "ответ", "odgovori", "返信先",
    ),
}

LABEL_FIELD: dict[str, str] = {
    label.casefold(): name for name, labels in FIELD_LABELS.items() for label in labels
}

#: Words that mark a separator line as a forward (vs. an embedded original in a reply).
FORWARD_WORDS = (
    "forward", "weitergeleitet", "transféré", "transfere", "reenviado", "reenvi", "inoltrat",
    "doorgestuurd", "vidarebefordra", "videresend", "välitet", "przekaz", "přeposla",
    "preposla", "přeposílan", "přeposlan", "пересл", "переадрес", "encaminhad",
    "reencaminhad", "転送", "转发", "轉寄", "전달", "proslijeđ", "továbbított",
    "redirecționat", "iletil", "προωθ", "הועבר", "redir", "réexpédié", "edelleenlähet",
    "videresendt", "välitetty", "пересыл", "препратено",
)
ORIGINAL_WORDS = (
    "original", "ursprüngliche", "originale", "oorspronkelijk", "ursprungligt",
    "opprinnelig", "oprindelig", "alkuperäinen", "oryginaln", "původní", "исходное",
    "元のメッセージ", "原始邮件", "원본",
)
#: Verbs of "On <date>, <sender> wrote:" attributions.
WROTE_WORDS = (
    "wrote", "schrieb", "a écrit", "escribió", "ha scritto", "escreveu", "schreef",
    "het volgende geschreven", "geschreven", "skrev", "kirjoitti", "napisał", "napsal",
    "пишет", "написал", "írta", "scrie", "yazdı", "έγραψε", "が書きました", "写道",
)

_QUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?")
_BOLD = re.compile(r"^[*_]{1,2}([^*_:]{1,40}?)[ \t]*:[*_]{1,2}")
_LABEL = re.compile(r"^[ \t]*([^\W\d_][^:：\t\n]{0,30}?)[ \t]*[:：][ \t]*(.*)$")
_MAILTO = re.compile(r"[\[<]mailto:([^\]>\s]{0,320})[\]>]")
_RULE = re.compile(r"^[ \t]*[-_=*~]{8,}[ \t]*$")
_SEPARATOR = re.compile(
    r"^[ \t*]*([-=_~]{2,})[ \t]*([^-=_~\n][^\n]{0,80}?)[ \t]*[-=_~]{2,}[ \t*]*(.*)$"
)
_COLON_INTRO = re.compile(r"^[ \t]*([^\W\d][^:\n]{2,60}?)[ \t]*:[ \t]*$")
_LEAD_WORD = re.compile(r"^(?:on|le|am|el|il giorno|il|em|op|w dniu|den|dne|в|el día)\s+(?=\S)",
                        re.IGNORECASE)
_ADDRESS = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
MAX_LABEL = max(len(label) for label in LABEL_FIELD) + 1
MAX_GLUED_COLONS = 32  # a glued block has a handful of fields (and times have two colons)


@dataclass(frozen=True, slots=True)
class InlineForward:
    """What the text of an inline forward still says about the message it carries."""

    style: str  # forward | original | separator | header-block | wrote | reply
    separator: str = ""
    sender: str = ""
    to: str = ""
    cc: str = ""
    date: str = ""
    subject: str = ""
    reply_to: str = ""
    headers: str = ""  # RFC 5322 header lines pasted with the block (Received:, Message-ID:)
    body: str = ""
    before: str = ""
    quoted: bool = False


def _clean(line: str) -> tuple[str, bool]:
    """Drop quote markers, bold markers and mailto decorations; return (text, was_quoted)."""
    line = line[:MAX_LINE].replace("\u00a0", " ").replace("\ufeff", "").rstrip("\r")
    quoted = False
    m = _QUOTE.match(line)
    if m:
        line, quoted = line[m.end():], True
    b = _BOLD.match(line)
    if b:
        line = b.group(1) + ":" + line[b.end():]
    if "mailto:" in line:
        line = _MAILTO.sub(_mailto, line)
    return line.strip(), quoted


def _mailto(m: re.Match[str]) -> str:
    """``Name [mailto:a@b]`` → ``Name <a@b>``; ``a@b<mailto:a@b>`` → ``a@b`` (Outlook text)."""
    target = m.group(1)
    before = m.string[max(0, m.start() - len(target)):m.start()]
    return "" if before.rstrip().endswith(target) else f" <{target}>"


def _field(text: str) -> tuple[str, str] | None:
    m = _LABEL.match(text)
    if m is None:
        return None
    name = LABEL_FIELD.get(m.group(1).strip(" *").casefold())
    return (name, m.group(2).strip(" *")) if name else None


def _separator_kind(text: str) -> str:
    """'forward' / 'original' for separator or intro lines, '' for anything else."""
    low = text.casefold()
    if _RULE.match(text):
        return "original"
    sep = _SEPARATOR.match(text)
    intro = _COLON_INTRO.match(text)
    if sep is None and intro is None:
        return ""
    words = (sep.group(2) if sep is not None else intro.group(1) if intro is not None else "")
    words = words.casefold()
    if any(w in words for w in FORWARD_WORDS):
        return "forward"
    if any(w in words for w in ORIGINAL_WORDS) or ("message" in low and sep is not None):
        return "original"
    return "separator" if sep is not None else ""


def _glued_fields(text: str) -> list[tuple[str, str]]:
    """Split a Yahoo-style one-line header block ("From: a <x@y>To: b …Subject: s").

    Each colon is a candidate: the longest known label that ends right before it (and does
    not continue a lower-case word, so "…com>To:" counts but "Praga:" does not) opens a field.
    Dictionary look-ups at the first few colons keep this linear in the line length.
    """
    marks: list[tuple[int, int, str]] = []  # (label start, value start, field)
    colons = [i for i, ch in enumerate(text) if ch in ":："][:MAX_GLUED_COLONS]
    for colon in colons:
        for size in range(min(MAX_LABEL, colon), 0, -1):
            label = text[colon - size:colon].rstrip()
            start = colon - size
            name = LABEL_FIELD.get(label.casefold())
            if name and label[:1].isalpha() and not (start and text[start - 1].islower()):
                marks.append((start, colon + 1, name))
                break
    fields = []
    for i, (_start, value_start, name) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        fields.append((name, text[value_start:end].strip()))
    return fields


def _acceptable(fields: dict[str, str]) -> bool:
    return "from" in fields and any(k in fields for k in ("date", "subject", "to"))


Lines = Sequence[tuple[str, bool]]  # (cleaned text, was quoted) per line


@dataclass
class _Block:
    start: int
    end: int  # first line after the block
    fields: dict[str, str]


def _read_block(lines: Lines, start: int) -> _Block | None:
    """Read a header block starting at ``start``; tolerate one stray blank/continuation line."""
    fields: dict[str, str] = {}
    last = ""
    i, end, gap = start, start, 0
    while i < len(lines) and i - start < 40:
        text = lines[i][0]
        hit = _field(text)
        if hit and hit[0] not in fields:
            value = hit[1]
            if not value and i + 1 < len(lines) and lines[i + 1][0] and not _next_is_field(
                    lines, i + 1):
                i, value = i + 1, lines[i + 1][0]  # "From:" and its value on the next line
            fields[hit[0]] = value
            last, end, gap = hit[0], i + 1, 0
        elif hit:
            break
        elif not text:
            gap += 1
            if gap > 2:
                break
        elif last and gap == 0 and _LABEL.match(text) and _next_is_field_or_blank(lines, i + 1):
            end = i + 1  # a field we do not use (Importance:, Attachments:, …)
        elif last and gap == 0 and _next_is_field(lines, i + 1):
            fields[last] = f"{fields[last]} {text}".strip()  # a wrapped value
            end = i + 1
        else:
            break
        i += 1
    return _Block(start, end, fields) if _acceptable(fields) else None


def _next_is_field(lines: Lines, i: int) -> bool:
    return i < len(lines) and _field(lines[i][0]) is not None


def _next_is_field_or_blank(lines: Lines, i: int) -> bool:
    return i >= len(lines) or not lines[i][0] or _field(lines[i][0]) is not None


def _wrote_line(text: str) -> dict[str, str] | None:
    """"On Tue, 1 Jan 2019, John <j@x> wrote:" and its translations → sender and date."""
    if not text.endswith(":") or len(text) > 400:
        return None
    low = text.casefold()
    verb = next((w for w in WROTE_WORDS if w in low), None)
    addr = _ADDRESS.search(text)
    if verb is None or addr is None:
        return None
    sender = _sender_around(text, addr.start(), addr.end())
    rest = (text[: text.find(sender)] + " " + text[text.find(sender) + len(sender):]).strip()
    idx = rest.casefold().find(verb)
    date = (rest[:idx] + rest[idx + len(verb):]) if idx >= 0 else rest
    return {"from": sender, "date": _LEAD_WORD.sub("", date.strip(" ,:\t")).strip(" ,")}


_GROUPWISE = re.compile(r"^[ \t]*>>>[ \t]*(.{3,200}?)[ \t]*>>>[ \t]*$")


def _groupwise(raw_line: str) -> dict[str, str] | None:
    """GroupWise: ``>>> John Doe <j@x.org> 01.02.2024 10:00 >>>`` opens the original."""
    m = _GROUPWISE.match(raw_line[:MAX_LINE])
    if m is None:
        return None
    addr = _ADDRESS.search(m.group(1))
    if addr is None:
        return None
    sender = _sender_around(m.group(1), addr.start(), addr.end())
    return {"from": sender, "date": m.group(1).replace(sender, " ").strip(" ,")}


def _attribution(text: str) -> dict[str, str] | None:
    """"28.10.2021, 12:46, "John" <j@x>:" right under a separator (Yandex, Mail.ru style)."""
    if not text.endswith(":") or len(text) > 300:
        return None
    addr = _ADDRESS.search(text)
    if addr is None:
        return None
    sender = _sender_around(text, addr.start(), addr.end())
    date = text.replace(sender, " ").strip(" ,:\t")
    return {"from": sender, "date": date}


def _sender_around(text: str, start: int, end: int) -> str:
    """The address with the display name written just before it (quoted or plain)."""
    if start > 0 and text[start - 1] == "<":
        close = text.find(">", end)
        end = close + 1 if close > 0 else end
        start -= 1
        head = text[:start].rstrip()
        if head.endswith('"'):
            open_q = head.rfind('"', 0, len(head) - 1)
            return text[open_q if open_q >= 0 else 0:end].strip()
        words = head.split(",")[-1].split()
        name = [w for w in words[-4:] if w[:1].isupper() or not w.isascii()]
        return (" ".join(name) + " " + text[start:end]).strip()
    return text[start:end]


def find_forward(text: str, *, outer_subject: str = "") -> InlineForward | None:
    """Find the first inline-forwarded message in ``text``; ``None`` if the text has none."""
    raw = text.splitlines()[:MAX_SCAN_LINES]
    lines = _CleanLines(raw)
    for i in _candidate_lines(raw):
        line, quoted = lines[i]
        if not line:
            continue
        found = _forward_at(lines, raw, i, line)
        if found is not None:
            if found[0] == "wrote" and any(text for text, _ in lines[:i]):
                found = ("reply", *found[1:])  # attribution below the writer's own text
            return _build(found, raw, lines, i, quoted, outer_subject)
    return None


#: What every way of opening a forward needs on its line (see :func:`_candidate_lines`): a
#: colon (fields, intros, "wrote:" lines), GroupWise's ``>>>``, two rule characters
#: (separators and rules), or a BOM, whose removal by :func:`_clean` could join two of them.
#: Written as one character class first (the engine scans for it at a few ns per character;
#: the plain alternation tried each branch at every offset, 6x slower), then look-behinds say
#: which branch it was; the rest of the line is consumed so each line is reported once.
_MAY_OPEN = re.compile(
    r"[-:\uff1a\ufeff>=_~*](?:(?<=[:\uff1a\ufeff])|(?<=>)>>|(?<=[-=_~*])[-=_~*])[^\n]*"
)


def _candidate_lines(raw: list[str]) -> list[int]:
    """The line numbers where :func:`_forward_at` can find something, in order.

    A line qualifies if it holds one of :data:`_MAY_OPEN`'s marks, and so does the line before
    a line with a colon (a "wrote" attribution wrapped over two lines).  One regex pass over
    the joined text finds them, so an ordinary line costs no Python work at all: a plain body
    of many MB is rejected at the speed of the regex engine.
    """
    joined = "\n".join(raw)
    found: set[int] = set()
    line, pos = 0, 0
    for m in _MAY_OPEN.finditer(joined):
        line += joined.count("\n", pos, m.start())
        pos = m.start()
        found.add(line)
        if line:
            found.add(line - 1)
    return sorted(found)


class _CleanLines(Sequence[tuple[str, bool]]):
    """``[_clean(line) for line in raw]``, computed for the lines that are actually read.

    Most lines of a long text are never looked at (see :func:`_candidate_lines`); the whole
    list is only cleaned for the body of a forward that was found.
    """

    def __init__(self, raw: list[str]) -> None:
        self._raw = raw
        self._done: list[tuple[str, bool] | None] = [None] * len(raw)

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, i: int) -> tuple[str, bool]: ...

    @overload
    def __getitem__(self, i: slice) -> list[tuple[str, bool]]: ...

    def __getitem__(self, i: int | slice) -> tuple[str, bool] | list[tuple[str, bool]]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self._raw)))]
        done = self._done[i]
        if done is None:
            done = self._done[i] = _clean(self._raw[i])
        return done


Found = tuple[str, str, dict[str, str], int]  # style, separator, fields, first body line


def _forward_at(lines: Lines, raw: list[str], i: int, line: str) -> Found | None:
    """(style, separator, fields, body_start) when a forward begins at line ``i``."""
    groupwise = _groupwise(raw[i])
    if groupwise is not None:
        return "forward", raw[i].strip(), groupwise, i + 1
    kind = _separator_kind(line)
    if kind:
        return _after_separator(kind, line, lines, i)
    if _field(line) is not None:
        block = _read_block(lines, i)
        if block and len(block.fields) >= 2:
            return "header-block", "", block.fields, block.end
        return None
    wrote = _wrote_line(line)
    if wrote is None and i + 1 < len(lines) and lines[i + 1][0] and len(line) < 200:
        joiner = "" if line.endswith(("<", "(")) else " "
        wrote = _wrote_line(f"{line}{joiner}{lines[i + 1][0]}")
        if wrote is not None:
            return "wrote", "", wrote, i + 2
    if wrote is not None:
        return "wrote", "", wrote, i + 1
    return None


def _after_separator(kind: str, line: str, lines: Lines, i: int) -> Found | None:
    """What follows a separator line: glued fields, a header block, an attribution line —
    or, under an explicit forward marker, just the forwarded text (a pasted NDR)."""
    glued = _glued_fields(line) if len(line) > 30 else []
    if glued and _acceptable(dict(glued)):
        return kind, line, dict(glued), i + 1
    j = i + 1
    while j < len(lines) and j - i < 4 and not lines[j][0]:
        j += 1
    block = _read_block(lines, j)
    if block:
        return kind, line, block.fields, block.end
    attribution = _attribution(lines[j][0]) if j < len(lines) else None
    if attribution is not None:
        return kind, line, attribution, j + 1
    if kind != "forward" or j >= len(lines):
        return None
    named = _ADDRESS.search(line)  # mutt: "----- Forwarded message from A <a@x> -----"
    sender = _sender_around(line, named.start(), named.end()) if named else ""
    return kind, line, {"from": sender} if sender else {}, j


def _build(found: Found, raw: list[str], lines: Lines, start: int, quoted: bool,
           outer_subject: str) -> InlineForward:
    style, sep, fields, body_start = found
    body = _body(lines, body_start)
    subject = fields.get("subject", "") or strip_forward_prefix(outer_subject)
    return InlineForward(
        style=style,
        separator=sep,
        sender=fields.get("from", ""),
        to=fields.get("to", ""),
        cc=fields.get("cc", ""),
        date=fields.get("date", ""),
        subject=subject,
        reply_to=fields.get("reply-to", ""),
        headers=_pasted_headers(raw, start, body_start) if style == "header-block" else "",
        body=body,
        before="\n".join(raw[:start]).strip(),
        quoted=quoted,
    )


_HEADERISH = re.compile(r"^(?:[!-9;-~]{1,76}:[ \t]|[ \t]+\S)")
_TRACE = re.compile(r"^(?:Received|Return-Path|Message-ID|DKIM-Signature|X-Originating-IP):",
                    re.IGNORECASE | re.MULTILINE)


def _pasted_headers(raw: list[str], start: int, end: int) -> str:
    """Full original headers pasted as text (a "show original" copy) around the block.

    Kept only when they hold trace fields, because then they carry what the short block
    lacks: the ``Received:`` chain and the Message-ID that the logs can be searched for.
    """
    first = start
    while first > 0 and start - first < 200 and _HEADERISH.match(_QUOTE.sub("", raw[first - 1])):
        first -= 1
    text = "\n".join(_QUOTE.sub("", line).rstrip() for line in raw[first:end])
    return text if _TRACE.search(text) else ""


def _body(lines: Lines, start: int) -> str:
    """The forwarded body: quote markers removed, leading blank lines skipped."""
    out = [text for text, _ in lines[start:]]
    first = next((k for k, text in enumerate(out) if text), len(out))  # not pop(0): linear
    return "\n".join(out[first:]).rstrip()


_PREFIX = re.compile(
    r"^(?:[ \t]*(?:fwd?|fw|wg|tr|rv|i|vs|vl|vb|pd|enc|doorst|videresend|redir\.?|re|aw|sv|"
    r"odp|ant|antw|rif|r|res|ynt|пересл|отв|转发|回复|答复|轉寄|[\w]{1,3})"
    r"(?:\[\d+\])?[ \t]*[:：])+",
    re.IGNORECASE,
)


def strip_forward_prefix(subject: str) -> str:
    """"FW: WG: Subject" → "Subject" (the forward's subject is the original's plus prefixes)."""
    return _PREFIX.sub("", subject, count=1).strip()


_HTML_SPACE = re.compile(r"[ \t\r\n]+")


class _Text(HTMLParser):
    """HTML → text good enough for finding header blocks (block tags become line breaks)."""

    BLOCK = frozenset({"br", "p", "div", "tr", "li", "hr", "blockquote", "h1", "h2", "h3",
                       "table", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")
        self.pre += tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")
        if tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if not self.skip:  # source line breaks are spaces in HTML (except inside <pre>)
            self.parts.append(data if self.pre else _HTML_SPACE.sub(" ", data))


def html_to_text(markup: str) -> str:
    """Strip tags; keep line structure so header blocks stay one field per line."""
    parser = _Text()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser is lenient; keep whatever was read
        pass
    text = "".join(parser.parts)
    text = "\n".join(line.strip(" \t\r\f\v") for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()
