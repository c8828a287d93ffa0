"""``java.text.SimpleDateFormat`` patterns, formatted and parsed in UTC as Kafka Connect does.

Who calls: :mod:`sinkapp.transforms.timestamp` (TimestampConverter's ``format``), once per route
to compile the pattern (:class:`JavaDateFormat`), then per record to format or parse. Kafka
Connect's TimestampConverter builds ``new SimpleDateFormat(format)`` with the UTC time zone; this
module gives the same text for the same instant (English names, as the default locale of a
Connect worker usually has them).

Supported letters (a letter Java knows but this module does not, and a letter Java refuses, are
a :class:`~sinkapp.errors.ConfigError` naming it):

======  ==========================  ===================================================
letter  meaning                     output (count = how many times the letter repeats)
======  ==========================  ===================================================
G       era                         ``AD``
y       year                        ``yy``: two digits; else the year padded to count
M, L    month                       1-2: number (padded); 3: ``Mar``; 4+: ``March``
d       day of month                padded to count
D       day of year                 padded to count
E       day name                    1-3: ``Tue``; 4+: ``Tuesday``
u       day of week (1 = Monday)    padded to count
a       AM/PM marker                ``AM`` / ``PM``
H       hour 0-23                   padded to count
k       hour 1-24                   padded to count
K       hour 0-11                   padded to count
h       hour 1-12                   padded to count
m       minute                      padded to count
s       second                      padded to count
S       millisecond                 the milliseconds (0-999) padded to count: ``SSS`` →
                                    ``045``; ``S`` → ``45`` (a number, not a fraction)
z       time zone                   1-3: ``UTC``; 4+: ``Coordinated Universal Time``
Z       RFC 822 zone                ``+0000``
X       ISO 8601 zone               ``Z`` (1-3 letters; 4+ is refused, as by Java)
'…'     quoted text                 the text; ``''`` is one quote
======  ==========================  ===================================================
"""

from __future__ import annotations

import datetime as dt
import re

from sinkapp.errors import ConfigError
from sinkapp.transforms.javadate_fields import DAYS, MONTHS, Field
from sinkapp.transforms.javadate_parse import compile_regex, resolve

_UTC = dt.UTC
_MONTHS, _DAYS = MONTHS, DAYS
_SUPPORTED = set("GyMLdDEuaHkKhmsSzZX")
#: letters SimpleDateFormat knows that are not supported here
_JAVA_ONLY = {"Y": "week year", "w": "week in year", "W": "week in month", "F": "day of week in month"}


def tokenize(pattern: str) -> list[Field]:
    """The pattern as fields and literal text; a ConfigError for a letter that is not supported."""
    out: list[Field] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            text, i = _quoted(pattern, i)
            out.append(Field("", 0, text))
            continue
        if c.isascii() and c.isalpha():
            j = i
            while j < n and pattern[j] == c:
                j += 1
            _check_letter(pattern, c, j - i)
            out.append(Field(c, j - i))
            i = j
            continue
        out.append(Field("", 0, c))
        i += 1
    return out


def _quoted(pattern: str, i: int) -> tuple[str, int]:
    """The text of the quote starting at ``pattern[i]`` and the index after it (``''`` = ``'``)."""
    if pattern[i + 1:i + 2] == "'":
        return "'", i + 2
    text: list[str] = []
    j, n = i + 1, len(pattern)
    while True:
        if j >= n:
            raise ConfigError(f"format={pattern!r} has an unterminated quote (Java refuses it too)")
        if pattern[j] == "'":
            if pattern[j + 1:j + 2] != "'":
                return "".join(text), j + 1
            j += 1
        text.append(pattern[j])
        j += 1


def _check_letter(pattern: str, c: str, count: int) -> None:
    if c in _JAVA_ONLY:
        raise ConfigError(f"format={pattern!r}: the letter {c!r} ({_JAVA_ONLY[c]}) is not supported by sinkapp; "
                          "supported: G y M L d D E u a H k K h m s S z Z X and 'quoted text'")
    if c not in _SUPPORTED:
        raise ConfigError(f"format={pattern!r}: {c!r} is not a java.text.SimpleDateFormat letter (Java refuses "
                          f"it too); quote literal text, e.g. '{c}'")
    if c == "X" and count > 3:
        raise ConfigError(f"format={pattern!r}: X takes 1 to 3 letters (ISO 8601 zone), as in Java")


def _pad(v: int, count: int) -> str:
    return str(v).zfill(count)


def _format_field(f: Field, ts: dt.datetime) -> str:
    c, n = f.letter, f.width
    if c == "G":
        return "AD"
    if c == "y":
        return _pad(ts.year % 100, 2) if n == 2 else _pad(ts.year, n)
    if c in "ML":
        return _pad(ts.month, n) if n < 3 else _MONTHS[ts.month - 1][:3] if n == 3 else _MONTHS[ts.month - 1]
    if c == "E":
        day = _DAYS[ts.weekday()]
        return day[:3] if n < 4 else day
    if c == "a":
        return "AM" if ts.hour < 12 else "PM"
    if c == "z":
        return "UTC" if n < 4 else "Coordinated Universal Time"
    if c == "Z":
        return "+0000"
    if c == "X":
        return "Z"
    value = {"d": ts.day, "D": ts.timetuple().tm_yday, "u": ts.isoweekday(), "H": ts.hour,
             "k": ts.hour or 24, "K": ts.hour % 12, "h": ts.hour % 12 or 12, "m": ts.minute,
             "s": ts.second, "S": ts.microsecond // 1000}[c]
    return _pad(value, n)


class JavaDateFormat:
    """A compiled SimpleDateFormat pattern: ``format(ts)`` and ``parse(text)``, both in UTC."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.fields = tokenize(pattern)
        self._regex: re.Pattern[str] | None = None

    def format(self, ts: dt.datetime) -> str:
        """``ts`` (aware, or naive taken as UTC) as the pattern's text in UTC."""
        if ts.tzinfo is not None:
            ts = ts.astimezone(_UTC)
        return "".join(f.text if not f.letter else _format_field(f, ts) for f in self.fields)

    def parse(self, text: str) -> dt.datetime | None:
        """The aware UTC instant ``text`` names, or None when it does not match the pattern.
        Fields the pattern lacks default as in Java (1970-01-01 00:00:00.000 UTC)."""
        if self._regex is None:
            self._regex = compile_regex(self.fields)
        m = self._regex.fullmatch(text.strip())
        if m is None:
            return None
        return resolve(self.fields, m)
