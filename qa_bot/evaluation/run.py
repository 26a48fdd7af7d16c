"""One eval run: pick the cases and the corpus, run them through the chain, report, gate."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from qa_bot.chain import QaChain
from qa_bot.config import Settings
from qa_bot.evaluation import report
from qa_bot.evaluation.dataset import Case, load_jsonl, load_squad_cases
from qa_bot.evaluation.harness import CaseResult, aggregate, run_eval
from qa_bot.evaluation.judge import Judge
from qa_bot.registry import CHAT_MODELS
from qa_bot.storage.store import Store


@dataclass
class EvalRun:
    """Cases, the corpus they are about, and (after ``execute``) the results."""

    settings: Settings
    dataset: Path
    corpus: Path
    cases: list[Case]
    out: Path
    judge: str | None = None
    results: list[CaseResult] = field(default_factory=list)
    aggregates: report.Aggregates = field(default_factory=dict)
    baseline: report.Aggregates | None = None

    @classmethod
    def prepare(
        cls,
        settings: Settings,
        dataset: Path,
        corpus: Path | None,
        answerer: str | None,
        out: Path,
        limit: int | None = None,
        judge: str | None = None,
    ) -> EvalRun:
        """Load the cases (a SQuAD file brings its own corpus, written under ``out``) and give
        the run an index of its own, so an eval never changes the chat's index."""
        if judge is not None:
            CHAT_MODELS.check(judge)  # before any work
        if dataset.suffix == ".json":
            corpus = out / "corpus"
            cases = load_squad_cases(dataset, corpus)
        else:
            corpus = corpus or settings.ingest.corpus_dir
            cases = load_jsonl(dataset)
        made_by = f"{corpus.resolve()}|{settings.store.embedding_model}|{settings.store.runner}"
        key = hashlib.sha256(made_by.encode()).hexdigest()[:12]  # one index per corpus and encoder
        run_settings = settings.updated(
            store={
                "data_dir": settings.data_path / "evals" / key,
                "collection": None,
                "database_url": None,
            },
            answer={"answerer": answerer or settings.answer.answerer},
        )
        return cls(run_settings, dataset, corpus, cases[:limit], out, judge)

    def execute(self, store: Store, progress: Callable[[int, int], None] | None = None) -> None:
        """Run every case through the chat's chain (and the judge) and aggregate."""
        chain = QaChain(store)
        judge = None
        if self.judge:  # the judge's chat model, built by name like an answerer's
            chat = CHAT_MODELS.get(self.judge)(self.settings)
            judge = Judge(chat, store.sentence_embeddings)
        self.results = run_eval(chain, self.cases, progress, judge)
        self.aggregates = aggregate(self.results)

    @property
    def notes(self) -> list[str]:
        """What was not measured, and why."""
        return [] if self.judge else [report.NOTES["judge"]]

    def meta(self) -> dict[str, Any]:
        """Where the numbers come from."""
        return {
            "dataset": str(self.dataset),
            "corpus": str(self.corpus),
            "answerer": self.settings.answer.answerer,
            "judge": self.judge,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "notes": self.notes,
        }

    def finish(self, baseline: Path | None, thresholds: Path | None) -> list[str]:
        """Write report.json and report.html; return the threshold failures (none: pass)."""
        self.baseline = report.load_baseline(baseline) if baseline else None
        report.write_reports(self.out, self.results, self.aggregates, self.meta(), self.baseline)
        if thresholds is None:
            return []
        limits = report.load_thresholds(thresholds, self.dataset.stem)
        return report.gate(self.aggregates, limits)

    def table(self) -> Table:
        """The aggregates for the terminal."""
        return report.terminal_table(self.aggregates, self.baseline)
