"""Turn one file into documents (text + source, title, page), one loader per format."""

from __future__ import annotations

import re
from pathlib import Path

import docx
import pypdf
from bs4 import BeautifulSoup
from langchain_core.documents import Document

from qa_bot.registry import LOADERS

Part = tuple[str, str, int | None]
"""What a format loader returns per document: (text, title, page)."""


class LoadError(Exception):
    """A file that cannot be ingested; the message says why, in a few words."""


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise LoadError("it looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise LoadError(f"it is not UTF-8 text (bad byte at position {err.start})") from err


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


def load_html(path: Path) -> list[Part]:
    soup = BeautifulSoup(_read_text(path), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title_tag = soup.find("title") or soup.find("h1")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    body = soup.body or soup
    lines = (line.strip() for line in body.get_text("\n").splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return [(text, title, None)]


def load_pdf(path: Path) -> list[Part]:
    try:
        reader = pypdf.PdfReader(path)
        title = (reader.metadata.title if reader.metadata else None) or ""
        pages: list[Part] = [
            (page.extract_text() or "", title, n) for n, page in enumerate(reader.pages, 1)
        ]
    except Exception as err:  # pypdf raises many types for broken files
        raise LoadError(f"it is not a readable PDF ({type(err).__name__}: {err})") from err
    return pages


def load_docx(path: Path) -> list[Part]:
    try:
        document = docx.Document(str(path))
    except Exception as err:  # python-docx raises zip, xml and value errors for broken files
        raise LoadError(f"it is not a readable Word file ({type(err).__name__})") from err
    paragraphs = [p for p in document.paragraphs if p.text.strip()]
    heading = next(
        (p.text for p in paragraphs if p.style and p.style.name.startswith(("Heading", "Title"))),
        "",
    )
    title = document.core_properties.title or heading
    return [("\n\n".join(p.text.strip() for p in paragraphs), title, None)]


def is_supported(path: Path) -> bool:
    """True when a loader is registered for this file's format."""
    return path.suffix.lower() in LOADERS.names()


def supported_formats() -> str:
    """The registered formats, for messages: ".txt, .md, …"."""
    return ", ".join(LOADERS.names())


def load_file(path: Path, source: str) -> list[Document]:
    """Load ``path`` as documents whose metadata names ``source``, its title and page.

    Raises LoadError when the file is unreadable, corrupt, binary or holds no text.
    """
    try:
        parts: list[Part] = LOADERS.get(path.suffix.lower())(path)
    except PermissionError as err:
        raise LoadError("it cannot be read (permission denied)") from err
    except OSError as err:
        raise LoadError(f"it cannot be read ({err.strerror or err})") from err
    documents = []
    for text, title, page in parts:
        if not text.strip():
            continue
        metadata: dict[str, str | int] = {"source": source, "title": title.strip() or path.stem}
        if page is not None:
            metadata["page"] = page
        documents.append(Document(page_content=text, metadata=metadata))
    if not documents:
        raise LoadError("it holds no text (empty, or a scanned PDF without a text layer)")
    return documents
