"""Word (.docx) files read within a budget, whatever their zip headers claim.

Only the parts that hold what qa-bot keeps are read (the package's relationships, the document,
its styles and its core properties; never headers, footers or media), each through a stream that
counts the bytes it really inflates against a cap per part and a cap for the whole file. The
document is parsed as a stream, one paragraph at a time, and each paragraph's style is looked up
in a table built once, so time and memory grow linearly with the document.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO
from xml.etree import ElementTree

MB = 1024 * 1024
MAX_PARTS = 1000
"""Parts a Word file may have; Word writes a few dozen (one per image, header, footer…)."""
MAX_OFFICE_PARTS = 10_000
"""Parts a PowerPoint or Excel file may have: about four per slide (slide, notes and their
relationships) or two per sheet, and one per image."""
MAX_DIRECTORY = MB
"""Bytes of the zip's central directory read to list those parts (about 20,000 entries)."""
CHUNK = 64 * 1024
"""Bytes inflated at a time."""
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
TITLE = "{http://purl.org/dc/elements/1.1/}title"
RUN_TEXT = {f"{W}tab": "\t", f"{W}ptab": "\t", f"{W}br": "\n", f"{W}cr": "\n"}
RUN_TEXT[f"{W}noBreakHyphen"] = "-"


class WordError(Exception):
    """A Word file that cannot be read within its budget; the message says why."""


@dataclass
class Budget:
    """Bytes a zip may still inflate: at most ``part`` per part, ``left`` in all."""

    part: int
    left: int


class _Counted:
    """A zip part's inflated bytes, read ``CHUNK`` at a time and counted against a budget."""

    def __init__(self, name: str, stream: IO[bytes], budget: Budget) -> None:
        self.name, self.stream, self.budget, self.read_so_far = name, stream, budget, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(CHUNK if size < 0 else min(size, CHUNK))
        self.read_so_far += len(data)
        self.budget.left -= len(data)
        if self.read_so_far > self.budget.part:
            raise WordError(
                f"its part {self.name} unpacks past {self.budget.part / MB:g} MB "
                "(raise QA_BOT_INGEST__MAX_PART_MB to ingest it)"
            )
        if self.budget.left < 0:
            raise WordError(
                "it unpacks past the limit for one file "
                "(raise QA_BOT_INGEST__MAX_UNPACKED_MB to ingest it)"
            )
        return data


def directory_size(path: Path) -> int:
    """The size the zip's end record gives its central directory (a zip64 one counts as
    too large); 0 when there is no end record (not a zip)."""
    with path.open("rb") as file:
        file.seek(0, 2)
        file.seek(max(0, file.tell() - 22 - 65535))
        tail = file.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return 0
    size = int(struct.unpack("<L", tail[at + 12 : at + 16])[0])
    return MAX_DIRECTORY + 1 if size == 0xFFFFFFFF else size


def parts(path: Path, kind: str = "Word", most: int = MAX_PARTS) -> list[zipfile.ZipInfo]:
    """The zip's parts, after refusing a central directory or a part count past the caps
    (``most`` parts for a ``kind`` file)."""
    if directory_size(path) > MAX_DIRECTORY:
        raise WordError(f"its zip directory is over {MAX_DIRECTORY // MB} MB, too many parts")
    with zipfile.ZipFile(path) as archive:
        listed = archive.infolist()
    if len(listed) > most:
        raise WordError(f"it has {len(listed)} parts, over the {most} a {kind} file may have")
    return listed


@dataclass
class WordText:
    """What qa-bot keeps of a Word file: its body paragraphs and its title."""

    paragraphs: list[str]
    title: str


def read_docx(path: Path, budget: Budget, max_chars: int) -> WordText:
    """The body paragraphs' text and the title (core properties, else the first heading);
    reading stops once the text passes ``max_chars``."""
    with zipfile.ZipFile(path) as archive:
        package = _Package(archive, budget)
        root = package.targets("_rels/.rels")
        document = root.get("officeDocument", "word/document.xml")
        related = package.targets(_rels_of(document), base=document)
        styles = package.styles(related.get("styles"))
        title = package.title(root.get("core-properties"))
        paragraphs: list[str] = []
        heading = ""
        chars = -2  # the length of the paragraphs joined by blank lines
        for text, style in _paragraphs(package.open(document), styles):
            if not text.strip():
                continue
            paragraphs.append(text.strip())
            if not heading and style.lower().startswith(("heading", "title")):
                heading = text
            chars += len(paragraphs[-1]) + 2
            if chars > max_chars:
                break  # the caller refuses the file: no need to read the rest
    return WordText(paragraphs, title or heading)


