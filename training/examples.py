"""The reader's training examples: each question of the training files with its paragraph's
sentences, where the answer lies, its hardest sentence elsewhere in the article, and its made
near misses. Sentence splitting and spaCy take minutes on all the data, so the examples are
made once per data set and kept in the training folder.

Per epoch, ``pairs`` draws the (question, sentence) pairs the reader trains on:

- the answering sentence, with the short answer's span (for SQuAD 2.0's unanswerable
  questions, the sentence holding the plausible answer, as a sentence that does not answer);
- one other sentence of the paragraph, drawn fresh each epoch;
- the sentence of another paragraph of the article sharing the most words with the question
  (as retrieval would bring it);
- each made near miss (``training.nearmiss``) against the answering sentence, as not answering.

SQuAD 1.1 answers whose text occurs more than once in the paragraph carry a guessed offset
(``answer_starts_all``): the question is kept when every occurrence lies in one sentence (that
sentence answers, whichever occurrence was meant) and dropped otherwise.
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import track

from qa_bot.storage.digest import sha256
from qa_bot.text import Span, sentence_spans, stems
from training.data import Article, containing, gold_sentence, sentence_before
from training.nearmiss import NearMiss, article_names, near_misses, spacy_pipeline

FORMAT = 1
"""Bumped when the examples change shape or content: older cached files are made again."""


@dataclass
class Pair:
    """A question and one candidate sentence, with whether it answers and where the short
    answer lies in it (characters)."""

    question: str
    sentence: str
    before: str
    answers: bool
    span: tuple[int, int] | None = None


@dataclass
class Example:
    """One training question and what its pairs are drawn from."""

    question: str
    sentences: list[tuple[str, str]]
    """The paragraph's sentences, each with the sentence before it."""
    gold: int
    """The answering sentence (for an unanswerable question, the one holding the plausible
    answer)."""
    answers: bool
    span: tuple[int, int] | None
    elsewhere: tuple[str, str] | None
    made: list[NearMiss] = field(default_factory=list)


@dataclass
class Prepared:
    """The examples of some training files, and what was kept and dropped on the way."""

    examples: list[Example]
    counts: Counter[str]


def prepare(articles: list[Article], seed: int) -> Prepared:
    """The examples of ``articles`` (near misses made for answerable questions)."""
    rng = random.Random(seed)
    nlp = spacy_pipeline()
    counts: Counter[str] = Counter()
    examples: list[Example] = []
    for article in track(articles, description="Preparing training questions"):
        contexts = [p["context"] for p in article["paragraphs"]]
        names = article_names(nlp.pipe(contexts, disable=["parser", "lemmatizer"]))
        paragraphs = [sentence_spans(c) for c in contexts]
        pool = [
            (m, s.text, sentence_before(sentences, i), stems(s.text))
            for m, sentences in enumerate(paragraphs)
            for i, s in enumerate(sentences)
        ]
        asked = [(n, qa) for n, p in enumerate(article["paragraphs"]) for qa in p["qas"]]
        docs = nlp.pipe((qa["question"] for _, qa in asked), disable=["parser", "lemmatizer"])
        for (n, qa), doc in zip(asked, docs, strict=True):
            example = _example(qa, paragraphs[n], [e for e in pool if e[0] != n], counts)
            if example is None:
                continue
            if example.answers:
                example.made = list(near_misses(doc, contexts[n], names, rng))
                counts.update(f"near miss: {m.kind}" for m in example.made)
            examples.append(example)
    return Prepared(examples, counts)


def _example(
    qa: dict[str, Any],
    sentences: list[Span],
    pool: list[tuple[int, str, str, set[str]]],
    counts: Counter[str],
) -> Example | None:
    """The example of one question; None (and counted) when its answering sentence is unsure."""
    impossible = qa.get("is_impossible", False)
    answers = qa["plausible_answers" if impossible else "answers"]
    if _ambiguous(sentences, answers):
        counts["dropped: answer text in several sentences"] += 1
        return None
    gold, span = gold_sentence(sentences, answers)
    if gold is None:
        counts["dropped: answer outside every sentence"] += 1
        return None
    counts["unanswerable (SQuAD 2.0)" if impossible else "answerable"] += 1
    wanted = stems(qa["question"])
    best = max(pool, key=lambda e: len(wanted & e[3]), default=None)
    return Example(
        qa["question"],
        [(s.text, sentence_before(sentences, i)) for i, s in enumerate(sentences)],
        gold,
        not impossible,
        None if impossible else span,
        None if best is None else (best[1], best[2]),
    )


def _ambiguous(sentences: list[Span], answers: list[dict[str, Any]]) -> bool:
    """Whether an answer's text occurs in more than one sentence (its offset a guess)."""
    for answer in answers:
        starts = answer.get("answer_starts_all", [])
        if len({containing(sentences, at) for at in starts}) > 1:
            return True
    return False


def pairs(examples: list[Example], seed: int) -> list[Pair]:
    """One epoch's pairs, shuffled (the same for the same seed)."""
    rng = random.Random(seed)
    drawn = [p for example in examples for p in _pairs(example, rng)]
    rng.shuffle(drawn)
    return drawn


def _pairs(example: Example, rng: random.Random) -> Iterator[Pair]:
    q, gold = example.question, example.gold
    sentence, before = example.sentences[gold]
    yield Pair(q, sentence, before, example.answers, example.span)
    others = [i for i in range(len(example.sentences)) if i != gold]
    if others:
        yield Pair(q, *example.sentences[rng.choice(others)], False)
    if example.elsewhere is not None:
        yield Pair(q, *example.elsewhere, False)
    for made in example.made:
        yield Pair(made.question, sentence, before, False)


def cached(articles: list[Article], key: str, folder: Path, seed: int) -> Prepared:
    """``prepare(articles)``, kept in ``folder`` under ``key`` (with the format and seed)."""
    path = folder / f"examples-{FORMAT}-{seed}-{key[:16]}.pickle.gz"
    if path.is_file():
        with gzip.open(path, "rb") as f:
            prepared: Prepared = pickle.load(f)
            return prepared
    prepared = prepare(articles, seed)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wb") as f:
        pickle.dump(prepared, f)
    tmp.replace(path)
    return prepared


def data_key(paths: list[Path]) -> str:
    """One digest of the training files."""
    return "-".join(sha256(p)[:8] for p in paths)


def main() -> None:
    """Print what the cached examples of the training files hold, and a sample of made near
    misses: ``python -m training.examples --data A.json --data B.json --documentation D.json``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--documentation", type=Path)
    parser.add_argument("--workdir", type=Path, default=Path(".train/reader"))
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    from training.data import load_articles, split, split_documentation

    squad = [a for path in args.data for a in load_articles(path)]
    docs = split_documentation(args.documentation)[0] if args.documentation else []
    key = f"{data_key(args.data)}-{sha256(args.documentation)[:8] if args.documentation else None}"
    prepared = cached(split(squad)[0] + docs, key, args.workdir, args.seed)
    for name, count in sorted(prepared.counts.items()):
        print(f"{name}: {count:,}")
    made = [(e.question, m) for e in prepared.examples for m in e.made]
    for question, m in random.Random(args.seed).sample(made, min(args.sample, len(made))):
        print(f"- ({m.kind}) {question} -> {m.question}")


if __name__ == "__main__":
    main()
