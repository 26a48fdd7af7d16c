"""Which sentences the reader reads: the scorer's gates before it swept on the held-out sets.

    python -m bench.reader_gates [--weights W]

Each held-out set of the reader's calibration (the SQuAD 2.0 articles kept out of training; the
documentation questions' held-out sources) is ingested as a corpus, and every question goes
through retrieval and the extractive answerer with the reader, once per gate: the scorer's
threshold (``answer.reader_min_support``) and whether only sentences of the kind of answer the
question expects are read. Per gate, the veto is set as ``training.calibrate`` sets it (every
set answers 90% of its answerable questions; 85% beside it), and the report gives the near
misses refused and the answerable questions answered correctly (the quoted sentence holds a
gold answer). Held-out data only: the test sets are never read. Writes docs/reader-gates.md
and .png.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from rich.progress import track

from qa_bot.answer.extractive import READER_WEIGHT, ExtractiveAnswerer
from qa_bot.reader.reader import WEIGHTS, Reader, load_net
from training.calibrate import held_out_sets, ingested

REPO = Path(__file__).resolve().parent.parent
SQUAD = REPO.parent / "shared" / "benchmarks" / "squad2-dev-train.json"
GATES = [
    (0.48, True),
    (0.40, True),
    (0.30, True),
    (0.48, False),
    (0.40, False),
    (0.30, False),
    (0.20, False),
]
"""(threshold, only sentences of the expected kind): the first is the answerer's gate without
the reader."""
TARGETS = (0.90, 0.85)
VETOES = np.round(np.arange(0.0, 0.9, 0.005), 3)


@dataclass
class Traced:
    """One set's questions read through one gate: per question, whether it is answerable and,
    for each sentence read, the reader's probability, its score and whether it holds a gold
    answer (no rows: nothing read, so refused whatever the veto)."""

    answerable: list[bool] = field(default_factory=list)
    read: list[np.ndarray] = field(default_factory=list)

    def at(self, veto: float) -> tuple[float, float | None, float]:
        """Answered and correct (shares of the answerable questions) and refused (of the
        unanswerable ones; None when it has none) at ``veto``."""
        quoted = [_quoted(rows, veto) for rows in self.read]
        mine = [q for q, a in zip(quoted, self.answerable, strict=True) if a]
        others = [q for q, a in zip(quoted, self.answerable, strict=True) if not a]
        answered = np.mean([q is not None for q in mine])
        correct = np.mean([q is not None and bool(q[2]) for q in mine])
        refused = float(np.mean([q is None for q in others])) if others else None
        return float(answered), refused, float(correct)


def _quoted(rows: np.ndarray, veto: float) -> np.ndarray | None:
    """The sentence the answerer quotes first at ``veto``: the best by reading and score."""
    kept = rows[rows[:, 0] >= veto] if len(rows) else rows
    if not len(kept):
        return None
    return kept[np.argmax(READER_WEIGHT * kept[:, 0] + (1 - READER_WEIGHT) * kept[:, 1])]


def trace(weights: Path) -> dict[str, dict[tuple[float, bool], Traced]]:
    """Every held-out question read through every gate, by set."""
    reader = Reader(*load_net(weights))
    traced: dict[str, dict[tuple[float, bool], Traced]] = {}
    for name, articles in held_out_sets(SQUAD).items():
        traced[name] = {gate: Traced() for gate in GATES}
        with tempfile.TemporaryDirectory() as tmp:
            chain, questions, _ = ingested(articles, Path(tmp))
            answerers = {
                gate: _GatedAnswerer(chain.store.sentence_embeddings, gate, reader)
                for gate in GATES
            }
            for q in track(questions, f"reading the held-out {name} questions"):
                chunks = chain.retrieve(q.question)
                for gate, answerer in answerers.items():
                    read = answerer.supported(q.question, chunks)
                    rows = [
                        [c.answers, c.support, any(a in c.text for a in q.answers)] for c in read
                    ]
                    traced[name][gate].answerable.append(q.answerable)
                    traced[name][gate].read.append(np.array(rows, dtype=float).reshape(-1, 3))
    return traced


class _GatedAnswerer(ExtractiveAnswerer):
    """The extractive answerer with the reader behind one gate."""

    def __init__(self, embeddings: Embeddings, gate: tuple[float, bool], reader: Reader) -> None:
        super().__init__(embeddings, gate[0], reader=reader, veto=0.0)
        self.of_kind = gate[1]

    def eligible(self, question: str, chunks: list[Document], of_kind: bool = True) -> list[Any]:
        """The scorer's eligible sentences, of the expected kind only if the gate says so."""
        return super().eligible(question, chunks, of_kind=self.of_kind)


