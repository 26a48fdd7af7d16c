"""Retrieval benchmark: quality on SQuAD 2.0 "Rhine" (+ distractors), speed at 10k chunks.

    python bench/retrieval.py            # or: make bench-retrieval

Writes docs/retrieval.md (tables), docs/retrieval.png (chart) and bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from langchain_core.documents import Document
from rich.console import Console
from rich.progress import Progress, track
from rich.table import Table

from qa_bot.config import Settings
from qa_bot.evaluation.squad import SquadQuestion, load_squad, write_corpus
from qa_bot.ingest import ingest
from qa_bot.ingest.split import split_documents
from qa_bot.reader.reader import reader_for
from qa_bot.retrieval.hybrid import HybridRetriever
from qa_bot.retrieval.rerank import ReaderReranker, SentenceReranker
from qa_bot.storage.store import Store
from qa_bot.text import sentence_spans

REPO = Path(__file__).resolve().parent.parent
SQUAD = REPO.parent / "shared" / "benchmarks" / "squad2-dev-rhine.json"
# Real English prose that is not about the Rhine: the default corpus plus the long descriptions
# (READMEs) of pinned dependencies, as they ship in the installed packages.
DISTRACTOR_PACKAGES = ["chromadb", "gradio", "langchain-core", "pydantic", "rich", "typer"]
CONFIGS = ("dense", "bm25", "hybrid", "hybrid+rerank", "hybrid+reader")
"""First-stage modes, then "+rerank" for the sentence reranker or "+reader" for the reader's."""
console = Console()


@dataclass
class Row:
    """One configuration's results."""

    config: str
    hit1: float = 0.0
    hit5: float = 0.0
    mrr10: float = 0.0
    ndcg10: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0


def retriever(store: Store, config: str, k: int = 10) -> HybridRetriever:
    """The pipeline for one configuration name."""
    mode, _, second = config.partition("+")
    rerankers = {
        "rerank": lambda: SentenceReranker(store),
        "reader": lambda: ReaderReranker(reader_for(store.settings.store)),
    }
    reranker = rerankers[second]() if second else None
    return HybridRetriever(store=store, k=k, mode=mode, reranker=reranker)  # type: ignore[arg-type]


