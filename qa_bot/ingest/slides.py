"""PowerPoint (.pptx) decks, one part per slide ("slide 3"): its title, the text of its shapes
in order (grouped shapes too), its tables a row at a time (each value after its column's
header, within the limits spreadsheets have) and its speaker notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pptx
from pptx.shapes.group import GroupShape

from qa_bot.ingest.loaders import LoadError, Part, Place, reading_limits
from qa_bot.ingest.sheets import Tally, row_texts


def load_pptx(path: Path) -> list[Part]:
    """Each slide's text, titled by the deck's title (core properties) or its first slide's."""
    tally = Tally(reading_limits())
    try:
        deck = pptx.Presentation(str(path))
        slides = [_slide_text(slide, tally) for slide in deck.slides]
        title = deck.core_properties.title or next((t for t, _ in slides if t), "")
    except Exception as err:  # zipfile, the XML parser and python-pptx raise many types
        raise LoadError(f"it is not a readable PowerPoint file ({type(err).__name__})") from err
    return [(text, title, Place("slide", n)) for n, (_, text) in enumerate(slides, 1)]


def _slide_text(slide: Any, tally: Tally) -> tuple[str, str]:
    """A slide's title, and its whole text: the title, its shapes' text, its notes."""
    heading = slide.shapes.title
    title = heading.text_frame.text.strip() if heading is not None else ""
    skip = heading.shape_id if heading is not None else None
    blocks = [title] + [
        text for shape in slide.shapes if shape.shape_id != skip for text in _texts(shape, tally)
    ]
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        blocks.append(slide.notes_slide.notes_text_frame.text)
    return title, "\n\n".join(b.replace("\v", "\n").strip() for b in blocks if b.strip())


def _texts(shape: Any, tally: Tally) -> list[str]:
    """The text a shape shows: a group's shapes in order, a text frame, a table's rows."""
    if isinstance(shape, GroupShape):
        return [text for inner in shape.shapes for text in _texts(inner, tally)]
    if shape.has_text_frame:
        return [shape.text_frame.text]
    if getattr(shape, "has_table", False):
        rows = ([cell.text for cell in row.cells] for row in shape.table.rows)
        return ["\n".join(text for _, text in row_texts(rows, tally))]
    return []
