"""The extractive answerer's refusal trade-off on public test data: the reader's veto swept,
beside the scorer's own threshold swept.

    python bench/calibrate_refusal.py      # or: make calibrate-refusal

Runs every SQuAD 2.0 "Rhine" question (answerable and unanswerable) through the real retrieval
pipeline and the answerer with the reader, then reports, per veto on the reader's probability,
how many answerable questions get an answer and how many unanswerable ones are refused. The
shipped veto is calibrated on held-out training data (qa_bot/reader/weights/
MODEL_CARD.md), never on Rhine: this curve reports, it does not tune. The curve of the scorer
alone (its ``min_support`` swept) is kept in bench/results/refusal-overlap.json. Writes
docs/refusal.md and .png.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track

from qa_bot.answer.extractive import ExtractiveAnswerer
from qa_bot.config import Settings
from qa_bot.evaluation.squad import load_squad, write_corpus
from qa_bot.ingest import ingest
from qa_bot.reader.reader import shipped_reader
from qa_bot.retrieval.hybrid import HybridRetriever
from qa_bot.storage.store import Store

REPO = Path(__file__).resolve().parent.parent
SQUAD = REPO.parent / "shared" / "benchmarks" / "squad2-dev-rhine.json"
THRESHOLDS = np.round(np.arange(0.0, 0.96, 0.05), 2)
BEFORE = REPO / "bench" / "results" / "refusal-overlap.json"
console = Console()


def best_readings(store: Store, questions: list) -> list[float]:
    """Per question, the reader's best probability among the sentences the answerer has it read
    (score ≥ ``answer.reader_min_support``; -1 when there is none: refused whatever the veto)."""
    retriever = HybridRetriever.from_settings(store)
    floor = store.settings.answer.reader_min_support
    answerer = ExtractiveAnswerer(store.sentence_embeddings, floor, reader=shipped_reader(), veto=0)
    best = []
    for q in track(questions, description="reading", console=console):
        read = answerer.supported(q.question, retriever.invoke(q.question))
        best.append(max((c.answers for c in read), default=-1.0))
    return best


def chart(rows: list[dict], before: list[dict], current: float, out: Path) -> None:
    """Left: answered and refused against the threshold. Right: the trade-off (refused against
    answered) of the reader beside the scorer before it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    xs = [r["threshold"] for r in rows]
    left.plot(xs, [r["answered"] for r in rows], marker="o", label="answerable: answered")
    left.plot(xs, [r["refused"] for r in rows], marker="o", label="unanswerable: refused")
    left.axvline(current, color="gray", linestyle=":", label=f"shipped veto {current:.2f}")
    left.set_xlabel("reader's veto (probability)")
    left.set_ylim(0, 1)
    left.legend(fontsize=8)
    curves = (("scorer + reader's veto", rows), ("scorer alone (its threshold swept)", before))
    for name, curve in curves:
        if curve:
            right.plot(
                [r["answered"] for r in curve],
                [r["refused"] for r in curve],
                marker=".",
                label=name,
            )
    right.axvline(0.85, color="gray", linestyle=":", linewidth=1)
    right.set_xlabel("answerable: answered")
    right.set_ylabel("unanswerable: refused")
    right.set_xlim(0, 1)
    right.set_ylim(0, 1)
    right.legend(fontsize=8)
    fig.suptitle('SQuAD 2.0 "Rhine": refusal trade-off')
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def refused_at(curve: list[dict], answered: float) -> float:
    """The most unanswerable questions refused while at least ``answered`` are answered."""
    return max((r["refused"] for r in curve if r["answered"] >= answered), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    paragraphs, questions = load_squad(args.squad)
    with tempfile.TemporaryDirectory(prefix="qa-bot-calibrate-") as tmp:
        write_corpus(paragraphs, Path(tmp) / "corpus")
        store = Store.open(Settings().updated(store={"data_dir": Path(tmp) / "data"}))
        ingest(store, Path(tmp) / "corpus")
        scores = np.array(best_readings(store, questions))
    answerable = np.array([q.answerable for q in questions])
    rows = []
    for t in THRESHOLDS:
        answered = float((scores[answerable] >= t).mean())
        refused = float((scores[~answerable] < t).mean())
        rows.append(
            {
                "threshold": float(t),
                "answered": answered,
                "refused": refused,
                "balanced": (answered + refused) / 2,
            }
        )
    current = shipped_reader().veto
    before = json.loads(BEFORE.read_text()) if BEFORE.exists() else []
    args.out.mkdir(parents=True, exist_ok=True)
    chart(rows, before, current, args.out / "refusal.png")
    at = (scores[answerable] >= current).mean(), (scores[~answerable] < current).mean()
    lines = [
        "# Refusal: the scorer's threshold and the reader's veto",
        "",
        "Generated by `make calibrate-refusal` (`python bench/calibrate_refusal.py`).",
        "",
        f'All {len(questions)} questions of SQuAD 2.0 dev "Rhine" ({int(answerable.sum())} '
        f"answerable, {int((~answerable).sum())} unanswerable, written to look answerable), "
        "through hybrid retrieval + reranking and the extractive answerer with the reader. A "
        "question is answered when a sentence the answerer has the reader read (score at least "
        "`answer.reader_min_support`, any kind of answer) gets at least the veto from the "
        f"reader (shipped: {current:.3f}, calibrated on held-out training data, not here). Veto "
        "0 answers whenever a sentence is read.",
        "",
        f"At the shipped veto: answerable answered {at[0]:.3f}, unanswerable refused "
        f"{at[1]:.3f}. Most refused while answering at least 0.85: with the veto swept "
        f"{refused_at(rows, 0.85):.3f}, with the scorer's threshold swept "
        f"{refused_at(before, 0.85):.3f}.",
        "",
        "| veto | answerable: answered | unanswerable: refused | balanced accuracy |",
        "|---|---|---|---|",
        *(
            f"| {r['threshold']:.2f} | {r['answered']:.3f} | {r['refused']:.3f} | "
            f"{r['balanced']:.3f} |"
            for r in rows
        ),
        "",
        "![refusal curve](refusal.png)",
        "",
    ]
    (args.out / "refusal.md").write_text("\n".join(lines))
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "refusal-reader.json").write_text(json.dumps(rows, indent=2) + "\n")
    console.print(f"Wrote {args.out / 'refusal.md'}")


if __name__ == "__main__":
    main()
