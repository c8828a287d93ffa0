"""Send a :class:`.shellcmd.Curl` request the way curl does, over a plain socket (HTTP/1.1).

What matters for Stream Load: with ``Expect: 100-continue`` (given as a header, or added by curl for
``-T``) the headers go first and the body only after the server's ``100 Continue``; a final answer
instead (the FE's ``307``) means the body is never sent, and curl waits at most one second for either
before sending the body anyway. ``--location-trusted`` follows a redirect to another host with the same
method, body and Basic credentials. Returns curl's exit code (0, or 7 when the connection is refused)
and the last response's body.
"""

from __future__ import annotations

import base64
import socket
from typing import BinaryIO
from urllib.parse import urlsplit

from .shellcmd import Curl

EXPECT_WAIT_S = 1.0          # curl's --expect100-timeout default
TIMEOUT_S = 60.0


def perform(req: Curl) -> tuple[int, str]:
    url, body = req.url, b""
    for _ in range(5):
        try:
            status, headers, body = _exchange(req, url)
        except OSError:
            return 7, ""
        location = headers.get("location")
        if req.follow and status in (301, 302, 303, 307, 308) and location:
            url = location
            continue
        break
    return 0, body.decode("utf-8", "replace")


def _request_head(req: Curl, url: str) -> tuple[bytes, bool]:
    parts = urlsplit(url)
    names = {k.lower() for k, _ in req.headers}
    lines = [f"{req.method} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
             f"Host: {parts.netloc}", "User-Agent: curl/7.88.1", "Accept: */*"]
    if req.user is not None:
        token = base64.b64encode(f"{req.user[0]}:{req.user[1]}".encode()).decode()
        lines.append(f"Authorization: Basic {token}")
    if req.body is not None:
        lines.append(f"Content-Length: {len(req.body)}")
    expect = False
    for name, value in req.headers:
        if not value:              # curl: "-H 'Name:'" removes the header
            continue
        lines.append(f"{name}: {value}")
        expect = expect or (name.lower() == "expect" and value.lower() == "100-continue")
    if req.upload and "expect" not in names and req.body is not None:
        lines.append("Expect: 100-continue")
        expect = True
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), expect and req.body is not None


def _exchange(req: Curl, url: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    head, expect = _request_head(req, url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=TIMEOUT_S) as sock:
        reader: BinaryIO = sock.makefile("rb")
        sock.sendall(head)
        if expect:
            sock.settimeout(EXPECT_WAIT_S)
            try:
                status, headers = _read_head(reader)
            except TimeoutError:
                status, headers = 100, {}
            sock.settimeout(TIMEOUT_S)
            if status != 100:
                return status, headers, _read_body(reader, headers)
        if req.body:
            try:
                sock.sendall(req.body)
            except OSError:        # the server answered and closed before reading the body
                pass
        status, headers = _read_head(reader)
        while status == 100:
            status, headers = _read_head(reader)
        return status, headers, _read_body(reader, headers)


def _read_head(reader: BinaryIO) -> tuple[int, dict[str, str]]:
    line = reader.readline()
    if not line:
        raise ConnectionError("the server closed the connection without an answer")
    status = int(line.split()[1])
    headers: dict[str, str] = {}
    while True:
        h = reader.readline().decode("latin-1").rstrip("\r\n")
        if not h:
            return status, headers
        name, _, value = h.partition(":")
        headers[name.strip().lower()] = value.strip()


def _read_body(reader: BinaryIO, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return reader.read(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        while True:
            size = int(reader.readline().split(b";")[0], 16)
            if size == 0:
                reader.readline()
                return out
            out += reader.read(size)
            reader.readline()
    return reader.read()
