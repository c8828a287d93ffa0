"""``sink.properties.*`` as sinkapp reads them besides passing them on: the CSV delimiters and the
source columns (:mod:`sinkapp.streamload.encoding` builds the body with them; ``check`` validates them).
"""

from __future__ import annotations

from collections.abc import Mapping

from sinkapp.errors import ConfigError


def parse_delimiter(text: str) -> bytes:
    r"""StarRocks delimiter text → bytes: ``\x01``/``0x0D0A`` hex forms, else UTF-8 (docs/streamload-protocol.md §2, §6.1)."""
    low = text.lower()
    if low.startswith(("\\x", "0x")) and len(text) > 2:
        digits = text[2:]
        if len(digits) % 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ConfigError(f"delimiter {text!r} is not a valid hex form (even number of hex digits)")
        return bytes.fromhex(digits)
    if text == "\\t":
        return b"\t"
    if text == "\\n":
        return b"\n"
    return text.encode("utf-8")


def source_columns(props: Mapping[str, str]) -> list[str] | None:
    """``sink.properties.columns`` without the expression columns (``a, b, tmp, c = tmp * 2`` →
    a, b, tmp), or None when it is not set."""
    cols = props.get("columns")
    return [c.strip().strip("`") for c in cols.split(",") if "=" not in c] if cols else None


def check_sink_properties(props: Mapping[str, str]) -> None:
    """Bad separators or delimiters of a CSV route fail here (``check`` and start-up), not at the first load."""
    if props.get("format", "json").lower() == "csv":
        for key, default in (("column_separator", "\\t"), ("row_delimiter", "\\n")):
            parse_delimiter(props.get(key, default))
