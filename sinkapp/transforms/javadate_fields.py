"""The pieces of a SimpleDateFormat pattern shared by formatting (javadate) and parsing (javadate_parse)."""

from __future__ import annotations

from typing import NamedTuple

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NUMERIC = set("yMLdDuHkKhmsS")


class Field(NamedTuple):
    letter: str          # "" for literal text
    width: int
    text: str = ""


def is_numeric(f: Field) -> bool:
    return bool(f.letter) and f.letter in NUMERIC and not (f.letter in "ML" and f.width >= 3)
