"""The Stream Load wire format: answer texts and shapes, request auth, a body written part by part.

Who calls: :mod:`sinkapp.streamload.client`. Sources: docs/streamload-protocol.md §3 (answer fields and
Status values), §7.2 (BE messages), §8a (load pressure).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
import aiohttp.payload
import orjson

from sinkapp.config.types import Secret
from sinkapp.streamload.encoding import Body

SUCCESS_STATUSES = ("Success", "Publish Timeout")
#: every ``Status`` a Stream Load answer can carry (docs/streamload-protocol.md §3.1); anything else,
#: or no ``Status`` at all, is never taken for a load
DOCUMENTED_STATUSES = ("Success", "Publish Timeout", "Label Already Exists", "Fail")

#: ``Fail`` messages that say StarRocks cannot take loads this often (docs/streamload-protocol.md §8a,
#: §7.2): back off and let the table's next batch grow. Lower-cased text → reason.
PRESSURE_MESSAGES = (
    ("too many versions", "too_many_versions"),            # 3.x and 2.5 texts
    ("too many tablet versions", "too_many_versions"),
    ("txn num per be exceeds limit", "txn_limit"),
    ("larger than limit", "txn_limit"),                    # max_running_txn_num_per_db
    ("exceed http cuncurrent limit", "http_concurrency"),
    ("exceed http concurrent limit", "http_concurrency"),
)
#: other ``Fail`` messages that describe the server, not the data: retry with the same label
#: (docs/streamload-protocol.md §3.2, §7.2).
RETRIABLE_MESSAGES = (
    "Service is shutting down",
    "Transaction status unknown",
    "you can retry with same label",
    "timeout by txn manager",
    "Reached timeout",
    "current fe is not master",
    "No backend alive",
    "please try again later",
    "please retry later",
)
NO_DATA_MESSAGES = ("all partitions have no load data", "no load data")
#: the FE's refusals of a missing target (docs/streamload-protocol.md §7.2)
UNKNOWN_TABLE = re.compile(r'unknown table "[^"]*"', re.IGNORECASE)
UNKNOWN_DATABASE = re.compile(r"unknown database, database=", re.IGNORECASE)
LABEL_USED = re.compile(r"Label \[.*\] has already been used")
MAX_ERROR_LOG_CHARS = 3000


def auth_header(user: str, password: Secret) -> str:
    token = base64.b64encode(f"{user}:{password.get()}".encode()).decode("ascii")
    return "Basic " + token


def parse_answer(text: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return {"Status": "Fail", "Message": text[:500].decode("utf-8", "replace")}
    return doc if isinstance(doc, dict) else {"Status": "Fail", "Message": str(doc)[:500]}


class BodyPayload(aiohttp.payload.Payload):
    """Writes a :class:`Body` part by part with its Content-Length (no joined copy)."""

    def __init__(self, body: Body) -> None:
        super().__init__(body, content_type="application/octet-stream")
        self._size = body.size
        self._body = body

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self._body).decode(encoding, errors)

    async def write(self, writer: Any) -> None:
        for part in self._body.chunks():
            await writer.write(part)


def status_of(doc: Mapping[str, Any]) -> tuple[str, str]:
    """Status and message from either body shape (BE ``Status``/``Message``, FE ``status``/``msg``)."""
    status = str(doc.get("Status") or doc.get("status") or "")
    message = str(doc.get("Message") or doc.get("message") or doc.get("msg") or "")
    return status, message
