"""Parsing text with a SimpleDateFormat pattern (:meth:`JavaDateFormat.parse`).

Who calls: :mod:`sinkapp.transforms.javadate`, once per pattern to build the regular expression
and once per parsed value. As in Java, a numeric field followed directly by another numeric
field takes exactly its letter count of digits (``yyyyMMdd``), otherwise as many digits as there
are; names match in either length (``Mar`` / ``March``), case-insensitively; a two-digit ``yy``
year is taken within 80 years before and 20 after now. Unlike Java's lenient default, an
out-of-range field (month 13) does not match: the caller then tries ISO-8601.
"""

from __future__ import annotations

import datetime as dt
import re

from sinkapp.transforms.javadate_fields import DAYS, MONTHS, Field, is_numeric


def _names(names: list[str]) -> str:
    return "|".join(sorted({n for full in names for n in (full, full[:3])}, key=len, reverse=True))


_TEXT = {
    "G": "AD|BC",
    "E": _names(DAYS),
    "a": "AM|PM",
    "z": r"UTC|GMT(?:[+-]\d{1,2}:?\d{2})?|Z|Coordinated Universal Time|[+-]\d{2}:?\d{2}",
    "Z": r"[+-]\d{4}|Z",
    "X": r"Z|[+-]\d{2}(?::?\d{2})?",
}


def compile_regex(fields: list[Field]) -> re.Pattern[str]:
    parts = []
    for k, f in enumerate(fields):
        if not f.letter:
            parts.append(re.escape(f.text))
            continue
        group = f"f{k}"
        if is_numeric(f):
            nxt = fields[k + 1] if k + 1 < len(fields) else None
            digits = rf"\d{{{f.width}}}" if nxt is not None and is_numeric(nxt) else r"\d+"
            parts.append(rf"(?P<{group}>-?{digits})" if f.letter == "y" else rf"(?P<{group}>{digits})")
        elif f.letter in "ML":
            parts.append(rf"(?P<{group}>{_names(MONTHS)})")
        else:
            parts.append(rf"(?P<{group}>{_TEXT[f.letter]})")
    return re.compile("".join(parts), re.IGNORECASE)


def _offset(text: str) -> dt.timedelta:
    t = text.upper().removeprefix("GMT").removeprefix("UTC")
    if t in ("", "Z", "COORDINATED UNIVERSAL TIME"):
        return dt.timedelta(0)
    sign = -1 if t[0] == "-" else 1
    digits = t[1:].replace(":", "")
    hours, minutes = int(digits[:-2] or digits), int(digits[-2:]) if len(digits) > 2 else 0
    return sign * dt.timedelta(hours=hours, minutes=minutes)


def _two_digit_year(yy: int) -> int:
    now = dt.datetime.now(dt.UTC)
    year = now.year - now.year % 100 + yy
    if year > now.year + 20:
        year -= 100
    elif year <= now.year - 80:
        year += 100
    return year


def resolve(fields: list[Field], m: re.Match[str]) -> dt.datetime | None:
    """The UTC instant of a match; None when a field is out of range."""
    v = {"year": 1970, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "ms": 0}
    pm: bool | None = None
    hour12 = False
    offset = dt.timedelta(0)
    for k, f in enumerate(fields):
        text = m.group(f"f{k}") if f.letter else None
        if text is None:
            continue
        c = f.letter
        if c == "y":
            n = int(text)
            v["year"] = _two_digit_year(n) if f.width <= 2 and len(text) == 2 else n
        elif c in "ML":
            v["month"] = int(text) if text.isdigit() else \
                [x[:3].lower() for x in MONTHS].index(text[:3].lower()) + 1
        elif c in "zZX":
            offset = _offset(text)
        elif c == "a":
            pm = text.upper() == "PM"
        elif c in "Hk":
            v["hour"] = int(text) % 24
        elif c in "Kh":
            v["hour"], hour12 = int(text) % 12, True
        elif c in "dmsS":
            v[{"d": "day", "m": "minute", "s": "second", "S": "ms"}[c]] = int(text)
    if pm and (hour12 or v["hour"] < 12):
        v["hour"] += 12
    try:
        local = dt.datetime(v["year"], v["month"], v["day"], v["hour"], v["minute"], v["second"], tzinfo=dt.UTC)
    except ValueError:
        return None
    return local + dt.timedelta(milliseconds=v["ms"]) - offset
