"""Scale benchmark: ingest against the raw encode limit and a naive peer, query latency at 1k,
10k and 100k chunks (embedded and Chroma server), a load test with locust, and cold start.

    make bench                      # or: python -m bench.scale [--quick]

Corpus: the Python 3.11 documentation sources (Debian's python3.11-doc, reStructuredText as
.txt: hundreds of small pages and a few large ones). Each measured step runs in its own process
(so one step's memory and caches do not help another); every step is timed after the model is
loaded. Writes docs/benchmarks.md, docs/benchmarks-*.png and bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.progress import Progress, track
from rich.table import Table

from bench.llm_server import free_port

REPO = Path(__file__).resolve().parent.parent
PYDOCS = Path("/usr/share/doc/python3.11/html/_sources")
RESULTS = REPO / "bench" / "results" / "scale.json"
console = Console(stderr=True)


@dataclass(frozen=True)
class Plan:
    """How big each part of the run is (``--quick`` shrinks everything to check the script)."""

    corpus_chars: int
    sizes: tuple[int, ...]
    queries: int
    load_seconds: int
    stream_seconds: int
    scanned_pages: int


FULL = Plan(7_200_000, (1_000, 10_000, 100_000), 100, 60, 30, 20)
QUICK = Plan(250_000, (100, 300, 1_000), 20, 20, 10, 2)


# corpus


def pick_corpus(folder: Path, chars: int) -> int:
    """Copy documentation pages, in a fixed pseudo-random order, until ``chars`` characters."""
    if not PYDOCS.is_dir():
        sys.exit("The Python docs are missing: apt-get install python3.11-doc (make bench does).")
    pages = sorted(PYDOCS.rglob("*.txt"), key=lambda p: hashlib.sha256(p.name.encode()).digest())
    total = 0
    for page in pages:
        if total >= chars:
            break
        target = folder / page.relative_to(PYDOCS).with_suffix("")
        target = target.with_name(target.name.replace(".rst", "") + ".txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page, target)
        total += page.stat().st_size
    return total


def our_chunks(folder: Path) -> list[str]:
    """The chunks qa-bot makes of the folder (its loader and splitter, default settings)."""
    from qa_bot.config import Settings
    from qa_bot.ingest.loaders import load_file
    from qa_bot.ingest.split import split_documents

    ingest = Settings().ingest
    texts = []
    for path in sorted(folder.rglob("*.txt")):
        docs = load_file(path, path.name, ingest)
        texts += [
            c.page_content for c in split_documents(docs, ingest.chunk_size, ingest.chunk_overlap)
        ]
    return texts


# steps, each run in a fresh process by ``step``


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib(pid: int | str = "self") -> float:
    """Current resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def model(peer: bool = False) -> Any:
    """qa-bot's embedding model as its settings run it, or (``peer``) as a naive script runs
    the same weights: sentence-transformers on PyTorch. Warmed up."""
    from qa_bot.config import Settings
    from qa_bot.storage.embeddings import load_embeddings

    store = Settings().store
    embeddings = load_embeddings(store.model_copy(update={"encoder": "torch"}) if peer else store)
    embeddings.embed_documents(["warm up"] * 64)
    return embeddings


def step_raw(folder: str) -> dict[str, Any]:
    """The limit: the model's encode of qa-bot's own chunks, same encoder and batch size."""
    texts = our_chunks(Path(folder))
    embeddings = model()
    started = time.perf_counter()
    embeddings.embed_documents(texts)
    seconds = time.perf_counter() - started
    return {"chunks": len(texts), "seconds": seconds, "peak_rss_mib": peak_rss_mib()}


