"""Would the reader improve the grounding of generated answers? Replayed on saved eval runs.

    python -m bench.grounding_reader     # after `make answer-quality` has saved the local runs

Grounding keeps a generated sentence when a chunk's sentence holds its names, numbers and
polarity. The reader adds a second question: does the quoted sentence answer the question that
was asked? This replays every saved `local` answer (bench/results/answer-quality/local-*/
report.json) with that extra check at the shipped veto (calibrated on held-out training
articles, not here): an answer none of whose quotes the reader judges as answering becomes a
refusal. It reports, per set, correct-with-citation and unanswerable-refused before and after.
The check can only turn answers into refusals, so the replay is exact for what it changes.
Writes bench/results/grounding-reader.json and prints a table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from qa_bot.reader.reader import shipped_reader

REPO = Path(__file__).resolve().parent.parent
RUNS = REPO / "bench" / "results" / "answer-quality"
console = Console()


def replay(report: dict[str, Any]) -> dict[str, float]:
    """Correct-with-citation and unanswerable-refused, as saved and with the reader's check."""
    reader = shipped_reader()
    answerable = [c for c in report["cases"] if c["answerable"]]
    unanswerable = [c for c in report["cases"] if not c["answerable"]]

    def kept(case: dict[str, Any]) -> bool:
        quotes = [(c["quote"], "") for c in case["citations"]]
        if case["refused"] or not quotes:
            return False
        return max(r.answers for r in reader.read(case["question"], quotes)) >= reader.veto

    def share(cases: list[dict[str, Any]], test: Any) -> float:
        return sum(map(test, cases)) / len(cases) if cases else float("nan")

    return {
        "correct_cited": share(answerable, lambda c: c["passed"]),
        "correct_cited_reader": share(answerable, lambda c: c["passed"] and kept(c)),
        "refused": share(unanswerable, lambda c: c["refused"]),
        "refused_reader": share(unanswerable, lambda c: not kept(c)),
    }


def main() -> None:
    rows = {}
    for run in sorted(RUNS.glob("local-*/report.json")):
        rows[run.parent.name] = replay(json.loads(run.read_text()))
    table = Table("run", "correct, cited", "with reader", "unanswerable refused", "with reader")
    for name, row in rows.items():
        table.add_row(name, *(f"{v:.3f}" for v in row.values()))
    console.print(table)
    out = REPO / "bench" / "results" / "grounding-reader.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")
    console.print(f"Wrote {out}")


if __name__ == "__main__":
    main()
