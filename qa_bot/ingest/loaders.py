"""Turn one file into documents (text + source, title, page), one loader per format."""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import charset_normalizer
from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag
from langchain_core.documents import Document

from qa_bot.config import IngestSettings
from qa_bot.ingest.split import split_documents
from qa_bot.ingest.word import MAX_OFFICE_PARTS, MAX_PARTS, Budget, WordError, parts, read_docx
from qa_bot.registry import LOADERS


@dataclass(frozen=True)
class Place:
    """Where a part lies when it is not a page: ``number`` after ``label`` ("slide" 2, "Sheet
    Sales, row" 14), kept as the chunk's ``page`` and ``page_label``."""

    label: str
    number: int
    ocr: bool = False  # the text was read by OCR from a picture of the page


Part = tuple[str, str, int | Place | None]
"""What a format loader returns per document: (text, title, page or place)."""

MB = 1024 * 1024
"""Bytes in the MB of the size limits."""
ZIPPED = {
    ".docx": ("Word", MAX_PARTS),
    ".pptx": ("PowerPoint", MAX_OFFICE_PARTS),
    ".xlsx": ("Excel", MAX_OFFICE_PARTS),
}
"""Formats that are zip archives, checked against ``max_unpacked_mb`` before they are opened:
the kind of file each is (for messages) and the most parts it may have."""
ENCODINGS = """utf_8 utf_16 utf_32 cp1252 latin_1 iso8859_15 cp1250 iso8859_2 cp1251 koi8_r cp1253
cp1254 cp1255 cp1256 cp1257 cp1258 cp874 cp932 euc_jp iso2022_jp gb18030 big5 cp949""".split()
"""What charset-normalizer chooses among: Unicode, the Windows and ISO alphabets, Japanese,
Chinese, Korean. DOS, Mac and EBCDIC code pages are left out: on a short text they pass for
Windows-1252 (its “quotes” read as Baltic DOS ōquotesö)."""
NO_TEXT = (
    "it holds no text (empty, or a scan in which OCR found no readable line: scan it again at "
    "300 dpi to ingest it)"
)
MAX_RATIO = 200
"""A part larger than 1 MB that compresses better than this (deflate's best is about 1000:1)
is taken for a zip bomb; Word's XML compresses about 10:1."""


@dataclass
class _Reading:
    """The file ``load_file`` is loading: its limits, and why it was read only in part."""

    limits: IngestSettings
    cut: list[str] = field(default_factory=list)


_READING: ContextVar[_Reading | None] = ContextVar("ingest_reading", default=None)
"""The file being loaded, for loaders that budget as they read."""


class LoadError(Exception):
    """A file that cannot be ingested; the message says why, in a few words."""


def reading_limits() -> IngestSettings:
    """The limits of the file being loaded (the default settings outside ``load_file``)."""
    reading = _READING.get()
    return reading.limits if reading else IngestSettings()


def read_in_part(why: str) -> None:
    """Say that the file being loaded is ingested only in part, and why (a few words naming
    the setting to raise); the ingestion report shows it."""
    reading = _READING.get()
    if reading is not None:
        reading.cut.append(why)


def _read_text(path: Path) -> str:
    """The file's text, in the encoding charset-normalizer detects (``decode_text``)."""
    return decode_text(path.read_bytes())


def decode_text(data: bytes) -> str:
    """Text in the encoding charset-normalizer detects (``detect_encoding``)."""
    return str(_best_reading(data))


def detect_encoding(sample: bytes) -> str:
    """The codec of a text whose beginning is ``sample`` (``decode_text``'s choice), as
    Python names it; a UTF-8 BOM is dropped when reading with it."""
    encoding: str = _best_reading(sample).encoding
    return "utf_8_sig" if encoding == "utf_8" else encoding


def _best_reading(data: bytes) -> charset_normalizer.CharsetMatch:
    """charset-normalizer's reading of ``data`` (a BOM or a declared charset wins); between
    readings it finds equally likely, Windows-1252, the common Western one."""
    matches = charset_normalizer.from_bytes(data, cp_isolation=ENCODINGS)
    best = matches.best()
    if best is None or (b"\x00" in data and not best.bom):  # NULs only in BOM-marked UTF-16/32
        raise LoadError("it looks like a binary file, not text")
    tied = (
        m
        for m in matches
        if abs(m.chaos - best.chaos) < 0.005 and abs(m.coherence - best.coherence) <= 0.02
    )  # charset-normalizer's own tie: chaos within 0.5%, coherence within 2%
    return next((m for m in tied if m.encoding == "cp1252"), best)


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= 150 else ""