def step_peer(folder: str, out: str) -> dict[str, Any]:
    """The pipeline a user would write by hand: read, RecursiveCharacterTextSplitter,
    Chroma.from_documents, with the same weights run the usual way (and nothing else indexed)."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    embeddings = model(peer=True)
    started = time.perf_counter()
    docs = [
        Document(page_content=path.read_text(), metadata={"source": str(path)})
        for path in sorted(Path(folder).rglob("*.txt"))
    ]
    chunks = RecursiveCharacterTextSplitter(chunk_size=800, chunk_overlap=200).split_documents(docs)
    Chroma.from_documents(chunks, embeddings, persist_directory=out)
    seconds = time.perf_counter() - started
    return {"chunks": len(chunks), "seconds": seconds, "peak_rss_mib": peak_rss_mib()}


def step_qabot(folder: str, data: str) -> dict[str, Any]:
    """``qa-bot ingest``'s own code path: chunks, vectors, BM25, records, catalog."""
    from qa_bot.config import Settings
    from qa_bot.ingest.index import ingest
    from qa_bot.storage.store import Store

    embeddings = model()
    started = time.perf_counter()
    store = Store.open(Settings().updated(store={"data_dir": data}), embeddings)
    with Progress(console=console) as bar:
        task = bar.add_task("qa-bot ingest", total=None)
        report = ingest(
            store, Path(folder), lambda done, n, _: bar.update(task, completed=done, total=n)
        )
    seconds = time.perf_counter() - started
    assert not report.failed, report.failed
    return {"chunks": report.chunks_added, "seconds": seconds, "peak_rss_mib": peak_rss_mib()}


def scaled_index(source: str, size: int, settings: Any, embeddings: Any) -> tuple[Any, list[Any]]:
    """A store of ``size`` chunks built from the real index in ``source``: its first chunks,
    or copies of all of them whose vectors get a small random perturbation (then normalised),
    so a 100k index costs no 100k embeddings. Copies keep their text under a new document
    name, so BM25 sees every copy as well."""
    from langchain_core.documents import Document

    from qa_bot.config import Settings
    from qa_bot.storage.store import Store

    real = Store.open(Settings().updated(store={"data_dir": source}), embeddings)
    chunks = sorted(real.chunks(), key=lambda c: (c.metadata["source"], c.metadata["position"]))
    vectors = real.vectors([c.id or "" for c in chunks])
    store = Store.open(settings, embeddings)
    rng = np.random.default_rng(0)
    built: list[Document] = []
    batch: tuple[list[str], list[Any], list[str], list[dict[str, Any]]] = ([], [], [], [])
    copies = math.ceil(size / len(chunks))
    with Progress(console=console) as bar:
        task = bar.add_task(f"build {size} chunks", total=size)
        for copy in range(copies):
            for chunk in chunks[: size - copy * len(chunks)]:
                vector = vectors[chunk.id or ""]
                if copy:
                    vector = vector + rng.normal(0, 0.01, vector.shape)
                    vector = vector / np.linalg.norm(vector)
                meta = {**chunk.metadata, "source": f"copy{copy}/{chunk.metadata['source']}"}
                doc = Document(
                    id=f"{chunk.id}-{copy}", page_content=chunk.page_content, metadata=meta
                )
                built.append(doc)
                for part, value in zip(
                    batch, (doc.id, vector.tolist(), doc.page_content, meta), strict=True
                ):
                    part.append(value)
                if len(batch[0]) == 2000:
                    add_batch(store, batch)
                    bar.advance(task, 2000)
        add_batch(store, batch)
        bar.update(task, completed=size)
    # The bench fills the index directly (no record manager: nothing is re-ingested here).
    store._lexical.update(built, set())
    return store, chunks


def add_batch(store: Any, batch: tuple[list, list, list, list]) -> None:
    if batch[0]:
        store._index.vectorstore._collection.add(
            ids=batch[0], embeddings=batch[1], documents=batch[2], metadatas=batch[3]
        )
        for part in batch:
            part.clear()


