"""A bare-bones Stream Load request helper used by the emulator's own tests and demos.

Not the product client (that is :mod:`sinkapp.streamload`): it sends one PUT with
``Expect: 100-continue``, follows a 307 by hand re-sending every header (Basic auth included,
like ``curl --location-trusted``) and returns what came back, without any retry logic.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class Reply:
    status: int                   # HTTP status of the last response
    headers: dict[str, str]
    text: str
    redirected_to: str | None     # Location of the 307 that was followed, if any

    @property
    def json(self) -> dict[str, Any]:
        data = json.loads(self.text)
        assert isinstance(data, dict)
        return data


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def put(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], *,
              user: str | None = "root", password: str = "", follow: bool = True,
              method: str = "PUT", expect100: bool = True) -> Reply:
    hdrs = dict(headers)
    if user is not None:
        hdrs.setdefault("Authorization", basic(user, password))
    redirected = None
    for _ in range(3):
        data = io.BytesIO(body) if len(body) > 1 << 20 else body   # aiohttp warns on big raw bytes
        async with session.request(method, url, data=data, headers=hdrs, allow_redirects=False,
                                   expect100=expect100) as resp:
            text = await resp.text()
            if resp.status == 307 and follow:
                redirected = url = resp.headers["Location"]
                continue
            return Reply(resp.status, dict(resp.headers), text, redirected)
    raise AssertionError("too many redirects")


async def stream_load(session: aiohttp.ClientSession, fe_url: str, db: str, table: str, body: bytes | str,
                      headers: dict[str, str] | None = None, **kw: Any) -> Reply:
    data = body.encode() if isinstance(body, str) else body
    return await put(session, f"{fe_url}/api/{db}/{table}/_stream_load", data, headers or {}, **kw)