def write_distractors(folder: Path) -> list[str]:
    """Copy the distractor texts into ``folder``; return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted((REPO / "corpus").iterdir()):
        shutil.copy(path, folder / path.name)
        names.append(f"corpus/{path.name}")
    for package in DISTRACTOR_PACKAGES:
        meta = importlib.metadata.metadata(package)
        text = meta.get_payload() or meta.get("Description") or ""  # type: ignore[attr-defined]
        (folder / f"{package}-{meta['Version']}.md").write_text(text)
        names.append(f"{package} {meta['Version']} README")
    return names


def ingest_timed(store: Store, folder: Path, label: str) -> tuple[int, float]:
    """Ingest ``folder`` with a progress bar; return the chunk count and the seconds taken."""
    with Progress(console=console) as bar:
        task = bar.add_task(label, total=None)
        started = time.perf_counter()
        ingest(store, folder, lambda done, total, _: bar.update(task, completed=done, total=total))
        seconds = time.perf_counter() - started
    return store.count(), seconds


def rank_of(gold: str, docs: Iterable) -> int | None:
    """1-based rank of the gold source among the distinct sources retrieved."""
    seen: list[str] = []
    for doc in docs:
        if doc.metadata["source"] not in seen:
            seen.append(doc.metadata["source"])
    return seen.index(gold) + 1 if gold in seen else None


def quality(
    store: Store, questions: list[SquadQuestion], prefix: str, configs: Sequence[str] = CONFIGS
) -> list[Row]:
    """hit@1, hit@5, MRR@10, nDCG@10 per configuration (one relevant document per question)."""
    rows = []
    for config in configs:
        pipeline = retriever(store, config)
        ranks = [
            rank_of(prefix + q.source, pipeline.invoke(q.question))
            for q in track(questions, description=f"quality {config:14}", console=console)
        ]
        n = len(ranks)
        rows.append(
            Row(
                config,
                hit1=sum(r == 1 for r in ranks) / n,
                hit5=sum(r is not None and r <= 5 for r in ranks) / n,
                mrr10=sum(1 / r for r in ranks if r) / n,
                ndcg10=sum(1 / math.log2(r + 1) for r in ranks if r) / n,
            )
        )
    return rows


def synthetic_documents(paragraphs: list[str], chunks: int, settings: Settings) -> Iterator[str]:
    """Deterministic documents of recombined sentences, enough for ``chunks`` chunks."""
    sentences = [s.text for p in paragraphs for s in sentence_spans(p)]
    rng = random.Random(20261125)
    made = 0
    while made < chunks:
        text = " ".join(rng.sample(sentences, 24))
        doc = Document(page_content=text, metadata={})
        made += len(
            split_documents([doc], settings.ingest.chunk_size, settings.ingest.chunk_overlap)
        )
        yield text


def speed(data: Path, paragraphs: list[str], questions: list[SquadQuestion], n: int) -> dict:
    """Ingest throughput, raw encode throughput and query latency at ``n`` chunks."""
    folder = data / "synthetic"
    folder.mkdir()
    settings = Settings().updated(store={"data_dir": data / "synthetic-index"})
    for i, text in enumerate(synthetic_documents(paragraphs, n, settings)):
        (folder / f"doc-{i:05d}.txt").write_text(text)
    store = Store.open(settings)
    count, ingest_s = ingest_timed(store, folder, f"ingest {n} chunks")
    sample = [d.page_content for d in store.chunks()][:2000]
    started = time.perf_counter()
    store.embeddings.embed_documents(sample)
    encode_rate = len(sample) / (time.perf_counter() - started)
    latency = {}
    for config in CONFIGS:
        pipeline = retriever(store, config, k=5)
        pipeline.invoke("warm up")
        times = []
        for q in track(questions, description=f"latency {config:14}", console=console):
            started = time.perf_counter()
            pipeline.invoke(q.question)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        latency[config] = (statistics.median(times), times[int(0.95 * len(times)) - 1])
    return {
        "chunks": count,
        "ingest_chunks_per_s": count / ingest_s,
        "encode_texts_per_s": encode_rate,
        "latency_ms": latency,
    }


def machine() -> str:
    """CPU model, cores, memory and Python, without host names or paths."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")]
    cpu = models[0] if models else platform.processor()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, no GPU; "
        f"Python {platform.python_version()}, {platform.system()}"
    )