def queries(chunks: list[Any], n: int, seed: int) -> list[str]:
    """``n`` known-item questions: the first 12 words of random sentences of the corpus."""
    from qa_bot.text import chunk_sentences

    rng = random.Random(seed)
    ordered = sorted(chunks, key=lambda c: c.id or "")
    found: list[str] = []
    while len(found) < n:
        sentences = [s.text.split() for s in chunk_sentences(rng.choice(ordered))]
        prose = [w for w in sentences if 8 <= len(w) <= 40 and all(x.isascii() for x in w)]
        if prose:
            found.append(" ".join(rng.choice(prose)[:12]))
    return found


def percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] * 1000,
    }


def timed(call: Any, questions: list[str], label: str) -> dict[str, float]:
    times = []
    for question in track(questions, description=label, console=console):
        started = time.perf_counter()
        call(question)
        times.append(time.perf_counter() - started)
    return percentiles(times)


def stages() -> dict[str, float]:
    """Seconds spent so far in each stage of a question, from qa-bot's own histogram (the
    one ``/metrics`` serves)."""
    from prometheus_client import REGISTRY

    metric = "qa_bot_question_stage_seconds_sum"
    return {
        stage: REGISTRY.get_sample_value(metric, {"stage": stage}) or 0.0
        for stage in ("standalone", "retrieve", "answer")
    }


def step_query(source: str, size: int, data: str, port: int, n: int) -> dict[str, Any]:
    """Latency at one index size: retrieve (dense + BM25 fused), retrieve+rerank with the
    sentence vectors not yet derived (cold) and derived (warm), and the whole extractive
    answer, cold (other questions, as the first after an ingest) and warm."""
    from qa_bot.chain import QaChain
    from qa_bot.config import Settings

    embeddings = model()
    server = {"chroma_host": "127.0.0.1", "chroma_port": port} if port else {}
    settings = Settings().updated(store={"data_dir": data, **server})
    store, real = scaled_index(source, size, settings, embeddings)
    questions, first = queries(real, n, seed=0), queries(real, n, seed=3)
    chain = QaChain(store, settings)
    plain = chain.variant(retrieval={"reranker": "none"})
    tag = f"{size} {'server' if port else 'embedded'}"
    return {
        "chunks": store.count(),
        "copies": math.ceil(size / len(real)),
        "real_chunks": len(real),
        "retrieve": timed(plain.retrieve, questions, f"retrieve {tag}"),
        "rerank_cold": timed(chain.retrieve, questions, f"retrieve+rerank (cold) {tag}"),
        "rerank_warm": timed(chain.retrieve, questions, f"retrieve+rerank {tag}"),
        "answer_cold": timed(chain.ask, first, f"answer (cold) {tag}"),
        **answer_and_stages(chain, questions, f"answer {tag}"),
        "rss_mib": rss_mib(),
    }


def answer_and_stages(chain: Any, questions: list[str], label: str) -> dict[str, Any]:
    """The full answer's latency, and the mean milliseconds of each stage of it."""
    before = stages()
    answer = timed(chain.ask, questions, label)
    after = stages()
    spent = {s: (after[s] - before[s]) * 1000 / len(questions) for s in before}
    return {"answer": answer, "stages_ms": spent}


def step_warmer(source: str, size: int, data: str, n: int) -> dict[str, Any]:
    """What ``qa-bot serve``'s sentence warmer does after an ingest of ``size`` chunks: the
    time it takes to ready every sentence, then the first questions' full answers."""
    from qa_bot.chain import QaChain
    from qa_bot.config import Settings
    from qa_bot.storage.warmer import SentenceWarmer

    settings = Settings().updated(store={"data_dir": data})
    store, real = scaled_index(source, size, settings, model())
    started = time.perf_counter()
    sentences = SentenceWarmer(lambda: store).warm(store)
    seconds = time.perf_counter() - started
    chain = QaChain(store, settings)
    return {
        "chunks": store.count(),
        "sentences": sentences,
        "warm_seconds": seconds,
        "answer": timed(chain.ask, queries(real, n, seed=3), f"answer after warming {size}"),
    }


def step_questions(data: str, n: int) -> list[str]:
    """Questions for the load test, other than those the query step asked."""
    from qa_bot.config import Settings
    from qa_bot.storage.store import Store

    return queries(Store.open(Settings().updated(store={"data_dir": data})).chunks(), n, seed=1)


