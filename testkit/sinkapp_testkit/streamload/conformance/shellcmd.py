"""``shell:`` lines of R files, replayed without a shell: the pipelines the Stream Load tests use.

A line is split with :mod:`shlex` as a POSIX shell would split it; what is understood:

* ``curl [options] URL`` (:class:`Curl`): ``--location-trusted``, ``-u user:password``, ``-X``/``--request``,
  ``-H``/``--header``, ``-d``/``--data``/``--data-binary``, ``-T``/``--upload-file``, ``-s``/``-S``;
* piped into ``jq -r '.Field'``, ``grep [-v] TEXT``, ``wc -l``, ``head -n N`` / ``tail -n +N`` (:func:`run_filter`).

Anything else (command substitution, ``&&``, other programs or options) raises :class:`Untranslatable`
naming it: the runner reports the case as unsupported by the harness, or runs the line with the real
shell when asked to (``--shell``).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path


class Untranslatable(Exception):
    """The line uses something the translation does not do; the message says what."""


@dataclass
class Curl:
    url: str
    method: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    user: tuple[str, str] | None = None
    follow: bool = False
    upload: bool = False           # -T: curl adds "Expect: 100-continue" unless a header names Expect


@dataclass
class Pipeline:
    curl: Curl
    filters: list[list[str]]


def parse(line: str) -> Pipeline:
    if "$(" in line or "`" in line:
        raise Untranslatable("command substitution")
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError as exc:
        raise Untranslatable(f"unbalanced quotes ({exc})") from None
    stages: list[list[str]] = [[]]
    for w in words:
        if w == "|":
            stages.append([])
        elif w and set(w) <= set("|&;<>"):
            raise Untranslatable(f"shell operator {w!r}")
        else:
            stages[-1].append(w)
    if not stages[0] or stages[0][0] != "curl":
        raise Untranslatable(f"command {stages[0][0] if stages[0] else '(none)'!r} (only curl is replayed)")
    for stage in stages[1:]:
        _check_filter(stage)
    return Pipeline(_curl(stages[0][1:]), stages[1:])


_FLAGS = {"-s": None, "--silent": None, "-S": None, "--show-error": None, "-sS": None, "-Ss": None}


def _curl(args: list[str]) -> Curl:
    method: str | None = None
    headers: list[tuple[str, str]] = []
    data: list[bytes] = []
    upload: bytes | None = None
    user, follow, url = None, False, None
    i = 0
    while i < len(args):
        a = args[i]
        val = args[i + 1] if i + 1 < len(args) else None
        if a in _FLAGS:
            i += 1
            continue
        if a == "--location-trusted":
            follow = True
            i += 1
            continue
        if a.startswith("-X") and len(a) > 2:
            method, i = a[2:], i + 1
            continue
        if not a.startswith("-"):
            url, i = a, i + 1
            continue
        if val is None:
            raise Untranslatable(f"curl option {a} without a value")
        if a in ("-X", "--request"):
            method = val
        elif a in ("-H", "--header"):
            name, sep, value = val.partition(":")
            if not sep:
                raise Untranslatable(f"curl header without ':' ({val!r})")
            headers.append((name.strip(), value.strip()))
        elif a in ("-d", "--data", "--data-binary", "--data-raw"):
            data.append(val.encode())
        elif a in ("-T", "--upload-file"):
            try:
                upload = Path(val).read_bytes()
            except OSError as exc:
                raise Untranslatable(f"curl -T {val}: {exc.strerror}") from None
        elif a in ("-u", "--user"):
            name, _, password = val.partition(":")
            user = (name, password)
        else:
            raise Untranslatable(f"curl option {a}")
        i += 2
    if url is None:
        raise Untranslatable("curl without a URL")
    body = upload if upload is not None else (b"&".join(data) if data else None)
    if data and upload is None and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    default = "PUT" if upload is not None else ("POST" if data else "GET")
    return Curl(url, method or default, headers, body, user, follow, upload is not None)


def _check_filter(stage: list[str]) -> None:
    ok = (stage[:2] == ["jq", "-r"] and len(stage) == 3 and stage[2].startswith(".")
          or stage[:1] == ["grep"] and len(stage) in (2, 3) and (len(stage) == 2 or stage[1] == "-v")
          or stage == ["wc", "-l"]
          or stage[:2] in (["head", "-n"], ["tail", "-n"]) and len(stage) == 3)
    if not ok:
        raise Untranslatable(f"pipe into {' '.join(stage)!r}")


def run_filter(stage: list[str], text: str) -> tuple[int, str]:
    """One pipe stage over the previous stage's output: ``(exit code, output)``."""
    if stage[0] == "jq":
        try:
            value: object = json.loads(text)
        except ValueError:
            return 5, ""
        for key in [k for k in stage[2].split(".") if k]:
            value = value.get(key) if isinstance(value, dict) else None
        out = value if isinstance(value, str) else json.dumps(value)
        return 0, out + "\n"
    lines = text.splitlines()
    if stage[0] == "grep":
        invert = stage[1] == "-v"
        hits = [ln for ln in lines if (stage[-1] in ln) != invert]
        return (0 if hits else 1), "".join(ln + "\n" for ln in hits)
    if stage[0] == "wc":
        return 0, f"{text.count(chr(10))}\n"
    n = stage[2]
    kept = lines[int(n[1:]) - 1:] if stage[0] == "tail" and n.startswith("+") else (
        lines[-int(n):] if stage[0] == "tail" else lines[:int(n)])
    return 0, "".join(ln + "\n" for ln in kept)


def quote(words: list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)
