"""Dates as mail clients print them in forwards, in many languages.

An inline forward keeps the original's date only as the client displayed it::

    Wed, Oct 27, 2021 at 9:31 AM            (Gmail, English)
    mer. 27 oct. 2021 à 09:31               (Gmail, French)
    26. října 2021 14:25:08 GMT+3           (Apple Mail, Czech)
    torstaina 28. lokakuuta 2021 klo 12.06  (Outlook, Finnish)
    28/10/2021 12:46 ; 2021年10月28日 12:46 ; Tuesday, November 2, 2021, 09:26:50 AM GMT+1

That date bounds the search in the mail logs, so it is worth reading.  The reader is a small
tokenizer, not a grammar: it finds a month (a name by its stem in the languages below, or
numeric), a day, a four-digit year, a time (``:`` or ``.``, with AM/PM) and a zone (``+0100``,
``GMT+3``, ``UTC+1``, ``CET`` …).  Numeric dates are day-first unless the day-first reading is
impossible or the text uses AM/PM (a US client).  Without a zone the time is taken as UTC.
Everything is anchored and bounded; unreadable text gives ``None``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

#: Month stems (casefolded prefixes), longest first when looked up.  Languages: en de fr es
#: it pt nl sv da no fi pl cs ru hu ro tr.  Conflicting stems are left out.
MONTH_STEMS: dict[str, int] = {}
for _month, _stems in enumerate((
    "jan janv januar ene gen ian sty led янв tammi ocak gennaio enero",
    "feb febr fév févr fev lut úno фев helmi şub şubat",
    "mar mär mrz mars marc márc maa maalis bře břez мар mart",
    "apr avr abr kwi dub апр huhti ápr nis nisan",
    "may mai mei maj mag máj kvě květ мая май touko mayıs",
    "jun juin giu iun jún июн kesä červen června czerw haz haziran",
    "jul juil lug iul júl июл heinä červenec července lip lipca tem temmuz",
    "aug août ago sie srp авг elo ağu ağustos",
    "sep sept set wrz zář сен syys eyl eylül szept",
    "oct okt ott out paź říj окт loka ekim",
    "nov noi lis лист ноя marras kas kasım",
    "dec dez déc dic gru pro дек joulu ara aralık",
), start=1):
    for _stem in _stems.split():
        MONTH_STEMS[_stem.casefold()] = _month
_STEMS_BY_LENGTH = sorted(MONTH_STEMS, key=len, reverse=True)

ZONES = {"gmt": 0, "utc": 0, "ut": 0, "z": 0, "wet": 0, "bst": 60, "west": 60, "cet": 60,
         "cest": 120, "met": 60, "mest": 120, "eet": 120, "eest": 180, "msk": 180,
         "est": -300, "edt": -240, "cst": -360, "cdt": -300, "mst": -420, "mdt": -360,
         "pst": -480, "pdt": -420, "jst": 540, "kst": 540, "ist": 330, "aest": 600}

MAX_TEXT = 200
_WORD = re.compile(r"[^\W\d_]+")
_TIME = re.compile(r"(?<![\d.])(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?![\d.]*\d{4})"
                   r"(?:\s*([ap])\.?\s?m\.?(?![a-z]))?", re.IGNORECASE)
_NUMERIC = re.compile(  # a dotted date needs a 4-digit year, else "14.25.08" is a time
    r"(?<!\d)(\d{1,4})(?:([/-]) ?(\d{1,2})\2 ?(\d{4}|\d{2})|\. ?(\d{1,2})\. ?(\d{4}))(?!\d)")
_RFC5322 = re.compile(r"^(?:[A-Za-z]{3}, ?)?\d{1,2} [A-Za-z]{3} \d{2,4} \d{1,2}:\d{2}(?::\d{2})?"
                      r"(?: [+-]\d{4}| [A-Z]{1,5})?(?: \(.{0,40}\))?$")
_CJK = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_OFFSET = re.compile(r"(?:gmt|utc)?\s*([+-])(\d{1,2})(?::?(\d{2}))?(?!\d)", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_DAY = re.compile(r"(?<![\d:.])(\d{1,2})(?![\d:])")


def parse_loose_date(text: str) -> datetime | None:
    """A timezone-aware datetime from a client-displayed date, or ``None``."""
    text = " ".join(text.split())[:MAX_TEXT]
    if not text:
        return None
    strict = None
    if _RFC5322.match(text):  # parsedate is lenient: it would read "7:09 PM" as 07:09
        try:
            strict = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            strict = None
    if strict is not None:
        return strict if strict.tzinfo else strict.replace(tzinfo=UTC)
    found = _date_part(text)
    if found is None:
        return None
    (year, month, day), rest = found
    hour, minute, second, rest = _time_part(rest)
    try:
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return naive.replace(tzinfo=_zone(rest))


def _date_part(text: str) -> tuple[tuple[int, int, int], str] | None:
    """((year, month, day), text without the date) from the CJK, numeric or named form."""
    cjk = _CJK.search(text)
    if cjk:
        y, m, d = (int(x) for x in cjk.groups())
        return (y, m, d), text[:cjk.start()] + " " + text[cjk.end():]
    numeric = _NUMERIC.search(text)
    if numeric:
        return _numeric(numeric, text), text[:numeric.start()] + " " + text[numeric.end():]
    return _named(text)


def _numeric(m: re.Match[str], text: str) -> tuple[int, int, int]:
    first, sep = m.group(1), m.group(2) or "."
    a, b, c = int(first), int(m.group(3) or m.group(5)), int(m.group(4) or m.group(6))
    if len(first) == 4:
        return a, b, c  # ISO 2021-10-28
    year = c + 2000 if c < 100 else c
    us = sep == "/" and re.search(r"\d\s*[ap]\.?\s?m\b", text, re.IGNORECASE) is not None
    if a > 12 or (not us and b <= 12):
        return year, b, a  # day first
    return year, a, b


def _named(text: str) -> tuple[tuple[int, int, int], str] | None:
    """The last month name wins: weekdays come first and some share a stem ("mar." for
    mardi, "maa-" for maandag/maanantai)."""
    month, rest = 0, text
    for word in _WORD.finditer(text.casefold()):
        found = _month_of(word.group(0))
        if found:
            month, rest = found, text[:word.start()] + " " + text[word.end():]
    if not month:
        return None
    year = _YEAR.search(rest)
    if year is None:
        return None
    rest = rest[:year.start()] + " " + rest[year.end():]
    day = next((int(d.group(1)) for d in _DAY.finditer(rest) if 1 <= int(d.group(1)) <= 31
                and not _TIME.match(rest, d.start())), None)
    if day is None:
        return None
    return (int(year.group(1)), month, day), rest


def _month_of(word: str) -> int:
    if len(word) < 3:
        return 0
    return next((MONTH_STEMS[s] for s in _STEMS_BY_LENGTH if word.startswith(s)), 0)


def _time_part(text: str) -> tuple[int, int, int, str]:
    m = _TIME.search(text)
    if m is None:
        return 0, 0, 0, text
    hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if m.group(4):
        hour = hour % 12 + (12 if m.group(4).lower() == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return 0, 0, 0, text
    return hour, minute, second, text[:m.start()] + " " + text[m.end():]


def _zone(text: str) -> timezone:
    offset = _OFFSET.search(text)
    if offset is not None:
        sign = -1 if offset.group(1) == "-" else 1
        hours = offset.group(2)
        minutes = int(offset.group(3) or 0)
        if len(hours) <= 2 and int(hours) <= 14:
            return timezone(sign * timedelta(hours=int(hours), minutes=minutes))
    for word in _WORD.finditer(text.casefold()):
        if word.group(0) in ZONES:
            return timezone(timedelta(minutes=ZONES[word.group(0)]))
    return UTC
