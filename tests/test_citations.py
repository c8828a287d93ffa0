"""Runtime files (sinkapp/, the testkit) cite only files in the repository, by their path: no ticket
numbers, no documents that live elsewhere, no "design §" without the document's path."""

from __future__ import annotations

import re

from tests.workers import ROOT

SOURCES = [ROOT / "sinkapp", ROOT / "testkit" / "sinkapp_testkit", ROOT / "examples"]
#: what a citation of something outside the repository (or of no file at all) looks like
OUTSIDE = re.compile(r"\b[Ii]ssue \d+|(?<!docs/)\bdesign §|(?<![/\w])faust-streaming\.md|\.\./shared|"
                     r"product-doc[\w.-]*\.txt")
#: documents a runtime file may name by path; each must exist in the repository
DOC_PATH = re.compile(r"\bdocs/[\w.-]+\.md\b")
def _files() -> list:
    return [p for root in SOURCES for p in root.rglob("*") if p.suffix in (".py", ".md", ".xml")
            and "__pycache__" not in p.parts]


def test_no_citation_of_a_ticket_or_a_document_outside_the_repository() -> None:
    found = []
    for path in _files():
        rel = path.relative_to(ROOT).as_posix()
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


def test_every_document_cited_by_path_exists() -> None:
    missing = sorted({f"{p.relative_to(ROOT).as_posix()}: {m}" for p in _files()
                      for m in DOC_PATH.findall(p.read_text(errors="replace"))
                      if not (ROOT / m).is_file()})
    assert not missing, "\n".join(missing)