class _Package:
    """The parts of an open zip, each read through the budget."""

    def __init__(self, archive: zipfile.ZipFile, budget: Budget) -> None:
        self.archive, self.budget = archive, budget
        self.names = set(archive.namelist())

    def open(self, name: str) -> _Counted:
        if name not in self.names:
            raise WordError(f"its part {name} is missing")
        return _Counted(name, self.archive.open(name), self.budget)

    def targets(self, rels: str, base: str = "") -> dict[str, str]:
        """Relationship type (its last word) -> part name, from a relationships part."""
        if rels not in self.names:
            return {}
        found: dict[str, str] = {}
        for _, element in ElementTree.iterparse(self.open(rels)):
            if element.tag == RELS and element.get("TargetMode") != "External":
                kind = str(element.get("Type", "")).rsplit("/", 1)[-1]
                found.setdefault(kind, _resolve(base, str(element.get("Target", ""))))
        return found

    def styles(self, name: str | None) -> dict[str, str]:
        """Style id -> style name; the default paragraph style under the id ""."""
        if name is None or name not in self.names:
            return {}
        names: dict[str, str] = {}
        for _, element in ElementTree.iterparse(self.open(name)):
            if element.tag != f"{W}style":
                continue
            label = element.find(f"{W}name")
            style = str(label.get(f"{W}val", "")) if label is not None else ""
            names[str(element.get(f"{W}styleId", ""))] = style
            default = element.get(f"{W}default") in ("1", "true")
            if default and element.get(f"{W}type") == "paragraph":
                names[""] = style
            element.clear()
        return names

    def title(self, name: str | None) -> str:
        if name is None or name not in self.names:
            return ""
        for _, element in ElementTree.iterparse(self.open(name)):
            if element.tag == TITLE:
                return (element.text or "").strip()
        return ""


def _rels_of(part: str) -> str:
    """The relationships part of ``part`` ("word/_rels/document.xml.rels")."""
    path = PurePosixPath(part)
    return str(path.parent / "_rels" / f"{path.name}.rels").lstrip("./")


def _resolve(base: str, target: str) -> str:
    """A relationship's target as a part name, relative to its source part ``base``."""
    if target.startswith("/"):
        return target.lstrip("/")
    parts: list[str] = list(PurePosixPath(base).parent.parts) if base else []
    for piece in PurePosixPath(target).parts:
        if piece == "..":
            parts = parts[:-1]
        elif piece != ".":
            parts.append(piece)
    return "/".join(parts)


def _paragraphs(stream: _Counted, styles: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(text, style name) of each paragraph directly in the body, in order; every element is
    dropped once read, so memory holds one paragraph at a time."""
    depth = 0
    body: ElementTree.Element | None = None
    for event, element in ElementTree.iterparse(stream, events=("start", "end")):
        if event == "start":
            depth += 1
            if depth == 2 and element.tag == f"{W}body":
                body = element
            continue
        depth -= 1
        if depth == 2 and body is not None:  # a child of the body is complete
            if element.tag == f"{W}p":
                yield _text(element), _style(element, styles)
            body.remove(element)


def _style(paragraph: ElementTree.Element, styles: dict[str, str]) -> str:
    found = paragraph.find(f"{W}pPr/{W}pStyle")
    style_id = str(found.get(f"{W}val", "")) if found is not None else ""
    return styles.get(style_id, styles.get("", ""))


def _text(paragraph: ElementTree.Element) -> str:
    """The text of a paragraph's runs, its links' and tracked insertions' runs included."""
    pieces = []
    for run in paragraph.iterfind(f".//{W}r"):
        for item in run:
            if item.tag == f"{W}t":
                pieces.append(item.text or "")
            else:
                pieces.append(RUN_TEXT.get(item.tag, ""))
    return "".join(pieces)
