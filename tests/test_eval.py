"""`qa-bot eval`: metrics with known values, the harness on the real chain, reports and the gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from playwright.sync_api import Browser

from qa_bot.answer.support import SupportCheck
from qa_bot.chain import QaChain
from qa_bot.evaluation import metrics
from qa_bot.evaluation.dataset import load_jsonl
from qa_bot.evaluation.harness import aggregate, run_eval
from qa_bot.evaluation.report import gate, write_reports
from qa_bot.ingest.loaders import load_file
from qa_bot.records import Answer, Citation
from tests.conftest import ARTICLE, ARTICLE_FILE, ARTIFACTS, REPO, run_cli

DATASET = REPO / "evals" / "datasets" / "default.jsonl"
FUNDING = (
    "These parks would be funded by Japanese investment, specifically $550 billion pledged as "
    "part of a trade agreement with the U.S., which included a reduction of tariffs from 25% to "
    "15% on Japanese cars."
)
EPCOT = (
    "The notion of creating entirely new cities for technology experimentation echoes back to "
    "the 20th century’s visionaries, much like EPCOT, Walt Disney’s idea for a prototype community."
)


def cited(text: str, *numbers: int) -> Answer:
    citations = [
        Citation(n=n, source=ARTICLE, title="t", quote="q", score=1.0, chunk_id="", offset=0)
        for n in numbers
    ]
    return Answer(answer=text, refused=False, citations=citations)


def test_squad_normalisation_and_scores() -> None:
    assert metrics.normalize_answer("The  Rhine, river!") == "rhine river"
    assert metrics.exact_match("the Rhine", ["Rhine"]) == 1.0
    assert metrics.exact_match("", []) == 1.0  # a refusal is right on an unanswerable question
    assert metrics.exact_match("Rhine", []) == 0.0
    assert metrics.token_f1("the Rhine river delta", ["Rhine delta"]) == pytest.approx(0.8)


def test_gold_rank_finds_the_quote_or_the_source_under_its_folder() -> None:
    chunks = [
        Document("Other text.", metadata={"source": "corpus/rhine/p001.txt"}),
        Document("The Rhine flows north.", metadata={"source": "corpus/rhine/p002.txt"}),
    ]
    assert metrics.gold_rank(chunks, "Rhine flows", None) == 2
    assert metrics.gold_rank(chunks, None, "rhine/p002.txt") == 2  # the folder name prefixes it
    assert metrics.gold_rank(chunks, None, "hine/p002.txt") is None
    assert metrics.gold_rank(chunks, "Danube", "rhine/p009.txt") is None


def test_dataset_is_complete() -> None:
    cases = load_jsonl(DATASET)
    article = (REPO / "corpus" / ARTICLE_FILE).read_text()
    assert len(cases) >= 40
    assert sum(not c.answerable for c in cases) >= 10
    assert sum(bool(c.history) for c in cases) >= 5
    assert all(c.gold_quote in article for c in cases if c.gold_quote)
    assert len({c.id for c in cases}) == len(cases)


def test_python_docs_set_is_complete_and_quotes_its_pages() -> None:
    """The second set: its gold quotes are in the pages as the HTML loader reads them, and its
    keywords are quotable near them."""
    cases = load_jsonl(REPO / "evals" / "datasets" / "python-docs.jsonl")
    folder = REPO / "evals" / "corpora" / "python-docs"
    pages = [doc.page_content for path in folder.iterdir() for doc in load_file(path, path.name)]
    assert len(cases) >= 40 and sum(not c.answerable for c in cases) >= 10
    assert len({c.id for c in cases}) == len(cases)
    for case in (c for c in cases if c.answerable):
        page = next((p for p in pages if case.gold_quote and case.gold_quote in p), None)
        assert page is not None, case.id
        at = page.index(case.gold_quote or "")
        near = page[max(0, at - 400) : at + len(case.gold_quote or "") + 400].lower()
        assert all(any(k.lower() in near for k in group) for group in case.must_include_any)


def test_alce_citations(embeddings: Embeddings) -> None:
    check = SupportCheck(embeddings)
    passages = {1: FUNDING, 2: EPCOT}
    right = cited("The parks would be funded by Japanese investment [1].", 1)
    wrong = cited("The parks would be funded by Japanese investment [2].", 2)
    padded = cited("The parks would be funded by Japanese investment [1][2].", 1, 2)
    fabricated = cited("The parks would be funded by Japanese investment [9].", 9)
    assert metrics.citation_scores(right, passages, check).recall == 1.0
    assert metrics.citation_scores(right, passages, check).precision == 1.0
    assert metrics.citation_scores(wrong, passages, check).recall == 0.0
    assert metrics.citation_scores(wrong, passages, check).precision == 0.0
    assert metrics.citation_scores(padded, passages, check).precision == 0.5
    assert metrics.citation_scores(fabricated, passages, check).recall == 0.0


def test_harness_runs_cases_through_the_chain(chain: QaChain) -> None:
    by_id = {c.id: c for c in load_jsonl(DATASET)}
    cases = [by_id[i] for i in ("tsmc", "samsung", "mt-fund-it", "car-tariffs")]
    results = {r.id: r for r in run_eval(chain, cases)}
    assert results["tsmc"].passed and results["tsmc"].rank is not None
    assert results["samsung"].refused and results["samsung"].passed
    assert "Crystal Land" in results["mt-fund-it"].standalone
    assert all(r.latency_ms > 0 for r in results.values())
    totals = aggregate(list(results.values()))
    assert totals["refusal"]["unanswerable_refused"] == 1.0
    assert totals["citations"]["recall"] == 1.0  # extractive answers quote their sources
    assert gate(totals, {"min": {"overall": {"pass_rate": 1.01}}, "max": {}}) == [
        f"overall.pass_rate = {totals['overall']['pass_rate']:.3f} is below its minimum 1.01"
    ]


def test_eval_command_reports_and_gates(tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text("[default.min.overall]\npass_rate = 1.01\n")
    first = run_cli(
        "eval",
        "--limit",
        "4",
        "--out",
        str(tmp_path / "a"),
        "--thresholds",
        str(strict),
        data_dir=tmp_path / "data",
    )
    assert first.returncode == 1, first.stderr
    assert "overall.pass_rate" in first.stderr and "below its minimum" in first.stderr
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert len(report["cases"]) == 4 and "retrieval" in report["aggregates"]
    page = (tmp_path / "a" / "report.html").read_text()
    assert "<svg" in page and "Who is proposing Trump-branded industrial parks?" in page

    lenient = tmp_path / "lenient.toml"
    lenient.write_text("[default.min.overall]\npass_rate = 0.0\n")
    baseline = str(tmp_path / "a" / "report.json")
    second = run_cli(
        "eval",
        "--limit",
        "4",
        "--out",
        str(tmp_path / "b"),
        "--baseline",
        baseline,
        "--thresholds",
        str(lenient),
        data_dir=tmp_path / "data",
    )
    assert second.returncode == 0, second.stderr
    assert "Δ baseline" in second.stdout


def test_html_report_renders_in_chromium(chain: QaChain, browser: Browser, tmp_path: Path) -> None:
    by_id = {c.id: c for c in load_jsonl(DATASET)}
    results = run_eval(chain, [by_id["tsmc"], by_id["samsung"], by_id["car-tariffs"]])
    totals = aggregate(results)
    meta = {
        "dataset": "default.jsonl",
        "corpus": "corpus",
        "answerer": "extractive",
        "date": "today",
        "notes": ["LLM judge skipped."],
    }
    write_reports(tmp_path, results, totals, meta, baseline=totals)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto((tmp_path / "report.html").as_uri())
    assert page.locator(".charts svg").count() >= 4
    assert page.locator("tr.pass").count() == 3
    assert page.get_by_text("What did TSMC decide?").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "eval-report.png", full_page=True)
    page.close()
    assert errors == []
