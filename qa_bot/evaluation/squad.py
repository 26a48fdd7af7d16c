"""Import the official SQuAD 2.0 JSON format: paragraphs become corpus documents, questions
become cases whose gold source is the document of their paragraph."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from qa_bot.errors import CorpusError


@dataclass(frozen=True)
class SquadParagraph:
    """One paragraph, as the corpus document ``source`` (relative to the corpus folder)."""

    source: str
    title: str
    index: int
    text: str


@dataclass(frozen=True)
class SquadQuestion:
    """One question; ``answers`` is empty when it is unanswerable (``is_impossible``)."""

    id: str
    question: str
    answers: tuple[str, ...]
    source: str

    @property
    def answerable(self) -> bool:
        """False for SQuAD 2.0's unanswerable questions."""
        return bool(self.answers)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "article"


def load_squad(path: Path) -> tuple[list[SquadParagraph], list[SquadQuestion]]:
    """Paragraphs and questions of a SQuAD 2.0 file (``{"data": [{"title", "paragraphs"}]}``)."""
    try:
        articles = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CorpusError(f"{path} is not a readable SQuAD 2.0 JSON file: {err}") from err
    paragraphs, questions = [], []
    for article in articles:
        slug = _slug(article["title"])
        for index, paragraph in enumerate(article["paragraphs"]):
            # the file name becomes the document's title: "Rhine paragraph 003"
            name = article["title"].replace("/", "-")
            source = f"{slug}/{name} paragraph {index:03d}.txt"
            paragraphs.append(SquadParagraph(source, article["title"], index, paragraph["context"]))
            questions += [
                SquadQuestion(
                    qa["id"],
                    qa["question"],
                    tuple(a["text"] for a in qa.get("answers", [])),
                    source,
                )
                for qa in paragraph["qas"]
            ]
    return paragraphs, questions


def write_corpus(paragraphs: list[SquadParagraph], folder: Path) -> None:
    """Write each paragraph as a text file at its ``source`` under ``folder``."""
    for paragraph in paragraphs:
        path = folder / paragraph.source
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(paragraph.text + "\n", encoding="utf-8")
