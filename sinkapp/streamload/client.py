"""One Stream Load attempt: PUT to an FE, follow its 307 to a BE, parse and classify the answer.

Who calls: :func:`sinkapp.streamload.retry.load_with_retry`, which owns retries and backoff.
``StreamLoadClient.load`` returns a :class:`LoadResult` for Success, Publish Timeout and
``Label Already Exists`` + FINISHED; every other outcome is a typed error of
:mod:`sinkapp.errors`: retriable (``Unreachable``, ``LoadTimeout``, ``LabelRunning``,
``LoadPressure`` for "too many versions" / transaction limits / the HTTP concurrency limit,
``UnknownAnswer``, other 5xx and busy answers) or rejected (``AuthRejected``, ``TlsRejected``,
``DataRejected`` with the ErrorURL lines, ``UnknownTable``, ``UnknownDatabase``, ``NoLoadData``,
other refusals).
FEs in ``urls`` are tried in turn when one cannot be reached (failover within one attempt).
The body is a :class:`~sinkapp.streamload.encoding.Body` (written part by part) or bytes, always the
plain body: when the headers ask for compression (``compression``, or a compressed-CSV ``format``) the
client compresses it (:mod:`sinkapp.streamload.compress`), once per body however often it is retried.
The session is injectable so tests can pass their own.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import aiohttp.payload
import orjson

from sinkapp.config.keys import default_s
from sinkapp.config.types import Secret
from sinkapp.errors import (
    AuthRejected,
    DataRejected,
    LabelRunning,
    LoadPressure,
    LoadRejected,
    LoadRetriable,
    LoadTimeout,
    NoLoadData,
    TlsRejected,
    UnknownAnswer,
    UnknownDatabase,
    UnknownTable,
    Unreachable,
)
from sinkapp.streamload.compress import wire_body
from sinkapp.streamload.encoding import Body
from sinkapp.streamload.wire import (
    DOCUMENTED_STATUSES,
    LABEL_USED,
    MAX_ERROR_LOG_CHARS,
    NO_DATA_MESSAGES,
    PRESSURE_MESSAGES,
    RETRIABLE_MESSAGES,
    SUCCESS_STATUSES,
    UNKNOWN_DATABASE,
    UNKNOWN_TABLE,
    BodyPayload,
    auth_header,
    parse_answer,
    status_of,
)

log = logging.getLogger(__name__)



class _FeUnreachable(Unreachable):
    """Internal: this FE cannot be connected to; ``load`` tries the next one."""


@dataclass(frozen=True)
class LoadResult:
    """What a successful load reports (``status`` is the StarRocks Status)."""

    label: str
    status: str
    loaded_rows: int
    filtered_rows: int
    load_bytes: int
    load_time_ms: int
    response: Mapping[str, Any] = field(default_factory=dict)


class StreamLoadClient:
    """Sends one body to ``/api/{db}/{table}/_stream_load`` with the given label and headers."""

    def __init__(self, urls: Sequence[str], user: str, password: Secret, *,
                 connect_timeout_s: float = default_s("connect.timeoutms"),
                 request_timeout_s: float = default_s("sinkapp.load.timeout.ms"),
                 session: aiohttp.ClientSession | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        if not urls:
            raise ValueError("at least one FE url is needed")
        self.urls = list(urls)
        self._auth = auth_header(user, password)
        self.user = user
        self.connect_timeout_s = connect_timeout_s
        self.request_timeout_s = request_timeout_s
        self._session = session
        self._own_session = session is None
        self._next_fe = 0
        self.ssl_context = ssl_context            # None: the system's CAs (for https:// FEs)

    def __repr__(self) -> str:
        return f"StreamLoadClient(urls={self.urls!r}, user={self.user!r}, password='******')"

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # keep-alive: FE and BE connections are reused across loads (a stale one fails
                # before any answer, which is retried under the same label)
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30,
                                               ssl=self.ssl_context if self.ssl_context is not None else True),
                auto_decompress=False)
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()

    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.request_timeout_s, sock_connect=self.connect_timeout_s)

    def _fe_order(self) -> list[str]:
        """FEs starting at the next one in round robin, so load spreads and failover is cheap."""
        i = self._next_fe % len(self.urls)
        self._next_fe += 1
        return self.urls[i:] + self.urls[:i]

    async def load(self, database: str, table: str, label: str, body: bytes | Body,
                   headers: Mapping[str, str]) -> LoadResult:
        """One attempt, across FEs if they cannot be reached. See module docstring for outcomes."""
        hdrs = {k: str(v) for k, v in headers.items()}
        try:
            data = await wire_body(body, hdrs)
        except ValueError as exc:
            raise LoadRejected(f"the body cannot be sent as the headers say: {exc}", label=label) from None
        hdrs.update({"label": label, "Authorization": self._auth, "Expect": "100-continue"})
        path = f"/api/{database}/{table}/_stream_load"
        last_exc: Exception | None = None
        for fe in self._fe_order():
            try:
                doc = await self._put_following_redirect(fe + path, hdrs, data)
            except _FeUnreachable as exc:
                last_exc = exc
                continue
            return await self._classify(doc, database, label)
        raise Unreachable(f"no FE in starrocks.http.url could be reached ({last_exc})", label=label)

    async def _put_following_redirect(self, url: str, hdrs: dict[str, str], body: bytes | Body) -> dict[str, Any]:
        session = await self._get_session()
        for hop in range(3):
            data = BodyPayload(body) if isinstance(body, Body) else body
            try:
                async with session.put(url, data=data, headers=hdrs, allow_redirects=False,
                                       expect100=True, timeout=self._timeout()) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        location = resp.headers.get("Location")
                        if not location:
                            raise LoadRetriable(f"{resp.status} from {url} without Location",
                                                label=hdrs["label"], status=str(resp.status))
                        url = location
                        continue
                    text = await resp.read()
                    if resp.status == 401:
                        _, msg = status_of(parse_answer(text))
                        raise AuthRejected(
                            f"StarRocks refused the credentials ({msg or 'HTTP 401'}): check "
                            "starrocks.username / starrocks.password and the user's INSERT privilege",
                            label=hdrs["label"], status="401")
                    if resp.status >= 500:
                        raise LoadRetriable(f"HTTP {resp.status} from {url}: {text[:200]!r}",
                                            label=hdrs["label"], status=str(resp.status))
                    if resp.status != 200:
                        raise LoadRejected(f"HTTP {resp.status} from {url}: {text[:300]!r}",
                                           label=hdrs["label"], status=str(resp.status))
                    return parse_answer(text)
            except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
                # never retried: a certificate does not become trusted by waiting
                raise TlsRejected(
                    f"TLS to {url} failed: {exc}. Trust its CA with sinkapp.starrocks.ssl.cafile (PEM), "
                    "or check the host name in starrocks.http.url", label=hdrs["label"]) from None
            except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError,
                    aiohttp.ClientOSError) as exc:
                # refused / reset before any answer: the FE is unreachable (→ failover to the next
                # FE); after a redirect the BE is, which the next attempt may route around
                cls = _FeUnreachable if hop == 0 else Unreachable
                raise cls(f"{type(exc).__name__} talking to {url}: {exc}", label=hdrs["label"]) from None
            except TimeoutError:
                raise LoadTimeout(f"no answer from {url} within {self.request_timeout_s:g}s "
                                  "(outcome unknown; the same label will tell)", label=hdrs["label"]) from None
            except aiohttp.ClientError as exc:
                raise Unreachable(f"{type(exc).__name__} talking to {url}: {exc}", label=hdrs["label"]) from None
        raise LoadRejected(f"too many redirects starting at {url}", label=hdrs["label"], status="redirect")

    async def _classify(self, doc: dict[str, Any], database: str, label: str) -> LoadResult:
        status, message = status_of(doc)
        if doc.get("Status") not in DOCUMENTED_STATUSES and str(doc.get("status", "")).upper() != "FAILED":
            # not a Stream Load answer (a proxy, a wrong endpoint, ``{"status":"OK"}``): the
            # outcome is unknown, so retry under the same label, which tells
            raise UnknownAnswer(
                f"the answer has no documented Stream Load Status (Success, Publish Timeout, Label Already "
                f"Exists, Fail); not taken as loaded: {orjson.dumps(doc).decode()[:300]}",
                label=label, response=doc)

        def result() -> LoadResult:
            return LoadResult(label=label, status=status,
                              loaded_rows=int(doc.get("NumberLoadedRows", 0) or 0),
                              filtered_rows=int(doc.get("NumberFilteredRows", 0) or 0),
                              load_bytes=int(doc.get("LoadBytes", 0) or 0),
                              load_time_ms=int(doc.get("LoadTimeMs", 0) or 0), response=doc)

        if status in SUCCESS_STATUSES:
            return result()
        if status in ("Label Already Exists", "LABEL_ALREADY_EXISTS") or LABEL_USED.search(message):
            existing = str(doc.get("ExistingJobStatus", ""))
            if existing == "FINISHED":
                return result()
            state = await self.load_state(database, label)
            if state in ("VISIBLE", "COMMITTED"):
                return result()
            raise LabelRunning(f"label {label} is {existing or state}; waiting for it to finish",
                               label=label, status=status, response=doc)
        return await self._refusal(doc, status, message, label)

    async def _refusal(self, doc: dict[str, Any], status: str, message: str, label: str) -> LoadResult:
        """Raise the error a ``Fail`` answer means (never returns)."""
        low = message.lower()
        for text, reason in PRESSURE_MESSAGES:
            if text in low:
                raise LoadPressure(f"StarRocks cannot take loads this often ({reason}): {message}",
                                   reason=reason, label=label, status=status, response=doc)
        if any(m in message for m in RETRIABLE_MESSAGES):
            raise LoadRetriable(f"StarRocks is busy or failing: {message}", label=label,
                                status=status or "Fail", response=doc)
        if any(m in message for m in NO_DATA_MESSAGES):
            raise NoLoadData(f"StarRocks found no data in the load: {message}", label=label,
                             status=status, response=doc)
        detail = message or orjson.dumps(doc).decode()[:500]
        error_url = doc.get("ErrorURL")
        if error_url:
            lines = await self.error_log(str(error_url))
            detail += f"; ErrorURL {error_url} says:\n{lines}"
        cls = (DataRejected if error_url or "too many filtered rows" in message
               else UnknownTable if UNKNOWN_TABLE.search(message)
               else UnknownDatabase if UNKNOWN_DATABASE.search(message) else LoadRejected)
        raise cls(f"StarRocks rejected the load (Status {status or '?'}): {detail}",
                  label=label, status=status or "Fail", response=doc)

    async def load_state(self, database: str, label: str) -> str:
        """``GET /api/{db}/get_load_state?label=`` on the first FE that answers; ``UNKNOWN`` if none."""
        session = await self._get_session()
        for fe in self._fe_order():
            try:
                async with session.get(f"{fe}/api/{database}/get_load_state", params={"label": label},
                                       headers={"Authorization": self._auth},
                                       timeout=self._timeout()) as resp:
                    doc = parse_answer(await resp.read())
                    return str(doc.get("state") or "UNKNOWN")
            except (aiohttp.ClientError, TimeoutError):
                continue
        raise Unreachable(f"get_load_state for {label}: no FE answered", label=label)

    async def error_log(self, url: str) -> str:
        """The first lines of an ErrorURL (plain text), for the error a user reads."""
        session = await self._get_session()
        try:
            async with session.get(url, timeout=self._timeout()) as resp:
                text = (await resp.read()).decode("utf-8", "replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"(could not fetch the error log: {exc})"
        return text[:MAX_ERROR_LOG_CHARS]
