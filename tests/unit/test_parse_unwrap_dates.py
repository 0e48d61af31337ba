"""Dates as clients display them in inline forwards (they bound the mail-log search)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ndrtrack.parse.loose_dates import parse_loose_date


def at(*args: int, offset_minutes: int = 0) -> datetime:
    return datetime(*args, tzinfo=timezone(timedelta(minutes=offset_minutes)))


@pytest.mark.parametrize(("text", "expected"), [
    ("Wed, 3 Nov 2021 15:51:30 +0100", at(2021, 11, 3, 15, 51, 30, offset_minutes=60)),
    ("Wed, Oct 27, 2021 at 9:31 AM", at(2021, 10, 27, 9, 31)),
    ("Thursday, March 7, 2013 7:09:41 PM", at(2013, 3, 7, 19, 9, 41)),
    ("Tuesday, November 2, 2021, 09:26:50 AM GMT+1", at(2021, 11, 2, 9, 26, 50,
                                                        offset_minutes=60)),
    ("mar. 2 nov. 2021 à 09:31", at(2021, 11, 2, 9, 31)),
    ("26. října 2021 14:25:08 GMT+3", at(2021, 10, 26, 14, 25, 8, offset_minutes=180)),
    ("26. lokakuuta 2021 klo 14.25.08 UTC+3", at(2021, 10, 26, 14, 25, 8, offset_minutes=180)),
    ("maanantai 1. maaliskuuta 2021 klo 10.00", at(2021, 3, 1, 10, 0)),
    ("четверг, 28 октября 2021 г. в 12:46", at(2021, 10, 28, 12, 46)),
    ("26 października 2021 o 14:25:08 EEST", at(2021, 10, 26, 14, 25, 8, offset_minutes=180)),
    ("terça-feira, 2 de novembro de 2021, 09:26:50 CET", at(2021, 11, 2, 9, 26, 50,
                                                             offset_minutes=60)),
    ("1. August 2011 23:28:15 GMT-07:00", at(2011, 8, 1, 23, 28, 15, offset_minutes=-420)),
    ("2021年10月28日 12:46", at(2021, 10, 28, 12, 46)),
    ("28.10.2021 12:46", at(2021, 10, 28, 12, 46)),
    ("28. 10. 2021 v 12:46", at(2021, 10, 28, 12, 46)),
    ("maandag 28-10-2021 10:00", at(2021, 10, 28, 10, 0)),
    ("02/10/2023 4:52 PM EST", at(2023, 2, 10, 16, 52, offset_minutes=-300)),
    ("2012-10-16 at 17:02", at(2012, 10, 16, 17, 2)),
])
def test_client_dates(text: str, expected: datetime) -> None:
    assert parse_loose_date(text) == expected


@pytest.mark.parametrize("text", ["", "Monday", "soon", "99/99/9999 99:99", "x" * 5000,
                                  "31 February 2021 10:00"])
def test_unreadable_dates_are_none(text: str) -> None:
    assert parse_loose_date(text) is None
