"""Generation benchmark: time to first token, tokens/s through the `openai` backend, and the cost of
citation verification per answer.

    python -m bench.generation                      # or: make bench-generation
    python -m bench.generation --base-url URL/v1    # your own OpenAI-compatible server

Without --base-url it starts the llama.cpp server from the test extras (Gemma 3 270M, a base
model: its answers are nonsense, its speed is real). Writes docs/generation.md, docs/generation.png
and bench/results/generation.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from bench.llm_server import local_llm_server
from bench.retrieval import machine
from qa_bot.chain import QaChain
from qa_bot.config import Settings
from qa_bot.evaluation.dataset import load_jsonl
from qa_bot.ingest import ingest
from qa_bot.records import Answer
from qa_bot.storage.store import Store

REPO = Path(__file__).resolve().parent.parent
console = Console()


def measure(chain: QaChain, question: str) -> dict:
    """One streamed answer: time to first token, pieces/s after it, verification time."""
    started = time.perf_counter()
    first = last = 0.0
    pieces = 0
    for piece in chain.stream(question):
        now = time.perf_counter()
        if isinstance(piece, Answer):  # verification ran between the last token and now
            answer, verify_ms = piece, (now - last) * 1000
            break
        first = first or now
        last, pieces = now, pieces + 1
    return {
        "question": question,
        "ttft_ms": (first - started) * 1000,
        "tokens": pieces,
        "tokens_per_s": (pieces - 1) / (last - first) if pieces > 1 else 0.0,
        "verify_ms": verify_ms,
        "sentences": len(answer.unsupported) + len({c.n for c in answer.citations}),
        "unsupported": len(answer.unsupported),
    }


def summary(rows: list[dict]) -> dict:
    """Medians and p95 of each timing."""

    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]

    return {
        key: {"p50": statistics.median(r[key] for r in rows), "p95": p95([r[key] for r in rows])}
        for key in ("ttft_ms", "tokens_per_s", "verify_ms", "tokens")
    }


def chart(rows: list[dict], out: Path) -> None:
    """Per question: time to first token and verification cost, and tokens/s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    xs = range(1, len(rows) + 1)
    left.bar([x - 0.2 for x in xs], [r["ttft_ms"] for r in rows], 0.4, label="first token")
    left.bar([x + 0.2 for x in xs], [r["verify_ms"] for r in rows], 0.4, label="verification")
    left.set_xlabel("question")
    left.set_ylabel("ms")
    left.set_title("Time to first token vs. verification, per answer")
    left.legend()
    right.bar(xs, [r["tokens_per_s"] for r in rows], color="tab:green")
    right.set_xlabel("question")
    right.set_ylabel("tokens/s")
    right.set_title("Streaming speed through the openai backend")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def report(rows: list[dict], totals: dict, meta: dict, png: Path) -> str:
    """The markdown report."""
    lines = [
        "# Generation: time to first token, tokens/s, verification cost",
        "",
        f"- Command: `{meta['command']}`",
        f"- Machine: {meta['machine']}",
        f"- Server: {meta['server']}",
        f"- {len(rows)} answerable questions of `evals/datasets/default.jsonl`, default corpus, "
        f"hybrid retrieval + rerank, top {meta['top_k']} chunks in the prompt, at most "
        f"{meta['max_tokens']} tokens per answer, temperature 0.",
        "- Time to first token counts from the question (retrieval + prompt processing).",
        "- Verification = splitting the answer into sentences and checking each against its "
        "cited chunks (and, when none holds, all retrieved chunks) with the support check.",
        "",
        "| | p50 | p95 |",
        "|---|---:|---:|",
        *(
            f"| {label} | {totals[key]['p50']:.1f} | {totals[key]['p95']:.1f} |"
            for key, label in [
                ("ttft_ms", "time to first token (ms)"),
                ("tokens_per_s", "tokens/s"),
                ("tokens", "tokens per answer"),
                ("verify_ms", "verification per answer (ms)"),
            ]
        ),
        "",
        f"![per-question timings]({png.name})",
        "",
        "| # | question | first token ms | tokens | tokens/s | verify ms | unsupported/sentences |",
        "|---:|---|---:|---:|---:|---:|---:|",
        *(
            f"| {i} | {r['question']} | {r['ttft_ms']:.0f} | {r['tokens']} | "
            f"{r['tokens_per_s']:.1f} | {r['verify_ms']:.0f} | {r['unsupported']} / "
            f"{r['sentences']} |"
            for i, r in enumerate(rows, 1)
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="An OpenAI-compatible /v1 URL (default: start one).")
    parser.add_argument("--model", default="default")
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=80)
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    cases = [c for c in load_jsonl(REPO / "evals/datasets/default.jsonl") if c.answerable]
    questions = [c.question for c in cases if not c.history][: args.questions]
    with tempfile.TemporaryDirectory() as tmp:
        server = nullcontext(args.base_url) if args.base_url else local_llm_server(Path(tmp))
        with server as base_url:
            settings = Settings().updated(
                store={"data_dir": Path(tmp) / "data"},
                answer={"answerer": "openai"},
                openai={"base_url": base_url, "model": args.model, "max_tokens": args.max_tokens},
            )
            store = Store.open(settings)
            ingest(store, REPO / "corpus")
            chain = QaChain(store)
            measure(chain, "What is this article about?")  # warm-up: loads the model
            rows = [measure(chain, q) for q in track(questions, description="Generating")]
    totals = summary(rows)
    meta = {
        "command": "make bench-generation",
        "machine": machine(),
        "server": (args.base_url and "your server")
        or "llama-cpp-python 0.3.36 server, Gemma 3 270M Q4_K_M (base model), n_ctx 4096",
        "top_k": settings.retrieval.top_k,
        "max_tokens": args.max_tokens,
    }
    table = Table(title="Generation through the openai backend")
    for column in ("", "p50", "p95"):
        table.add_column(column, justify="right")
    for key, values in totals.items():
        table.add_row(key, f"{values['p50']:.1f}", f"{values['p95']:.1f}")
    console.print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "generation.png"
    chart(rows, png)
    (args.out / "generation.md").write_text(report(rows, totals, meta, png))
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    payload = {"meta": meta, "totals": totals, "rows": rows}
    (results / "generation.json").write_text(json.dumps(payload, indent=2) + "\n")
    console.print(f"Wrote {args.out / 'generation.md'} and {png}")


if __name__ == "__main__":
    main()
