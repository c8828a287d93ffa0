"""sink.properties.compression: every Stream Load body goes out compressed as its headers say.

What a user relies on: with ``sink.properties.compression`` set (lz4_frame, zstd, gzip, bzip2, any
case) every body a worker sends is compressed: a batch, a retry of it, the parts of a batch StarRocks
refused rows of, a batch a new owner rebuilt from Kafka; a JSON route sends StarRocks' ``compression``
header, a CSV route StarRocks' compressed-CSV ``format`` (lz4, zstd, gzip, bzip2); an unknown value
stops ``sinkapp check`` naming the key and the allowed values. The loads go through the product's
Stream Load client over real HTTP into the emulator, which, like StarRocks, fails a body that does not
decompress with the codec its headers name: rows stored prove the body was compressed.
"""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path
from typing import Any

import aiohttp
import lz4.frame
import orjson
import pytest
import zstandard
from sinkapp_testkit.streamload import StreamLoadEmulator
from sinkapp_testkit.streamload.probe import stream_load

from sinkapp.cli.main import main
from sinkapp.config import ErrorSettings, Secret, build_settings
from sinkapp.errors import ConfigError
from sinkapp.streamload import RetryPolicy, StreamLoadClient, load_with_retry
from sinkapp.streamload import compress as compress_mod
from sinkapp.streamload.compress import codec_of, compress
from sinkapp.streamload.encoding import build_encoder, load_headers
from tests.pipeline_fakes import harness
from tests.test_pipeline import previous_owner
from tests.workers import fixture_path

CODECS = ("lz4_frame", "zstd", "gzip", "bzip2")
CSV_FORMAT = {"lz4_frame": "lz4", "zstd": "zstd", "gzip": "gzip", "bzip2": "bzip2"}
DECOMPRESS = {"lz4_frame": lz4.frame.decompress, "zstd": lambda b: zstandard.ZstdDecompressor().decompress(b),
              "gzip": gzip.decompress, "bzip2": bz2.decompress}
DDL = "CREATE TABLE t (id BIGINT, name STRING, amount DOUBLE) DUPLICATE KEY(id);"
FAST = RetryPolicy(max_retries=4, base_delay_s=0.01, max_delay_s=0.05)
ROWS = [{"id": i, "name": f"name {i}, said \"hi\"" if i % 7 else f"n{i}", "amount": i * 1.5} for i in range(2000)]
CSV = {"format": "csv", "column_separator": "\\x01", "columns": "id,name,amount"}


@pytest.fixture
async def emu() -> Any:
    async with StreamLoadEmulator(user="root", password="pw", ddl={"test": DDL}) as e:
        yield e


@pytest.fixture
async def client(emu: StreamLoadEmulator) -> Any:
    c = StreamLoadClient(emu.fe_urls, "root", Secret("pw"), connect_timeout_s=1.0, request_timeout_s=10.0)
    yield c
    await c.close()


def route_props(fmt: str, codec: str | None) -> dict[str, str]:
    props = dict(CSV) if fmt == "csv" else {"format": "json"}
    if codec:
        props["compression"] = codec
    return props


async def send(client: StreamLoadClient, props: dict[str, str], label: str, rows: list[dict[str, Any]] = ROWS,
               **kw: Any) -> Any:
    enc = build_encoder(props)
    body = enc.body([enc.encode_chunk(rows[:700]), enc.encode_chunk(rows[700:])])
    return body, await load_with_retry(client, "test", "t", label, body, load_headers(props), FAST, **kw)


def stored(emu: StreamLoadEmulator) -> list[dict[str, Any]]:
    return sorted(emu.rows("test", "t"), key=lambda r: r["id"])


@pytest.mark.parametrize("codec", [*CODECS, "LZ4_FRAME", "Zstd"])
@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_every_codec_round_trips_through_the_client_into_the_emulator(emu, client, fmt: str,
                                                                            codec: str) -> None:
    body, result = await send(client, route_props(fmt, codec), f"l-{fmt}-{codec}")
    assert (result.status, result.loaded_rows) == ("Success", len(ROWS))
    assert stored(emu) == ROWS
    rec = emu.loads(table="t")[-1]
    headers = {k.lower(): v for k, v in rec.headers.items()}
    if fmt == "json":          # StarRocks' compression header is for JSON ...
        assert headers["compression"] == codec and headers["format"] == "json"
    else:                      # ... a compressed CSV body is a format of its own
        assert headers["format"] == CSV_FORMAT[codec.lower()] and "compression" not in headers
    assert 0 < rec.bytes < len(body) / 2                    # the wire carried the compressed body
    assert DECOMPRESS[codec.lower()](body.wire[codec.lower()]) == bytes(body)


