"""The answerer's refusal, calibrated through the whole pipeline on each held-out set (the
held-out SQuAD articles; the documentation questions' held-out sources): a set is ingested as a
corpus, each question is retrieved and scored as in an answer, and the reader reads the best
sentences. The veto is chosen on the refusal curve this traces: the highest probability at which
every set still answers ``ANSWERED`` of its answerable questions; the answerability model
(``training.answerability``) is fitted on the same readings, answerable and not.

    python -m training.calibrate --data ../shared/benchmarks/squad2-dev-train.json
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import track

from qa_bot.answer.extractive import ExtractiveAnswerer
from qa_bot.chain import QaChain
from qa_bot.config import Settings
from qa_bot.errors import QaBotError
from qa_bot.evaluation.squad import SquadQuestion, load_squad, write_corpus
from qa_bot.ingest import ingest
from qa_bot.reader.answerability import features
from qa_bot.reader.reader import WEIGHTS, Reader, load_net
from qa_bot.storage.store import Store
from training.answerability import fit_answerability
from training.data import VALIDATION, Article, load_articles, split, split_documentation
from training.documentation import QUESTIONS
from training.validation import card_of, write_card

ANSWERED = 0.90
"""The operating point: share of each held-out set's answerable questions the veto keeps
answering, counted over all of them (those the scorer already refuses count as unanswered). A
higher veto refuses more near misses and fewer answers; the reader's validation states its
refusal at 90% answered too."""
CURVE = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
"""Vetoes at which the card reports the refusal curve."""


@dataclass
class Read:
    """A held-out question the scorer answers, as the reader read its best sentences."""

    answerable: bool
    group: str
    """Its article (or held-out set): the unit of cross-validation."""
    best: float
    """The reader's best probability among the sentences it read."""
    features: np.ndarray
    """``qa_bot.reader.answerability.features`` of its reading."""


@dataclass
class HeldOut:
    """A held-out set as the pipeline read it: the questions the scorer answers, and how many
    questions it asked, answerable and not."""

    reads: list[Read]
    answerable: int
    unanswerable: int

    def best(self, answerable: bool) -> np.ndarray:
        """The best probability of each answered question, answerable or not."""
        return np.array([r.best for r in self.reads if r.answerable == answerable])

    def answered(self, veto: float) -> float:
        """Share of the answerable questions still answered at ``veto``."""
        return float((self.best(True) >= veto).sum() / max(1, self.answerable))

    def refused(self, veto: float) -> float | None:
        """Share of the unanswerable questions refused at ``veto`` (None when it has none)."""
        if not self.unanswerable:
            return None
        return 1 - float((self.best(False) >= veto).sum() / self.unanswerable)

    def point(self, veto: float) -> tuple[float, float, float | None]:
        """The refusal curve at ``veto``: the veto, answered and refused shares (rounded)."""
        refused = self.refused(veto)
        return veto, round(self.answered(veto), 4), None if refused is None else round(refused, 4)

    def veto(self) -> float:
        """The highest veto at which ``ANSWERED`` of the answerable questions are answered (0
        when the scorer alone answers fewer)."""
        best = np.sort(self.best(True))[::-1]
        needed = math.ceil(ANSWERED * self.answerable)
        return math.floor(float(best[needed - 1]) * 1e4) / 1e4 if needed <= len(best) else 0.0


def ingested(
    articles: list[Article], workdir: Path
) -> tuple[QaChain, list[SquadQuestion], dict[str, str]]:
    """A held-out set ingested as a corpus in ``workdir`` behind the real chain (which
    retrieves; the reader being measured reads), its questions, and each question's article."""
    held_out = workdir / "held-out.json"
    held_out.write_text(json.dumps({"data": articles}), encoding="utf-8")
    paragraphs, questions = load_squad(held_out)
    article_of = {q["id"]: a["title"] for a in articles for p in a["paragraphs"] for q in p["qas"]}
    write_corpus(paragraphs, workdir / "corpus")
    settings = Settings().updated(
        store={"data_dir": str(workdir / "index")}, answer={"reader": False}
    )
    store = Store.open(settings)
    ingest(store, workdir / "corpus")
    return QaChain(store, settings), questions, article_of


def read_held_out(articles: list[Article], weights: Path, workdir: Path, group: str) -> HeldOut:
    """Every question of ``articles`` the scorer answers, as the pipeline reads it: the set is
    ingested as a corpus, each question retrieved and scored as in an answer, and the reader
    reads the best sentences the answerer has it read. ``group`` names the set when it has no
    articles of its own to cross-validate over."""
    chain, questions, article_of = ingested(articles, workdir)
    answerer = ExtractiveAnswerer(  # as in an answer, with no veto yet
        chain.store.sentence_embeddings,
        chain.settings.answer.reader_min_support,
        reader=Reader(*load_net(weights)),
        veto=0.0,
    )
    found = []
    for question in track(questions, f"reading the held-out {group} questions"):
        read = answerer.supported(question.question, chain.retrieve(question.question))
        if not read:
            continue
        found.append(
            Read(
                question.answerable,
                group if group != "squad" else article_of[question.id],
                max(c.answers for c in read),
                features(question.question, [c.context for c in read], [c.reading for c in read]),
            )
        )
    answerable = sum(q.answerable for q in questions)
    return HeldOut(found, answerable, len(questions) - answerable)


def held_out_sets(data: Path, documentation: Path = QUESTIONS) -> dict[str, list[Article]]:
    """The held-out sets by name: the SQuAD articles kept out of ``data``'s training, and the
    documentation questions' held-out sources."""
    return {
        "squad": split(load_articles(data))[1],
        "documentation": split_documentation(documentation)[1],
    }


def calibrate(
    data: Path, weights: Path = WEIGHTS, documentation: Path = QUESTIONS
) -> dict[str, Any]:
    """Compute the veto and the answerability model for ``weights`` and write them into their
    card and MODEL_CARD.md."""
    sets: dict[str, HeldOut] = {}
    for name, articles in held_out_sets(data, documentation).items():
        with tempfile.TemporaryDirectory() as tmp:
            sets[name] = read_held_out(articles, weights, Path(tmp), name)
    if not all(len(found.best(True)) for found in sets.values()):
        raise QaBotError(
            "The scorer answered none of a held-out set's questions: no veto to calibrate."
        )
    vetoes = {name: found.veto() for name, found in sets.items()}
    veto = min(vetoes.values())
    card_path = card_of(weights)
    card: dict[str, Any] = json.loads(card_path.read_text(encoding="utf-8"))
    card |= {
        "veto": veto,
        "veto_answered": ANSWERED,
        "veto_questions": sum(found.answerable for found in sets.values()),
        "veto_by_set": vetoes,
        "refusal_curve": {
            name: [found.point(v) for v in sorted({*CURVE, veto})] for name, found in sets.items()
        },
        "answerability": fit_answerability([r for found in sets.values() for r in found.reads]),
    }
    write_card(card, weights)
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/benchmarks/squad2-dev-train.json")
    )
    parser.add_argument("--documentation", type=Path, default=QUESTIONS)
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    card = calibrate(args.data, args.weights, args.documentation)
    print(
        f"veto {card['veto']} over {card['veto_questions']} questions "
        f"({card['veto_by_set']}; SQuAD: {', '.join(VALIDATION)})"
    )


if __name__ == "__main__":
    main()