def chart(rows: list[Row], out: Path) -> None:
    """Quality bars and latency bars side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    metrics = [("hit1", "hit@1"), ("hit5", "hit@5"), ("mrr10", "MRR@10"), ("ndcg10", "nDCG@10")]
    width = 0.2
    for i, (field, label) in enumerate(metrics):
        xs = [j + (i - 1.5) * width for j in range(len(rows))]
        left.bar(xs, [getattr(r, field) for r in rows], width, label=label)
    left.set_xticks(range(len(rows)), [r.config for r in rows])
    left.set_ylim(0, 1)
    left.set_title("SQuAD 2.0 Rhine, answerable questions")
    left.legend(loc="lower right", fontsize=8)
    right.bar(range(len(rows)), [r.p95_ms for r in rows], color="tab:gray", label="p95")
    right.bar(range(len(rows)), [r.p50_ms for r in rows], color="tab:blue", label="p50")
    right.set_xticks(range(len(rows)), [r.config for r in rows])
    right.set_ylabel("ms per query")
    right.set_title("Query latency at 10k chunks")
    right.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def report(rows: list[Row], meta: dict, out: Path) -> str:
    """The markdown report."""
    lines = [
        "# Retrieval benchmark",
        "",
        "Generated by `make bench-retrieval` (`python bench/retrieval.py`); do not edit by hand.",
        "",
        f"- Machine: {meta['machine']}",
        f"- Quality corpus: {meta['paragraphs']} SQuAD 2.0 dev paragraphs (article "
        f'"Rhine", one file each) + distractors: {", ".join(meta["distractors"])}; '
        f"{meta['quality_chunks']} chunks. Cases: the {meta['questions']} answerable questions; "
        "gold = the paragraph the question was written from.",
        f"- Speed corpus: {meta['chunks']} chunks of recombined Rhine sentences (deterministic); "
        f"latency over {meta['latency_queries']} questions, k=5, candidates=20.",
        "",
        "| configuration | hit@1 | hit@5 | MRR@10 | nDCG@10 | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.config} | {r.hit1:.3f} | {r.hit5:.3f} | {r.mrr10:.3f} | {r.ndcg10:.3f} | "
        f"{r.p50_ms:.0f} | {r.p95_ms:.0f} |"
        for r in rows
    ]
    lines += [
        "",
        f"![quality and latency]({out.name})",
        "",
        "| ingest | chunks/s |",
        "|---|---|",
        f"| qa-bot ingest, speed corpus (chunk vectors; sentence vectors mostly cached, "
        f"since its sentences repeat) | {meta['ingest_chunks_per_s']:.1f} |",
        f"| qa-bot ingest, quality corpus (chunk + sentence vectors, all new) | "
        f"{meta['quality_ingest_chunks_per_s']:.1f} |",
        f"| raw encode of 2,000 of the same chunks by the same encoder (the limit) | "
        f"{meta['encode_texts_per_s']:.1f} |",
        "",
        f"Peak RSS of the whole run: {meta['peak_rss_mib']:.0f} MiB.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()

    paragraphs, questions = load_squad(args.squad)
    answerable = [q for q in questions if q.answerable]
    with tempfile.TemporaryDirectory(prefix="qa-bot-bench-") as tmp:
        data = Path(tmp)
        corpus = data / "quality"
        write_corpus(paragraphs, corpus / "squad")
        distractors = write_distractors(corpus / "distractors")
        store = Store.open(Settings().updated(store={"data_dir": data / "quality-index"}))
        chunks, seconds = ingest_timed(store, corpus, "ingest quality corpus")
        quality_rate = chunks / seconds
        rows = quality(
            store, answerable, f"{corpus.name}/squad/"
        )  # documents are named under their source
        texts = [p.text for p in paragraphs]
        measured = speed(data, texts, answerable[: args.latency_queries], args.chunks)
        for row in rows:
            row.p50_ms, row.p95_ms = measured["latency_ms"][row.config]
        meta = {
            "machine": machine(),
            "paragraphs": len(paragraphs),
            "distractors": distractors,
            "quality_chunks": store.count(),
            "questions": len(answerable),
            "latency_queries": min(args.latency_queries, len(answerable)),
            "quality_ingest_chunks_per_s": quality_rate,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **{k: v for k, v in measured.items() if k != "latency_ms"},
        }

    table = Table(*["configuration", "hit@1", "hit@5", "MRR@10", "nDCG@10", "p50 ms", "p95 ms"])
    for r in rows:
        table.add_row(
            r.config,
            *(f"{v:.3f}" for v in (r.hit1, r.hit5, r.mrr10, r.ndcg10)),
            f"{r.p50_ms:.0f}",
            f"{r.p95_ms:.0f}",
        )
    console.print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    chart(rows, args.out / "retrieval.png")
    (args.out / "retrieval.md").write_text(report(rows, meta, args.out / "retrieval.png"))
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    payload = {"rows": [r.__dict__ for r in rows], **meta}
    (results / "retrieval.json").write_text(json.dumps(payload, indent=2) + "\n")
    console.print(f"Wrote {args.out / 'retrieval.md'} and {args.out / 'retrieval.png'}")


if __name__ == "__main__":
    main()