@pytest.mark.parametrize("fmt", ["gzip", "bzip2", "lz4", "zstd"])
async def test_a_csv_route_may_name_starrocks_compressed_csv_format_itself(emu, client, fmt: str) -> None:
    props = {**CSV, "format": fmt}
    assert build_settings({"topics": "o", "starrocks.http.url": "fe:8030", "starrocks.database.name": "test",
                           "starrocks.username": "root", **{f"sink.properties.{k}": v for k, v in props.items()}})
    assert load_headers(props)["format"] == fmt and codec_of(load_headers(props)) is not None
    _, result = await send(client, props, f"l-own-{fmt}")
    assert result.loaded_rows == len(ROWS) and stored(emu) == ROWS


async def test_without_compression_the_body_goes_plain(emu, client) -> None:
    body, _ = await send(client, route_props("json", None), "l-plain")
    rec = emu.loads(table="t")[-1]
    assert "compression" not in {k.lower() for k in rec.headers} and rec.bytes == len(body) and not body.wire


@pytest.mark.parametrize("codec", CODECS)
async def test_a_retried_body_is_sent_compressed_again_compressed_once(emu, client, monkeypatch: pytest.MonkeyPatch,
                                                                       codec: str) -> None:
    emu.faults.fail_next(1, 500, table="t")                              # an HTTP 500: retried, same label
    emu.faults.fail_message_next(1, stage="commit", table="t")          # then a failure after the body was read
    calls: list[str] = []
    real = compress_mod.compress
    monkeypatch.setattr(compress_mod, "compress", lambda chunks, c, size=None: calls.append(c) or real(chunks, c, size))
    retries: list[int] = []
    body, result = await send(client, route_props("json", codec), f"l-retry-{codec}",
                              on_retry=lambda n, exc: retries.append(n))
    attempts = [r for r in emu.loads(table="t") if r.label == f"l-retry-{codec}"]
    assert len(retries) == 2 and len(attempts) == 2 and result.status == "Success"   # (a 500 is not recorded)
    assert all(r.headers.get("compression") == codec for r in attempts)
    assert calls == [codec]                                             # one compression for three sends
    assert stored(emu) == ROWS


async def test_a_refused_batch_is_found_in_compressed_parts_and_a_settled_batch_goes_compressed(emu,
                                                                                                client) -> None:
    """The loader's other bodies: the parts of a batch StarRocks refused rows of (rebuilt from Kafka and
    halved down to the bad record), then a pending batch a previous owner left, rebuilt and sent again
    under its label. Every request the emulator saw carried the codec, and it decompressed every body."""
    props = {"format": "json", "compression": "zstd", "strict_mode": "true"}
    h = harness(headers=props, client=client, errors=ErrorSettings(tolerance="all", dlq_topic="dlq"),
                dlq=True, max_rows=1000)
    values = {o: orjson.dumps({"id": o, "name": f"n{o}", "amount": o / 2}) for o in range(12)}
    values[5] = orjson.dumps({"id": "not a number", "name": "bad", "amount": 1})
    await h.take(h.batch(0, range(12), values=values))
    await h.flush()
    assert h.dlq is not None and [d.offset for d in h.dlq.sent] == [5]
    assert [r["id"] for r in stored(emu)] == [o for o in range(12) if o != 5]
    sent = emu.loads(table="t")
    assert len(sent) > 3 and all(r.headers.get("compression") == "zstd" for r in sent)

    emu.truncate("test", "t")                            # a worker died with offsets 10..14 pending
    h2 = harness(headers=props, client=client, max_rows=1000)
    label = previous_owner(h2, [("orders", 0, 10, 14)], {0: 9})
    await h2.take(h2.batch(0, range(5, 21), values={o: orjson.dumps({"id": o, "name": "x", "amount": 0})
                                                     for o in range(5, 21)}))
    await h2.flush()
    settled = [r for r in emu.loads(table="t") if r.label == label]
    assert settled and all(r.headers.get("compression") == "zstd" for r in settled)
    assert [r["id"] for r in stored(emu)] == list(range(10, 21))     # 5..9 were loaded before the crash