def load_text(path: Path) -> list[Part]:
    text = _read_text(path)
    return [(text, _first_line(text), None)]


def load_markdown(path: Path) -> list[Part]:
    text = _read_text(path)
    heading = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    return [(text, heading.group(1) if heading else _first_line(text), None)]


_BLOCKS = """address article aside blockquote br details div dl figcaption figure footer form
h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table td th tr ul""".split()
"""Elements that start a new line; text inside any other element flows on (<dt> starts one too,
and its <dd> follows on the same line when it is one paragraph)."""
_CHROME = (
    "script, style, noscript, template, nav, footer, [role=navigation], [role=search], "
    "[role=contentinfo], div.footer, .headerlink"
)
"""What a page shows around its content: code, site navigation, search boxes, footers (copyright
and licence lines), "¶" anchors."""


def load_html(path: Path) -> list[Part]:
    text, title = html_text(_read_text(path))
    return [(text, title, None)]


def html_text(markup: str) -> tuple[str, str]:
    """The text of an HTML page as a browser lays it out, without what surrounds its content
    (``_CHROME``), and its title."""
    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.select(_CHROME):
        tag.decompose()
    title_tag = soup.find("title") or soup.find("h1")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    text = "".join(_html_pieces(soup.body or soup))
    lines = (line.strip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip(), title


_END = object()
"""Marks, on the walk's stack, where an element ends (what follows it is pushed before)."""


def _html_pieces(root: Tag | BeautifulSoup) -> list[str]:
    """The text of ``root`` as a browser lays it out, in one walk of the tree (linear: the
    tree is never changed): blocks on lines of their own, whitespace collapsed outside <pre>,
    a one-paragraph <dd> on its term's line; comments, doctype and CDATA dropped."""
    out: list[str] = []
    stack: list[Any] = [root]
    in_pre = 0
    inline: set[int] = set()  # the <p> of a one-paragraph <dd>: no lines of its own
    while stack:
        node = stack.pop()
        if node is _END:
            after, pre = stack.pop()
            out.append(after)
            in_pre -= pre
        elif isinstance(node, PreformattedString):
            continue  # comments, doctype, CDATA, processing instructions: never shown
        elif isinstance(node, NavigableString):
            out.append(str(node) if in_pre else re.sub(r"\s+", " ", node))
        elif isinstance(node, Tag):
            before, after = _html_breaks(node, inline, out)
            pre = int(node.name == "pre")
            in_pre += pre
            out.append(before)
            stack += [(after, pre), _END, *reversed(node.contents)]
    return out


def _html_breaks(tag: Tag, inline: set[int], out: list[str]) -> tuple[str, str]:
    """What comes before and after ``tag``'s text: a line break around a block, a <dt>'s new
    line, a <dd> on its term's line when it holds one paragraph."""
    if tag.name == "dd":
        paragraphs = [child for child in tag.children if isinstance(child, Tag)]
        one_line = len(paragraphs) == 1 and paragraphs[0].name == "p"
        if one_line:
            inline.add(id(paragraphs[0]))
        while out and out[-1].isspace() and "\n" not in out[-1]:
            out.pop()  # the gap between the term and its value
        return (" " if one_line else "\n"), "\n"
    if tag.name == "dt":
        return "\n", ""
    if tag.name in _BLOCKS and id(tag) not in inline:
        return "\n", "\n"
    return "", ""


def load_docx(path: Path) -> list[Part]:
    limits = reading_limits()
    budget = Budget(part=int(limits.max_part_mb * MB), left=int(limits.max_unpacked_mb * MB))
    try:
        word = read_docx(path, budget, max_chars=int(limits.max_text_mb * MB))
    except WordError as err:
        raise LoadError(str(err)) from err
    except Exception as err:  # zipfile and the XML parser raise many types for broken files
        raise LoadError(f"it is not a readable Word file ({type(err).__name__})") from err
    return [("\n\n".join(word.paragraphs), word.title, None)]


def _check_size(path: Path, limits: IngestSettings) -> None:
    """Refuse what is not a regular file, is empty, or is larger than ``max_file_mb``."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise LoadError("it is not a regular file")
    if info.st_size == 0:
        raise LoadError("it is empty (0 bytes)")
    if info.st_size > limits.max_file_mb * MB:
        raise LoadError(
            f"it is {info.st_size / MB:.1f} MB, over the {limits.max_file_mb:g} MB limit "
            "(raise QA_BOT_INGEST__MAX_FILE_MB to ingest it)"
        )


def _check_unpacked(path: Path, suffix: str, limits: IngestSettings) -> None:
    """Refuse a zip (a ``ZIPPED`` format) with too many parts, or whose parts claim to
    unpack past ``max_unpacked_mb`` or compress absurdly well: a quick refusal from the zip's
    directory. Python's zipfile never inflates a part past the size the directory gives it;
    the Word reader also counts what each part really unpacks to (``word.Budget``)."""
    kind, most = ZIPPED[suffix]
    try:
        listed = parts(path, kind, most)
    except WordError as err:
        raise LoadError(str(err)) from err
    except (zipfile.BadZipFile, ValueError, EOFError) as err:
        raise LoadError(f"it is not a readable {kind} file (not a zip archive)") from err
    unpacked = sum(part.file_size for part in listed)
    if unpacked > limits.max_unpacked_mb * MB:
        raise LoadError(
            f"it unpacks to {unpacked / MB:.1f} MB, over the {limits.max_unpacked_mb:g} MB "
            "limit (raise QA_BOT_INGEST__MAX_UNPACKED_MB to ingest it)"
        )
    for part in listed:
        if part.file_size > max(MB, MAX_RATIO * part.compress_size):
            ratio = part.file_size // max(part.compress_size, 1)
            raise LoadError(f"its part {part.filename} is compressed {ratio}:1, like a zip bomb")


def _check_text(loaded: list[Part], limits: IngestSettings) -> None:
    """Refuse a file holding more text than ``max_text_mb``: what one file may cost in
    embedding time (loaders that stream stop reading past it)."""
    if sum(len(text) for text, _, _ in loaded) > limits.max_text_mb * MB:
        raise LoadError(
            f"it holds more than {limits.max_text_mb:g} MB of text, more than this machine "
            "embeds in a few minutes (raise QA_BOT_INGEST__MAX_TEXT_MB to ingest it)"
        )


def is_supported(path: Path) -> bool:
    """True when a loader is registered for this file's format."""
    return path.suffix.lower() in LOADERS.names()


def supported_formats() -> str:
    """The registered formats, for messages: ".txt, .md, …"."""
    return ", ".join(LOADERS.names())


@dataclass
class Loaded:
    """One file's documents (or chunks), and why it was read only in part (None: whole)."""

    documents: list[Document]
    cut: str | None = None


def read_file(
    path: Path,
    source: str,
    limits: IngestSettings | None = None,
    loader: Callable[[Path], list[Part]] | None = None,
) -> Loaded:
    """Load ``path`` as documents whose metadata names ``source``, its title and page (and
    the page's label, for a ``Place``), with why it was read only in part, if it was.

    Raises LoadError when the file is unreadable, too large, corrupt, binary or holds no text;
    ``limits`` (default: the default settings) caps its size and, for a zip, its unpacked size.
    ``loader`` reads the format (default: the one registered for its extension).
    """
    reading = _Reading(limits or IngestSettings())
    suffix = path.suffix.lower()
    token = _READING.set(reading)
    try:
        _check_size(path, reading.limits)
        if suffix in ZIPPED:
            _check_unpacked(path, suffix, reading.limits)
        loaded: list[Part] = (loader or LOADERS.get(suffix))(path)
    except PermissionError as err:
        raise LoadError("it cannot be read (permission denied)") from err
    except OSError as err:
        raise LoadError(f"it cannot be read ({err.strerror or err})") from err
    finally:
        _READING.reset(token)
    _check_text(loaded, reading.limits)
    documents = [_document(part, source, path) for part in loaded if part[0].strip()]
    if not documents:
        raise LoadError(NO_TEXT)
    return Loaded(documents, "; ".join(reading.cut) or None)


def _document(part: Part, source: str, path: Path) -> Document:
    """A loader's part as a document of ``source`` (its title, else the file's name)."""
    text, title, page = part
    metadata: dict[str, str | int] = {"source": source, "title": title.strip() or path.stem}
    if isinstance(page, Place):
        metadata["page"], metadata["page_label"] = page.number, page.label
        if page.ocr:
            metadata["ocr"] = True
    elif page is not None:
        metadata["page"] = page
    return Document(page_content=text, metadata=metadata)


def load_file(
    path: Path,
    source: str,
    limits: IngestSettings | None = None,
    loader: Callable[[Path], list[Part]] | None = None,
) -> list[Document]:
    """``read_file``'s documents alone."""
    return read_file(path, source, limits, loader).documents


def load_chunks(
    path: Path, source: str, limits: IngestSettings, loader: Callable[[Path], list[Part]]
) -> Loaded:
    """``read_file`` split into chunks: what a worker process returns for one file
    (``workers.run``)."""
    loaded = read_file(path, source, limits, loader)
    chunks = split_documents(loaded.documents, limits.chunk_size, limits.chunk_overlap)
    return Loaded(chunks, loaded.cut)
