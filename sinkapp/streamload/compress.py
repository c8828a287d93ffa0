"""The compressed Stream Load body: what the headers say, the body is.

Who calls: :class:`~sinkapp.streamload.client.StreamLoadClient`, for every body it sends (a batch, a
retry of it, a part of a batch StarRocks refused rows of, a partial update, a batch a new owner
rebuilt from Kafka, the zero-row load of ``check --connect``). Callers hand the client the plain
body; :func:`codec_of` reads the codec from the request's headers and :func:`wire_body` compresses
the body once (a :class:`~sinkapp.streamload.encoding.Body` keeps its compressed form for the
retries), so a request can never carry a ``compression`` header with a plain body or the reverse.

Headers → codec (docs/streamload-protocol.md §2; :mod:`sinkapp.config.sinkprops` makes them from
``sink.properties.compression``): ``format`` gzip / bzip2 / lz4 / zstd (compressed CSV; ``lz4`` is an
LZ4 frame), else ``compression`` LZ4_FRAME / ZSTD / GZIP / BZIP2 (JSON, any case).

The codecs, streaming over the body's chunks (no joined plain copy): ``lz4.frame`` (level 0, the
fast default, content size in the frame header), ``zstandard`` (level 3, the zstd default, content
size in the frame header), zlib in gzip framing (level 6, zlib's default; ``gzip.compress``'s 9 costs
about twice the CPU for ~1 % smaller JSON) and ``bz2`` (level 9). All four release the GIL while they
compress, so the client runs large bodies in a thread and the event loop goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import bz2
import zlib
from collections.abc import Iterable, Mapping

import lz4.frame  # type: ignore[import-untyped,unused-ignore]
import zstandard

from sinkapp.config.sinkprops import CODECS, CSV_FORMATS
from sinkapp.streamload.encoding import Body

#: bodies below this many bytes are compressed on the event loop (a thread costs more than they do)
INLINE_BYTES = 256 * 1024
GZIP_LEVEL, ZSTD_LEVEL, BZIP2_LEVEL = 6, 3, 9


def codec_of(headers: Mapping[str, str]) -> str | None:
    """The codec a request with these headers must carry its body in (one of ``CODECS``), or None."""
    low = {k.lower(): v for k, v in headers.items()}
    fmt = low.get("format", "").strip().lower()
    if fmt in CSV_FORMATS:
        return CSV_FORMATS[fmt]
    value = (low.get("compression") or "").strip().lower()
    if not value:
        return None
    if value not in CODECS:
        raise ValueError(f"compression {value!r} is not one of {', '.join(CODECS)}")
    return value


def compress(chunks: Iterable[bytes | memoryview], codec: str, size: int | None = None) -> bytes:
    """The chunks, joined, compressed with ``codec`` as one stream (``size``: their total, when known,
    goes into the lz4 and zstd frame headers)."""
    out: list[bytes] = []
    if codec == "lz4_frame":
        lz = lz4.frame.LZ4FrameCompressor()
        out.append(lz.begin(source_size=size or 0))
        out.extend(lz.compress(c) for c in chunks)
        out.append(lz.flush())
    elif codec == "zstd":
        zs = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj(size=-1 if size is None else size)
        out.extend(zs.compress(c) for c in chunks)
        out.append(zs.flush())
    elif codec == "gzip":
        gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)       # wbits 16 + 15: gzip header and trailer
        out.extend(gz.compress(c) for c in chunks)
        out.append(gz.flush())
    elif codec == "bzip2":
        bz = bz2.BZ2Compressor(BZIP2_LEVEL)
        out.extend(bz.compress(c) for c in chunks)
        out.append(bz.flush())
    else:
        raise ValueError(f"compression {codec!r} is not one of {', '.join(CODECS)}")
    return b"".join(out)


async def wire_body(body: bytes | Body, headers: Mapping[str, str]) -> bytes | Body:
    """What goes on the wire for ``body`` under ``headers``: the body itself when the headers ask for
    no compression, else its compressed bytes (a :class:`Body`'s are computed once and kept on it)."""
    codec = codec_of(headers)
    if codec is None:
        return body
    if isinstance(body, Body):
        kept = body.wire.get(codec)
        if kept is None:
            kept = body.wire[codec] = await _run(body.chunks(), codec, body.size)
        return kept
    return await _run((body,), codec, len(body))


async def _run(chunks: Iterable[bytes | memoryview], codec: str, size: int) -> bytes:
    if size < INLINE_BYTES:
        return compress(chunks, codec, size)
    return await asyncio.to_thread(compress, list(chunks), codec, size)
