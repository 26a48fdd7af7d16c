"""Answer quality of both answerers on both eval sets and SQuAD 2.0 "Rhine", with latency.

    make answer-quality                 # python -m bench.answer_quality (about an hour on 2 cores)
    python -m bench.answer_quality --report   # rewrite docs/answer-quality.md from the results

Every measurement is a real `qa-bot eval` run (its own index, the chat's own chain), kept in
bench/results/answer-quality/<generator>-<set>/report.json; a run whose report exists is not
repeated unless --fresh. The LLM judge (`--judge local`) scores the local model's answers on the
default set (on every set it would double the run). The local model answers a 1-in-12 sample of
SQuAD (42 of 498 questions: all 498 would take it about 100 minutes). Then the latency of each
answerer is measured on the default set's questions with the machine otherwise idle. Writes
docs/answer-quality.md and its chart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "answer-quality"
SQUAD = REPO.parent / "shared" / "benchmarks" / "squad2-dev-rhine.json"
DOCS = REPO / "docs"
ANSWERERS: dict[str, tuple[str, dict[str, Any]]] = {
    "extractive": ("extractive", {"reader": False}),
    "reader": ("extractive", {"reader": True}),
    "local": ("local", {}),
}
"""Each answerer measured: its generator and the answer settings it runs with (``extractive``:
the scorer alone; ``reader``: the scorer with qa-bot's reader, the default)."""
OTHER_MODELS = {"local 0.5B": "qwen2.5-coder-0.5b"}
"""Other models the local answerer can run, measured on the default set to choose between."""
SQUAD_SAMPLE = 12
FLOORS = {
    "default": {"correct_cited": 0.92, "unanswerable_refused": 0.90, "precision": 0.95},
    "python-docs": {"correct_cited": 0.75, "unanswerable_refused": 0.80, "precision": 0.95},
}
"""The reader issue's floors per eval set; SQuAD's are in ``SQUAD_FLOORS``."""
SQUAD_FLOORS = {"unanswerable_refused": 0.60, "answerable_answered": 0.85, "short_f1_all": 0.55}
console = Console()


@dataclass(frozen=True)
class EvalSet:
    """A dataset and the corpus it asks about."""

    name: str
    dataset: Path
    corpus: Path | None

    def args(self) -> list[str]:
        corpus = ["--corpus", str(self.corpus)] if self.corpus else []
        return ["--dataset", str(self.dataset), *corpus]


def sampled_squad(every: int) -> Path:
    """The SQuAD file with every ``every``-th question of each paragraph kept (all paragraphs
    stay: they are the corpus)."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    count = 0
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            kept = []
            for qa in paragraph["qas"]:
                if count % every == 0:
                    kept.append(qa)
                count += 1
            paragraph["qas"] = kept
    path = RESULTS / f"squad2-dev-rhine-1in{every}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def eval_sets(name: str) -> list[EvalSet]:
    squad = SQUAD if ANSWERERS[name][0] == "extractive" else sampled_squad(SQUAD_SAMPLE)
    return [
        EvalSet("default", REPO / "evals/datasets/default.jsonl", REPO / "corpus"),
        EvalSet(
            "python-docs",
            REPO / "evals/datasets/python-docs.jsonl",
            REPO / "evals/corpora/python-docs",
        ),
        EvalSet("squad-rhine", squad, None),
    ]


def run_eval(name: str, evals: EvalSet, fresh: bool, model: str | None = None) -> dict[str, Any]:
    """One `qa-bot eval` run of answerer ``name`` (with the LLM judge for the local model's
    default-set answers, and another local ``model`` if given); its report."""
    generator, answer = ANSWERERS[name]
    out = RESULTS / f"{name}{f'-{model}' if model else ''}-{evals.name}"
    judged = name == "local" and evals.name == "default" and model is None
    if fresh or not (out / "report.json").exists():
        command = [sys.executable, "-m", "qa_bot.cli", "eval", *evals.args(), "--out", str(out)]
        console.print(f"[bold]{name} {model or ''} on {evals.name}[/]")
        settings = {f"QA_BOT_ANSWER__{k.upper()}": str(v).lower() for k, v in answer.items()}
        subprocess.run(
            [*command, "--answerer", generator, "--no-gate", *(["--judge", "local"] * judged)],
            check=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **settings}
            | ({"QA_BOT_LOCAL__MODEL": model} if model else {}),
        )
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def latency(name: str) -> dict[str, float]:
    """Time to first piece and to the final answer, per question of the default set (ms)."""
    from qa_bot.chain import QaChain
    from qa_bot.config import Settings
    from qa_bot.evaluation.dataset import load_jsonl
    from qa_bot.evaluation.harness import percentile
    from qa_bot.ingest import ingest
    from qa_bot.storage.store import Store

    generator, answer = ANSWERERS[name]
    cases = [c for c in load_jsonl(REPO / "evals/datasets/default.jsonl") if not c.history]
    first, total = [], []
    with tempfile.TemporaryDirectory(prefix="qa-bot-latency-") as data:
        settings = Settings().updated(
            store={"data_dir": data}, answer={"answerer": generator, **answer}
        )
        store = Store.open(settings)
        ingest(store, REPO / "corpus")
        chain = QaChain(store, settings)
        chain.ask(cases[0].question)  # warm: model loaded, caches filled once
        for case in cases[:: 1 if generator == "extractive" else 4]:
            started = time.perf_counter()
            pieces = chain.stream(case.question)
            next(pieces)
            first.append((time.perf_counter() - started) * 1000)
            for _ in pieces:
                pass
            total.append((time.perf_counter() - started) * 1000)
    return {
        "questions": len(total),
        "first_p50_ms": statistics.median(first),
        "first_p95_ms": percentile(first, 0.95),
        "total_p50_ms": statistics.median(total),
        "total_p95_ms": percentile(total, 0.95),
    }


def measure(fresh: set[str], saved: dict[str, Any]) -> dict[str, Any]:
    """Every run (those of the answerers in ``fresh`` again), and the latency of the fresh
    answerers (the others' from ``saved``)."""
    if not SQUAD.exists():
        sys.exit(f"Missing {SQUAD}: the SQuAD 2.0 'Rhine' file this benchmark reads.")
    results: dict[str, Any] = {"machine": machine(), "runs": {}, "latency": {}}
    for name in ANSWERERS:
        for evals in eval_sets(name):
            report = run_eval(name, evals, name in fresh)
            results["runs"][f"{name}-{evals.name}"] = report["aggregates"]
    default = eval_sets("extractive")[0]
    for label, model in OTHER_MODELS.items():
        report = run_eval("local", default, "local" in fresh, model)
        results["runs"][f"{label}-default"] = report["aggregates"]
    for name in ANSWERERS:
        if name in fresh or name not in saved.get("latency", {}):
            console.print(f"[bold]latency of {name}[/]")
            results["latency"][name] = latency(name)
        else:
            results["latency"][name] = saved["latency"][name]
    return results


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, no GPU"


def chart(results: dict[str, Any], out: Path) -> None:
    """One bar group per (answerer, set): the three floored metrics, floors drawn in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in results["runs"] if not k.endswith("squad-rhine")]
    metrics = (
        ("correctness", "correct_cited", "answerable: correct, cited"),
        ("refusal", "unanswerable_refused", "unanswerable: refused"),
        ("citations", "precision", "citation precision"),
    )
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.26
    for i, (group, key, label) in enumerate(metrics):
        values = [results["runs"][n][group][key] or 0 for n in names]
        bars = ax.bar([x + (i - 1) * width for x in range(len(names))], values, width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.axhline(0.95, color="gray", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0, 1.1)
    ax.set_title("Answer quality (citation precision floor 0.95 dashed; other floors in the table)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _intro(results: dict[str, Any]) -> list[str]:
    return [
        "# Answer quality",
        "",
        "Generated by `make answer-quality` (`python -m bench.answer_quality`) on "
        f"{results['machine']}. Each row is a `qa-bot eval` run; its report (every case, every "
        "answer) is in `bench/results/answer-quality/<answerer>-<set>/report.html`.",
        "",
        "- **default**: `evals/datasets/default.jsonl` on the shipped article (56 cases).",
        "- **python-docs**: `evals/datasets/python-docs.jsonl` on 5 pages of the Python 3.11 "
        "documentation as HTML (59 cases, 16 unanswerable near misses), written from the pages "
        "by someone who did not write the answerers.",
        '- **squad-rhine**: SQuAD 2.0 dev, article "Rhine" (498 questions; the local model '
        f"answers every {SQUAD_SAMPLE}th: 42).",
        "",
        "![answer quality](answer-quality.png)",
        "",
    ]


def _quality(runs: dict[str, Any]) -> list[str]:
    lines = [
        "| answerer | set | correct, cited | unanswerable refused | answerable refused | "
        "citation precision | citation recall | faithfulness (judge) | relevancy (judge) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, agg in runs.items():
        generator, _, evals = name.partition("-")
        judge = agg.get("judge", {})
        lines.append(
            f"| {generator} | {evals} | {_cell(agg['correctness']['correct_cited'])} | "
            f"{_cell(agg['refusal']['unanswerable_refused'])} | "
            f"{_cell(agg['refusal']['answerable_refused'])} | "
            f"{_cell(agg['citations']['precision'])} | {_cell(agg['citations']['recall'])} | "
            f"{_cell(judge.get('faithfulness'))} | {_cell(judge.get('answer_relevancy'))} |"
        )
    return lines


def _floors(runs: dict[str, Any]) -> list[str]:
    """Each floor of the reader issue, held or missed, per answerer and set."""
    lines = [
        "",
        "## Floors",
        "",
        "| answerer | set | floor | measured | |",
        "|---|---|---|---|---|",
    ]

    def row(generator: str, evals: str, key: str, floor: float, value: float | None) -> None:
        held = value is not None and value >= floor
        lines.append(
            f"| {generator} | {evals} | {key} ≥ {floor} | {_cell(value)} | "
            f"{'held' if held else '**missed**'} |"
        )

    for name, agg in runs.items():
        generator, _, evals = name.partition("-")
        if evals == "squad-rhine":
            row(
                generator,
                evals,
                "unanswerable_refused",
                SQUAD_FLOORS["unanswerable_refused"],
                agg["refusal"]["unanswerable_refused"],
            )
            answered = 1 - (agg["refusal"]["answerable_refused"] or 0)
            row(
                generator,
                evals,
                "answerable_answered",
                SQUAD_FLOORS["answerable_answered"],
                answered,
            )
            row(
                generator,
                evals,
                "short_f1_all",
                SQUAD_FLOORS["short_f1_all"],
                agg["squad"]["short_f1_all"],
            )
            continue
        for group in ("correctness", "refusal", "citations"):
            for key, floor in FLOORS.get(evals, {}).items():
                if key in agg[group]:
                    row(generator, evals, key, floor, agg[group][key])
    return lines


def _squad(runs: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## SQuAD 2.0 short answers",
        "",
        "| answerer | EM (short answer) | F1 (short answer) | EM (whole answer) | "
        "F1 (whole answer) | answerable answered | unanswerable refused |",
        "|---|---|---|---|---|---|---|",
    ]
    for generator in ANSWERERS:
        agg = runs.get(f"{generator}-squad-rhine")
        if agg:
            squad = agg["squad"]
            answered = 1 - (agg["refusal"]["answerable_refused"] or 0)
            lines.append(
                f"| {generator} | {_cell(squad['short_em_all'])} | {_cell(squad['short_f1_all'])} "
                f"| {_cell(squad['em_all'])} | {_cell(squad['f1_all'])} | {_cell(answered)} | "
                f"{_cell(agg['refusal']['unanswerable_refused'])} |"
            )
    return [
        *lines,
        "",
        "The extractive answerer's refusal trade-off on all 498 questions (`make "
        "calibrate-refusal`, [refusal.md](refusal.md)):",
        "",
        "![refusal curve](refusal.png)",
    ]


def _latency(latency: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Latency",
        "",
        "Per question of the default set, through the whole chain (retrieval, reranking, "
        "answer, grounding), the machine otherwise idle:",
        "",
        "| answerer | questions | first piece p50 | p95 | whole answer p50 | p95 |",
        "|---|---|---|---|---|---|",
    ]
    for generator, row in latency.items():
        lines.append(
            f"| {generator} | {row['questions']} | {row['first_p50_ms']:.0f} ms | "
            f"{row['first_p95_ms']:.0f} ms | {row['total_p50_ms']:.0f} ms | "
            f"{row['total_p95_ms']:.0f} ms |"
        )
    return lines


def write_report(results: dict[str, Any]) -> None:
    """docs/answer-quality.md and its chart; docs/answer-quality-notes.md (written by hand:
    what fails and why) is appended."""
    chart(results, DOCS / "answer-quality.png")
    runs = results["runs"]
    lines = [
        *_intro(results),
        *_quality(runs),
        *_floors(runs),
        *_squad(runs),
        *_latency(results["latency"]),
    ]
    notes = DOCS / "answer-quality-notes.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    (DOCS / "answer-quality.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fresh",
        nargs="*",
        choices=list(ANSWERERS),
        help="Re-run these answerers' evals even where a report exists (all, when none named).",
    )
    parser.add_argument("--report", action="store_true", help="Only rewrite the report.")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    saved = RESULTS / "results.json"
    previous = json.loads(saved.read_text()) if saved.exists() else {}
    if args.report:
        results = previous
    else:
        fresh = set(ANSWERERS if args.fresh == [] else args.fresh or ())
        results = measure(fresh, previous)
        saved.write_text(json.dumps(results, indent=2) + "\n")
    write_report(results)
    console.print(f"Wrote {DOCS / 'answer-quality.md'}")


if __name__ == "__main__":
    main()