@pytest.mark.parametrize("fmt, codec", [("json", c) for c in CODECS] + [("csv", c) for c in (*CODECS, "deflate")])
async def test_the_emulator_fails_a_body_that_does_not_decompress(emu, fmt: str, codec: str) -> None:
    """As StarRocks: a plain body, a body of another codec or one cut short, under a codec's headers
    (DEFLATE: compressed CSV only; StarRocks' JSON compression has none)."""
    plain = orjson.dumps(ROWS[:10]) if fmt == "json" else b"1\x01a\x012.0\n2\x01b\x013.0\n"
    other = "gzip" if codec != "gzip" else "zstd"
    good = compress([plain], codec) if codec != "deflate" else __import__("zlib").compress(plain)
    headers = ({"format": "json", "strip_outer_array": "true", "compression": codec} if fmt == "json" else
               {"format": CSV_FORMAT.get(codec, codec), "column_separator": "\\x01"})
    async with aiohttp.ClientSession() as s:
        for i, body in enumerate((plain, compress([plain], other), good[: len(good) // 2])):
            r = (await stream_load(s, emu.fe_url, "test", "t", body, {**headers, "label": f"bad-{fmt}-{codec}-{i}"},
                                  password="pw")).json
            assert r["Status"] == "Fail" and r["Message"].startswith("Failed to decompress"), (i, r)
        r = (await stream_load(s, emu.fe_url, "test", "t", good, {**headers, "label": f"good-{fmt}-{codec}"},
                               password="pw")).json
        assert r["Status"] == "Success" and r["NumberLoadedRows"] == (10 if fmt == "json" else 2), r
    assert emu.count("test", "t") == (10 if fmt == "json" else 2)


BASE = {"topics": "orders", "starrocks.http.url": "127.0.0.1:8030", "starrocks.database.name": "test",
        "starrocks.username": "root"}


@pytest.mark.parametrize("over, message", [
    ({"sink.properties.compression": "snappy"},
     "sink.properties.compression='snappy' is not allowed; use one of lz4_frame, zstd, gzip, bzip2"),
    ({"sink.properties.compression": "lz4"}, "sink.properties.compression='lz4' is not allowed"),
    ({"sink.properties.format": "csv", "sink.properties.compression": "deflate"},
     "sink.properties.compression='deflate' is not allowed; use one of lz4_frame, zstd, gzip, bzip2"),
    ({"sink.properties.format": "gzip", "sink.properties.compression": "zstd"},
     "sink.properties.format=gzip is CSV compressed with gzip, but sink.properties.compression=zstd"),
    ({"sink.properties.format": "deflate"}, "sink.properties.format='deflate' is not allowed"),
    ({"sink.properties.Content-Encoding": "gzip"}, "set sink.properties.compression"),
])
def test_check_refuses_what_cannot_be_compressed_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               over: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as ei:
        build_settings({**BASE, **over})
    assert message in str(ei.value)
    f = tmp_path / "c.json"
    f.write_text(json.dumps({**BASE, **over}))
    assert main(["check", "--config", str(f)]) == 2                    # sinkapp check, and a worker's start
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("fixture", ["connector-json.json", "connector-avro.json"])
@pytest.mark.parametrize("codec", [*CODECS, "LZ4_FRAME"])
def test_check_says_config_ok_for_the_connector_fixtures_with_compression(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fixture: str,
        codec: str) -> None:
    monkeypatch.setenv("SINKAPP_SCHEMA_REGISTRY_URL", "http://registry:8081")     # the Avro fixture's registry
    cfg = json.loads(fixture_path(fixture).read_text())
    cfg["sink.properties.compression"] = codec
    f = tmp_path / "c.json"
    f.write_text(json.dumps(cfg))
    assert main(["check", "--config", str(f)]) == 0
    assert "config OK" in capsys.readouterr().out


def test_headers_name_the_codec_the_way_starrocks_takes_it() -> None:
    assert load_headers({"compression": "LZ4_FRAME"}) == {"compression": "LZ4_FRAME", "format": "json",
                                                           "strip_outer_array": "true"}
    assert load_headers({**CSV, "compression": "lz4_frame"}) == {**CSV, "format": "lz4"}
    assert load_headers({**CSV, "compression": "zstd"})["format"] == "zstd"
    assert codec_of({"format": "json", "compression": "Gzip"}) == "gzip"
    assert codec_of({"format": "LZ4"}) == "lz4_frame" and codec_of({"format": "csv"}) is None
