"""PDF files, a part per page: the text layer where a page has one (pypdf), else the page read by
OCR (``ocr.py``), marked as such."""

from __future__ import annotations

from pathlib import Path

import pypdf

from qa_bot.ingest.loaders import LoadError, Part, Place, read_in_part, reading_limits
from qa_bot.ingest.ocr import scanned_pages, unavailable

MIN_TEXT = 16
"""Fewer visible characters than this on a page (none, or a page number) and it is read by OCR:
a scan, whose text is in its picture."""


def load_pdf(path: Path) -> list[Part]:
    """Each page's text, titled by the PDF's title; pages without a text layer read by OCR."""
    title, texts = _text_layer(path)
    scanned = [n for n, text in enumerate(texts, 1) if len("".join(text.split())) < MIN_TEXT]
    pages: list[Part] = [(text, title, n) for n, text in enumerate(texts, 1)]
    if not scanned:
        return pages
    why = unavailable(reading_limits())
    if why and len(scanned) == len(texts):
        raise LoadError(f"it is a scanned PDF: {why}")
    if why:
        read_in_part(f"{len(scanned)} scanned pages left out: {why}")
        return pages
    for n, text in scanned_pages(path, scanned):
        pages[n - 1] = (text, title, Place("page", n, ocr=True))
    return pages


def _text_layer(path: Path) -> tuple[str, list[str]]:
    """The PDF's title and the text layer of each page ("" where a page has none)."""
    try:
        reader = pypdf.PdfReader(path)
        locked = reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED
        if locked:  # the empty password opens a PDF that only has an owner password
            raise LoadError("it is a password-protected PDF (remove the password to ingest it)")
        title = (reader.metadata.title if reader.metadata else None) or ""
        return title, [page.extract_text() or "" for page in reader.pages]
    except LoadError:
        raise
    except pypdf.errors.DependencyError as err:  # AES without the cryptography package
        raise LoadError(f"it is an encrypted PDF this install cannot decrypt ({err})") from err
    except Exception as err:  # pypdf raises many types for broken files
        raise LoadError(
            f"it is not a readable PDF: damaged or truncated ({err}); export it again to ingest it"
        ) from err