def step_ocr(folder: str, pages: int) -> dict[str, Any]:
    """qa-bot's PDF reader on a scanned PDF of ``pages`` generated A4 pages (300 dpi, skewed,
    noisy, JPEG), every page read by OCR: pages per second and characters kept."""
    import numpy as np

    from bench.ocr_choice import page_texts, render, scan
    from qa_bot.ingest.loaders import read_file

    rng = np.random.default_rng(0)
    images = [scan(render(text, 300), 300, rng) for text in page_texts(pages)]
    path = Path(folder) / "scanned.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], resolution=300)
    started = time.perf_counter()
    documents = read_file(path, "scanned.pdf").documents
    seconds = time.perf_counter() - started
    chars = sum(len(d.page_content) for d in documents)
    from bench.retrieval import machine

    return {
        "pages": pages,
        "seconds": seconds,
        "chars": chars,
        "peak_rss_mib": peak_rss_mib(),
        "date": date.today().isoformat(),
        "machine": machine(),
    }


STEPS = {
    "ocr": step_ocr,
    "questions": step_questions,
    "raw": step_raw,
    "peer": step_peer,
    "qabot": step_qabot,
    "query": step_query,
    "warmer": step_warmer,
}


# the driver


def step(name: str, *args: Any) -> Any:
    """Run one step in a fresh Python process; its result is the last line it prints."""
    command = [sys.executable, "-m", "bench.scale", "--step", name, *map(str, args)]
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 300) -> float:
    """Seconds until ``url`` answers 200 (the process must stay up)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - started
        time.sleep(0.05)
    raise TimeoutError(url)


@contextlib.contextmanager
def running(
    command: list[str], env: dict[str, str], url: str
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """A server process, up (``url`` answers) for the block; yields it and its start time."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process, wait_for(url, process)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:  # requests still queued from the load test
            process.kill()
            process.wait(30)


def qa_bot_env(data: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "QA_BOT_STORE__DATA_DIR": str(data),
        "QA_BOT_SERVER__PORT": str(port),
        "QA_BOT_SERVER__RATE_LIMIT": "1000000",  # the load test is one client address
        "HF_HUB_OFFLINE": "1",
    }


