"""Sentence choice on held-out questions: the scorer, the reader, and their mix.

    python -m bench.reader_choice qa_bot/reader/weights/reader.safetensors [other weights…]

For each weights file and each held-out set (the documentation questions' held-out sources;
every third answerable question of the held-out SQuAD articles), the share of questions whose
answering sentence ranks first among its paragraph's and two distractor paragraphs' sentences,
when sentences are ranked by ``w`` × the reader's probability + (1 − ``w``) × the scorer's match
(``READER_WEIGHT`` is the answerer's ``w``). The machine and the command are printed with it.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from qa_bot.answer.extractive import ExtractiveAnswerer
from qa_bot.config import Settings
from qa_bot.reader.reader import Reader, load_net
from qa_bot.storage.embeddings import load_embeddings
from training.data import Question, load_articles, questions, split, split_documentation
from training.documentation import QUESTIONS

SQUAD_TRAIN = (
    Path(__file__).resolve().parent.parent.parent / "shared/benchmarks/squad2-dev-train.json"
)
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def held_out(squad: Path) -> dict[str, list[Question]]:
    """The held-out answerable questions of both domains."""
    articles = split(load_articles(squad))[1]
    return {
        "documentation": questions(split_documentation(QUESTIONS)[1]),
        "squad": [q for q in questions(articles) if q.gold is not None][::3],
    }


def first_choices(scorer: ExtractiveAnswerer, reader: Reader, asked: list[Question]) -> list[float]:
    """For each mix weight, the share of questions whose answering sentence ranks first."""
    hits = np.zeros(len(WEIGHTS))
    for q in asked:
        match = scorer.match(q.question, [text for text, _ in q.candidates])
        read = np.array([r.answers for r in reader.read(q.question, q.candidates)])
        hits += [int(np.argmax(w * read + (1 - w) * match)) == q.gold for w in WEIGHTS]
    return list(hits / len(asked))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs="+")
    parser.add_argument("--squad", type=Path, default=SQUAD_TRAIN)
    args = parser.parse_args()
    scorer = ExtractiveAnswerer(load_embeddings(Settings().store), min_support=0.0)
    sets = held_out(args.squad)
    table = Table(
        title=f"answering sentence first, on {platform.machine()}, {platform.python_version()}"
    )
    for column in ["weights", "held-out set", "questions", *(f"w = {w}" for w in WEIGHTS)]:
        table.add_column(column)
    for path in args.weights:
        reader = Reader(*load_net(path))
        for name, asked in sets.items():
            shares = first_choices(scorer, reader, asked)
            table.add_row(
                f"{path.parent.name}/{path.name}",
                name,
                str(len(asked)),
                *(f"{s:.3f}" for s in shares),
            )
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