def veto_for(sets: dict[str, Traced], target: float) -> float | None:
    """The highest veto at which every set answers ``target`` of its answerable questions."""
    ok = [v for v in VETOES if all(t.at(v)[0] >= target for t in sets.values())]
    return float(max(ok)) if ok else None


def _name(gate: tuple[float, bool]) -> str:
    threshold, of_kind = gate
    return f"score ≥ {threshold:.2f}, {'expected kind only' if of_kind else 'any kind'}"


def rows(traced: dict[str, dict[tuple[float, bool], Traced]]) -> list[dict[str, Any]]:
    """Per gate and operating point: the veto and each set's figures at it."""
    found = []
    for gate in GATES:
        sets = {name: by_gate[gate] for name, by_gate in traced.items()}
        for target in TARGETS:
            veto = veto_for(sets, target)
            if veto is None:
                continue
            squad, docs = sets["squad"].at(veto), sets["documentation"].at(veto)
            found.append(
                {
                    "gate": _name(gate),
                    "target": target,
                    "veto": veto,
                    "read": sets["squad"].at(0)[0],
                    "answered": squad[0],
                    "refused": squad[1],
                    "correct": squad[2],
                    "docs_answered": docs[0],
                    "docs_correct": docs[2],
                }
            )
    return found


def chart(traced: dict[str, dict[tuple[float, bool], Traced]], out: Path) -> None:
    """Held-out SQuAD: near misses refused against answerable questions answered, the veto
    swept, one curve per gate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for gate, found in traced["squad"].items():
        points = [found.at(v) for v in VETOES]
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            label=_name(gate),
            linestyle="-" if not gate[1] else ":",
        )
    for target in TARGETS:
        ax.axvline(target, color="gray", linewidth=0.8)
    ax.set_xlim(0.7, 1.0)
    ax.set_xlabel("answerable questions answered")
    ax.set_ylabel("near misses refused")
    ax.set_title("Held-out SQuAD through the pipeline: the reader's veto swept")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def report(found: list[dict[str, Any]], out: Path, weights: Path) -> None:
    """docs/reader-gates.md: the table, the chart, and how it was made."""
    lines = [
        "# Which sentences the reader reads",
        "",
        "Generated by `python -m bench.reader_gates` on "
        f"{platform.machine()}, Python {platform.python_version()}, weights `{weights.name}`. "
        "Held-out sets only (the reader's calibration sets); see the module's docstring.",
        "",
        f"![refusal curves]({out.with_suffix('.png').name})",
        "",
        "| gate before the reader | held-out answered at veto 0 | operating point | veto | "
        "SQuAD answered | near misses refused | answered correctly | documentation answered "
        "| documentation correctly |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in found:
        lines.append(
            f"| {r['gate']} | {r['read']:.3f} | {r['target']:.0%} | {r['veto']:.3f} | "
            f"{r['answered']:.3f} | {r['refused']:.3f} | {r['correct']:.3f} | "
            f"{r['docs_answered']:.3f} | {r['docs_correct']:.3f} |"
        )
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    traced = trace(args.weights)
    out = REPO / "docs" / "reader-gates.md"
    chart(traced, out.with_suffix(".png"))
    report(rows(traced), out, args.weights)
    print(out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
