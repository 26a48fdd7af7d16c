"""Run eval cases through the chat's own chain and score every reply."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from qa_bot.answer.support import SupportCheck
from qa_bot.chain import QaChain
from qa_bot.evaluation import metrics
from qa_bot.evaluation.dataset import Case
from qa_bot.evaluation.judge import Judge


class CaseResult(BaseModel):
    """What the bot did on one case, and whether that passes."""

    id: str
    question: str
    standalone: str
    answerable: bool
    answer: str
    short_answer: str | None = None
    refused: bool
    citations: list[dict[str, Any]]
    unsupported: list[str] = []
    rank: int | None = None
    keyword_pass: bool | None = None
    f1: float | None = None
    citation_recall: float | None = None
    citation_precision: float | None = None
    squad: dict[str, float] | None = None
    faithfulness: float | None = None
    answer_relevancy: float | None = None
    latency_ms: float
    passed: bool
    why: str


def _verdict(case: Case, result: dict[str, Any]) -> tuple[bool, str]:
    """Pass or fail, and why, in words a reader of the report understands."""
    if not case.answerable:
        if result["refused"]:
            return True, "refused, as it should"
        return False, "answered a question the documents do not answer"
    if result["refused"]:
        return False, "refused a question the documents answer"
    if result.get("keyword_pass") is False:
        groups = " / ".join("|".join(g) for g in case.must_include_any)
        return False, f"the answer lacks a required keyword ({groups})"
    if case.answers and not result["squad"]["contains"]:
        return False, "no gold answer appears in the answer"
    if result["citation_recall"] is not None and result["citation_recall"] < 1:
        return False, "a sentence is not supported by its citations"
    return True, "answered with supported citations"


def run_case(
    chain: QaChain, check: SupportCheck, case: Case, judge: Judge | None = None
) -> CaseResult:
    """Ask one case through the chain (as the chat would) and score the reply (with the LLM
    ``judge`` too, when given)."""
    started = time.perf_counter()
    trace = chain.trace(case.question, case.history)
    latency_ms = (time.perf_counter() - started) * 1000
    answer, chunks = trace["answer"], trace["chunks"]
    texts = {chunk.id: chunk.page_content for chunk in chunks}
    passages = {c.n: texts.get(c.chunk_id, c.quote) for c in answer.citations}
    cites = metrics.citation_scores(answer, passages, check)
    result: dict[str, Any] = {
        "id": case.id,
        "question": case.question,
        "standalone": trace["question"],
        "answerable": case.answerable,
        "answer": answer.answer,
        "short_answer": answer.short_answer,
        "refused": answer.refused,
        "citations": [c.model_dump() for c in answer.citations],
        "unsupported": answer.unsupported,
        "latency_ms": latency_ms,
        "citation_recall": cites.recall,
        "citation_precision": cites.precision,
    }
    if case.answerable:
        result["rank"] = metrics.gold_rank(chunks, case.gold_quote, case.gold_source)
        if case.must_include_any:
            result["keyword_pass"] = metrics.keyword_pass(answer, case.must_include_any)
        if case.reference and not answer.refused:
            result["f1"] = metrics.token_f1(metrics.plain_answer(answer), [case.reference])
    if case.gold_source:  # a SQuAD case: the official EM/F1, whole answer and cited span
        whole, span = metrics.plain_answer(answer), metrics.cited_span(answer, case.answers)
        short = "" if answer.refused else answer.short_answer or span
        result["squad"] = {
            "em": metrics.exact_match(whole, case.answers),
            "f1": metrics.token_f1(whole, case.answers),
            "span_em": metrics.exact_match(span, case.answers),
            "span_f1": metrics.token_f1(span, case.answers),
            "short_em": metrics.exact_match(short, case.answers),
            "short_f1": metrics.token_f1(short, case.answers),
            "contains": metrics.contains_answer(whole, case.answers),
        }
    if judge:
        result |= judge.scores(case.question, answer, chunks)
    result["passed"], result["why"] = _verdict(case, result)
    return CaseResult.model_validate(result)


def run_eval(
    chain: QaChain,
    cases: list[Case],
    progress: Callable[[int, int], None] | None = None,
    judge: Judge | None = None,
) -> list[CaseResult]:
    """Every case, in order; ``progress`` is called with (done, total) after each."""
    check = SupportCheck(chain.store.sentence_embeddings)
    results = []
    for done, case in enumerate(cases, 1):
        results.append(run_case(chain, check, case, judge))
        if progress:
            progress(done, len(cases))
    return results


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered)) - 1)]


def aggregate(results: list[CaseResult]) -> dict[str, dict[str, float | None]]:
    """Aggregates by metric group (None where no case measures it)."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    ranked = [r for r in answerable if r.rank is not None or r.squad or r.keyword_pass is not None]
    groups: dict[str, dict[str, float | None]] = {
        "overall": {
            "cases": len(results),
            "pass_rate": _mean([float(r.passed) for r in results]),
        },
        "retrieval": {
            "hit@1": _mean([float(r.rank == 1) for r in ranked]),
            "hit@5": _mean([float(r.rank is not None and r.rank <= 5) for r in ranked]),
            "mrr": _mean([1 / r.rank if r.rank else 0.0 for r in ranked]),
        },
        "correctness": {
            "correct_cited": _mean([float(r.passed) for r in answerable]),
            "keyword_pass_rate": _mean(
                [float(r.keyword_pass) for r in answerable if r.keyword_pass is not None]
            ),
            "token_f1": _mean([r.f1 for r in answerable]),
        },
        "citations": {
            "recall": _mean([r.citation_recall for r in results]),
            "precision": _mean([r.citation_precision for r in results]),
        },
        "refusal": {
            "unanswerable_refused": _mean([float(r.refused) for r in unanswerable]),
            "answerable_refused": _mean([float(r.refused) for r in answerable]),
        },
        "latency": {
            "p50_ms": statistics.median([r.latency_ms for r in results]),
            "p95_ms": percentile([r.latency_ms for r in results], 0.95),
        },
    }
    judged = [r for r in results if r.faithfulness is not None or r.answer_relevancy is not None]
    if judged:
        groups["judge"] = {
            "faithfulness": _mean([r.faithfulness for r in judged]),
            "answer_relevancy": _mean([r.answer_relevancy for r in judged]),
        }
    squad = [r for r in results if r.squad]
    if squad:
        groups["squad"] = {
            f"{key}_{split}": _mean([r.squad[key] for r in subset if r.squad])
            for key in ("em", "f1", "span_em", "span_f1", "short_em", "short_f1", "contains")
            for split, subset in (
                ("all", squad),
                ("has_ans", [r for r in squad if r.answerable]),
                ("no_ans", [r for r in squad if not r.answerable]),
            )
        }
    return groups