def locust(
    user: str, url: str, users: int, seconds: int, out: Path, questions: Path
) -> dict[str, Any]:
    """Run the locust file headless with ``users`` concurrent clients; parse its CSV."""
    prefix = out / user
    subprocess.run(
        [
            str(Path(sys.executable).parent / "locust"),
            "-f",
            str(REPO / "bench" / "locustfile.py"),
            user,
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        env={**os.environ, "BENCH_QUESTIONS": str(questions)},
        check=False,
        stdout=subprocess.DEVNULL,
    )
    import csv

    rows = list(csv.DictReader((prefix.with_name(prefix.name + "_stats.csv")).open()))
    failures = list(csv.DictReader((prefix.with_name(prefix.name + "_failures.csv")).open()))
    result = {"seconds": seconds, "users": users, "requests": {}, "errors": {}}
    for row in rows:
        if row["Name"] == "Aggregated":
            continue
        result["requests"][row["Name"]] = {
            "count": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "p50_ms": float(row["50%"]),
            "p95_ms": float(row["95%"]),
            "per_s": float(row["Requests/s"]),
        }
    for row in failures:
        result["errors"][row["Error"]] = result["errors"].get(row["Error"], 0) + int(
            row["Occurrences"]
        )
    return result


def load_and_start(data: Path, work: Path, plan: Plan, questions: list[str]) -> dict[str, Any]:
    """Cold start of ``qa-bot serve`` and the CLI, then the load test against that server
    (its sentence-vector cache emptied first, as after an ingest, and its warmer off, so the
    questions alone fill it; ``step_warmer`` measures the warmer)."""
    (data / "sentence-vectors.sqlite").unlink()
    port = free_port()
    env = {**qa_bot_env(data, port), "QA_BOT_SERVER__WARM_SENTENCES": "false"}
    url = f"http://127.0.0.1:{port}"
    qa_bot = str(Path(sys.executable).parent / "qa-bot")
    question_file = work / "questions.json"
    question_file.write_text(json.dumps(questions))
    result: dict[str, Any] = {}
    with running([qa_bot, "serve"], env, f"{url}/healthz") as (server, started):
        result["serve_start_s"] = started
        result["cli_ask_s"] = wall([qa_bot, "ask", questions[0]], env)
        result["rss_before_mib"] = rss_mib(server.pid)
        result["ask"] = locust("AskUser", url, 32, plan.load_seconds, work, question_file)
        result["chat"] = locust("ChatUser", url, 8, plan.stream_seconds, work, question_file)
        result["rss_after_mib"] = rss_mib(server.pid)
    result["cli_ask_local_s"] = wall([qa_bot, "ask", "--local", questions[0]], env)
    return result


def wall(command: list[str], env: dict[str, str]) -> float:
    """Wall time of a command from a cold shell (it must succeed)."""
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run to check the script")
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help="rewrite the report from results")
    args = parser.parse_args()
    from bench.scale_report import write_report

    if args.report:
        write_report(json.loads(RESULTS.read_text()), REPO / "docs")
        return
    if args.step:
        name, *rest = args.step
        values = [int(v) if v.isdigit() else v for v in rest]
        print(json.dumps(STEPS[name](*values)))
        return
    plan = QUICK if args.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="qa-bot-bench-"))
    try:
        results = run(plan, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["quick"] = args.quick
    if not args.quick:
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"Results: {RESULTS}")
    write_report(results, REPO / "docs", quick=args.quick)


def run(plan: Plan, work: Path) -> dict[str, Any]:
    from bench.retrieval import machine

    corpus, index = work / "corpus", work / "index"
    chars = pick_corpus(corpus, plan.corpus_chars)
    files = sum(1 for _ in corpus.rglob("*.txt"))
    console.print(f"[bold]corpus[/]: {files} pages, {chars / 1e6:.1f} MB")
    results: dict[str, Any] = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "corpus": {"files": files, "mb": chars / 1e6},
        "ingest": {
            "raw": step("raw", corpus),
            "peer": step("peer", corpus, work / "peer"),
            "qabot": step("qabot", corpus, index),
        },
        "query": {},
        "ocr": step("ocr", work / "ocr", plan.scanned_pages),
    }
    chroma = str(Path(sys.executable).parent / "chroma")
    port = free_port()
    command = [
        chroma,
        "run",
        "--path",
        str(work / "chroma-server"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with running(command, dict(os.environ), f"http://127.0.0.1:{port}/api/v2/heartbeat") as (
        server,
        _,
    ):
        for size in plan.sizes:
            for mode, chroma_port in (("embedded", 0), ("server", port)):
                data = work / f"q{size}-{mode}"
                results["query"][f"{size} {mode}"] = {
                    "size": size,
                    "mode": mode,
                    **step("query", index, size, data, chroma_port, plan.queries),
                }
        results["chroma_server_rss_mib"] = rss_mib(server.pid)
    warmed = plan.sizes[1]
    results["warmer"] = {
        "size": warmed,
        **step("warmer", index, warmed, work / f"w{warmed}", plan.queries),
    }
    biggest = work / f"q{plan.sizes[-1]}-embedded"
    results["serve"] = load_and_start(biggest, work, plan, step("questions", index, plan.queries))
    show(results)
    return results


def show(results: dict[str, Any]) -> None:
    table = Table(title="ingest")
    for column in ("pipeline", "chunks", "seconds", "chunks/s"):
        table.add_column(column)
    for name, row in results["ingest"].items():
        table.add_row(
            name,
            str(row["chunks"]),
            f"{row['seconds']:.1f}",
            f"{row['chunks'] / row['seconds']:.1f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
