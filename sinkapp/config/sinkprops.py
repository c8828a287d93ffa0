"""``sink.properties.*`` as sinkapp reads them besides passing them on: the body format, its
compression, the CSV delimiters and the source columns (:mod:`sinkapp.streamload.encoding` builds the
body with them; ``check`` validates them).

Compression (docs/streamload-protocol.md §2): StarRocks takes a compressed JSON body with the
``compression`` header (GZIP, BZIP2, LZ4_FRAME, ZSTD; v3.2.7+) and a compressed CSV body through the
``format`` header itself (``gzip``, ``bzip2``, ``lz4``, ``zstd``; ``lz4`` is an LZ4 frame). sinkapp
takes ``sink.properties.compression`` for both: a JSON route sends it as the ``compression`` header,
a CSV route as ``format=<compressed CSV value>`` without a ``compression`` header. A CSV route may
also say ``format=gzip`` (etc.) directly, as StarRocks takes it. Either way the body is compressed
as the headers say (:mod:`sinkapp.streamload.compress`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

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


#: ``sink.properties.compression`` values (case-insensitive, as StarRocks takes them)
CODECS = ("lz4_frame", "zstd", "gzip", "bzip2")
#: StarRocks' compressed-CSV ``format`` values sinkapp compresses for → codec (``deflate`` is not one:
#: StarRocks' JSON compression has no DEFLATE, so a route that needs it is better served by gzip)
CSV_FORMATS = {"gzip": "gzip", "bzip2": "bzip2", "lz4": "lz4_frame", "zstd": "zstd"}
#: codec → the ``format`` header of a compressed CSV body
CSV_FORMAT_OF = {codec: fmt for fmt, codec in CSV_FORMATS.items()}
#: every ``sink.properties.format`` value sinkapp takes
BODY_FORMATS = ("json", "csv", *CSV_FORMATS)


def body_format(props: Mapping[str, str]) -> str:
    """``json`` or ``csv`` (a compressed-CSV ``format`` such as ``gzip`` is CSV)."""
    fmt = props.get("format", "json").strip().lower()
    return "csv" if fmt == "csv" or fmt in CSV_FORMATS else "json"


def compression(props: Mapping[str, str]) -> str | None:
    """The codec a route's bodies are compressed with (one of :data:`CODECS`), or None.

    Raises :class:`ConfigError` naming the key and the allowed values for anything else."""
    fmt = props.get("format", "json").strip().lower()
    value = (props.get("compression") or "").strip()
    if "content-encoding" in props:
        raise ConfigError("sink.properties.content-encoding is not taken: set sink.properties.compression "
                          f"({', '.join(CODECS)}) and sinkapp compresses the body and sends the header")
    if value and value.lower() not in CODECS:
        raise ConfigError(f"sink.properties.compression={value!r} is not allowed; use one of "
                          f"{', '.join(CODECS)} (case-insensitive), or leave it unset for no compression")
    if fmt in CSV_FORMATS:
        if value and value.lower() != CSV_FORMATS[fmt]:
            raise ConfigError(f"sink.properties.format={fmt} is CSV compressed with {CSV_FORMATS[fmt]}, but "
                              f"sink.properties.compression={value}; set one of them (format=csv with "
                              f"compression={value.lower()}, or format={fmt} alone)")
        return CSV_FORMATS[fmt]
    return value.lower() or None


def check_merge_commit(props: Mapping[str, str], delivery_guarantee: str,
                       key_of: Callable[[str], str] = lambda k: f"sink.properties.{k}") -> None:
    """Merge Commit makes StarRocks ignore load labels: refused unless at-least-once is accepted."""
    if props.get("enable_merge_commit", "false").strip().lower() == "true" and delivery_guarantee != "at_least_once":
        raise ConfigError(
            f"{key_of('enable_merge_commit')}=true makes StarRocks ignore load labels (it generates its own), "
            "so a batch sent again after a failure or a rebalance is loaded twice: exactly-once cannot hold. "
            "Set sinkapp.delivery.guarantee=at_least_once to accept that, or drop enable_merge_commit")


def check_sink_properties(props: Mapping[str, str],
                          key_of: Callable[[str], str] = lambda k: f"sink.properties.{k}") -> None:
    """An unknown format, bad separators or delimiters of a CSV route, and an unknown compression fail
    here (``check`` and start-up), not at the first load; ``key_of``: the key a property was written as."""
    fmt = props.get("format", "json").lower()
    if fmt not in BODY_FORMATS:
        raise ConfigError(f"{key_of('format')}={fmt!r} is not allowed; use json or csv (or {', '.join(CSV_FORMATS)}: "
                          "compressed CSV, as StarRocks takes them; or set sink.properties.compression)")
    compression(props)
    if body_format(props) == "csv":
        for key, default in (("column_separator", "\\t"), ("row_delimiter", "\\n")):
            parse_delimiter(props.get(key, default))
