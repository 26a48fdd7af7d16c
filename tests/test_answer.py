"""The chain answers from the documents with exact, checkable citations, or refuses."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pydantic import ValidationError

from qa_bot.answer import REFUSAL
from qa_bot.answer.extractive import READ, SUMMARY_SENTENCES, ExtractiveAnswerer
from qa_bot.answer.questions import Expects, expects
from qa_bot.chain import QaChain
from qa_bot.errors import BadQuestionError, IndexNotReadyError
from qa_bot.reader.answerability import Answerability
from qa_bot.reader.reader import Reader
from qa_bot.records import Answer
from qa_bot.storage.store import Store
from tests.conftest import ARTICLE, ARTICLE_FILE, REPO


def test_tsmc_question_cites_the_article(chain: QaChain) -> None:
    answer = chain.ask("What did TSMC decide?")
    assert not answer.refused
    assert "opted out" in answer.answer and "[1]" in answer.answer
    first = answer.citations[0]
    assert first.n == 1 and first.source == ARTICLE and "TSMC" in first.quote
    assert first.title.startswith("SoftBank CEO Proposes")


@pytest.mark.parametrize(
    "question",
    [
        "What is Project Crystal Land?",
        "How would the industrial parks be funded?",
        "Which Japanese companies are being sought as partners?",
    ],
)
def test_every_citation_quotes_the_document_at_its_offset(chain: QaChain, question: str) -> None:
    text = (REPO / "corpus" / ARTICLE_FILE).read_text()
    answer = chain.ask(question)
    assert not answer.refused and answer.citations
    for c in answer.citations:
        assert text[c.offset : c.offset + len(c.quote)] == c.quote
        assert f"[{c.n}]" in answer.answer
        assert 0 < c.score <= 1


@pytest.mark.parametrize(
    "question",
    ["What did Samsung decide?", "What is the capital of France?", "What did Intel decide?"],
)
def test_unanswerable_questions_are_refused(chain: QaChain, question: str) -> None:
    answer = chain.ask(question)
    assert answer.refused and answer.answer == REFUSAL and answer.citations == []
    assert len(answer.related) <= 3  # where to read on, never cited


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How much did Japan pledge?", "$550 billion"),
        ("When may funding for the project materialize?", "2026"),
        ("How many robots will work in the parks?", None),  # robots, but no count, in the article
    ],
)
def test_quantity_and_date_questions_need_a_quantity_or_date(
    chain: QaChain, question: str, expected: str | None
) -> None:
    answer = chain.ask(question)
    assert answer.refused is (expected is None)
    assert expected is None or expected in answer.answer


def test_stream_yields_text_then_the_same_answer(chain: QaChain) -> None:
    pieces = list(chain.stream("What did TSMC decide?"))
    final = pieces[-1]
    assert isinstance(final, Answer)
    assert len(pieces) > 2 and "".join(pieces[:-1]) == final.answer
    assert final == chain.ask("What did TSMC decide?")


@pytest.mark.parametrize(
    ("question", "message"), [("   ", "question is empty"), ("why " * 600, "too long")]
)
def test_bad_questions_get_a_clear_error(chain: QaChain, question: str, message: str) -> None:
    with pytest.raises(BadQuestionError, match=message):
        chain.ask(question)


def test_empty_index_says_to_ingest(make_store: Callable[..., Store]) -> None:
    with pytest.raises(IndexNotReadyError, match="qa-bot ingest"):
        QaChain(make_store()).ask("What did TSMC decide?")


def test_unknown_answerer_is_a_clear_error(make_store: Callable[..., Store]) -> None:
    with pytest.raises(ValidationError, match="Unknown answerer 'magic': use one of extractive"):
        make_store(answer={"answerer": "magic"})


def test_other_embedding_model_needs_a_rebuild(make_store: Callable[..., Store], tmp_path) -> None:
    make_store()
    with pytest.raises(IndexNotReadyError, match="ingest --rebuild"):
        make_store(store={"embedding_model": str(tmp_path)})


def test_variant_honours_every_setting_and_shares_the_reranker(chain: QaChain) -> None:
    keyword = chain.variant(retrieval={"mode": "bm25", "top_k": 2, "mmr_lambda": 0.5})
    assert (keyword.retriever.mode, keyword.retriever.k) == ("bm25", 2)
    assert keyword.retriever.mmr_lambda == 0.5
    assert keyword.retriever.reranker is chain.retriever.reranker  # built once, shared
    assert keyword.store is chain.store
    assert len(keyword.retrieve("Where would the Trump industrial parks be built?")) == 2
    plain = chain.variant(retrieval={"reranker": "none"})
    assert plain.retriever.reranker is None
    assert chain.variant(retrieval={"mode": "bm25", "top_k": 2, "mmr_lambda": 0.5}) is keyword
    assert chain.variant() is chain


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who is proposing the parks?", Expects.PERSON),
        ("Which companies opted out?", Expects.ORGANISATION),
        ("Where would the parks be built?", Expects.PLACE),
        ("On what date did Son meet Johnson?", Expects.DATE),
        ("How much did Japan pledge?", Expects.NUMBER),
        ("In which version was NullHandler added?", Expects.NUMBER),
        ("What is Project Crystal Land?", Expects.DEFINITION),
        ("What is the long-term goal of Project Crystal Land?", Expects.OTHER),
        ("Why do some businesses hesitate to join?", Expects.REASON),
        ("Did TSMC join the plan?", Expects.YES_NO),
        ("Summarize the article", Expects.SUMMARY),
        ("What is this article about?", Expects.SUMMARY),
        ("Can you summarize the article?", Expects.SUMMARY),
        ("What’s Project Crystal Land?", Expects.DEFINITION),
        ("What did TSMC decide?", Expects.OTHER),
    ],
)
def test_questions_are_typed(question: str, kind: Expects) -> None:
    assert expects(question) == kind


@pytest.mark.parametrize(
    ("question", "short"),
    [
        ("How much did Japan pledge as part of the trade agreement?", "$550 billion"),
        ("When was ChatGPT launched?", "November 2022"),
        ("Who is proposing Trump-branded industrial parks?", "Masayoshi Son"),
    ],
)
def test_a_typed_question_gets_a_short_answer_from_its_quote(
    chain: QaChain, question: str, short: str
) -> None:
    answer = chain.ask(question)
    assert answer.short_answer is not None and short in answer.short_answer
    assert answer.short_answer in answer.citations[0].quote


def test_without_the_reader_an_untyped_question_has_no_short_answer(chain: QaChain) -> None:
    answer = chain.variant(answer={"reader": False}).ask("What did TSMC decide?")
    assert not answer.refused and answer.short_answer is None


def test_with_the_reader_the_short_answer_is_its_span_in_the_quote(chain: QaChain) -> None:
    answer = chain.ask("When might funding for the project materialize?")
    assert not answer.refused and answer.short_answer == "early 2026"
    assert answer.short_answer in answer.citations[0].quote
    assert "materialize in early 2026" in answer.citations[0].quote


@pytest.mark.parametrize("question", ["What is the capital of France?", "What did Samsung decide?"])
def test_with_the_reader_unanswerable_questions_are_refused(chain: QaChain, question: str) -> None:
    assert chain.ask(question).refused


def test_the_readers_veto_refuses_a_near_miss_the_scorer_would_quote(chain: QaChain) -> None:
    """The article has tariffs and Japanese investment, not a tariff on Japanese steel."""
    question = "What tariff applies to Japanese steel?"
    assert not chain.variant(answer={"reader_veto": 0.0}).ask(question).refused
    assert chain.ask(question).refused


@pytest.mark.parametrize("threshold, refused", [(1.01, True), (-0.01, False)])
def test_the_answerability_model_refuses_below_its_threshold(
    chain: QaChain, threshold: float, refused: bool
) -> None:
    answerer = chain.answerer
    assert isinstance(answerer, ExtractiveAnswerer) and answerer.reader is not None
    shipped = answerer.reader
    flat = Answerability(np.zeros(6), np.ones(6), np.zeros(6), 0.0, threshold)  # always 0.5
    reader = Reader(shipped.net, shipped.tokenizer, shipped.veto, flat)
    judged = ExtractiveAnswerer(answerer.embeddings, answerer.min_support, reader=reader)
    question = "When might funding for the project materialize?"
    assert judged.answer(question, chain.retrieve(question)).refused is refused


def test_the_reader_reads_only_the_scorers_best_sentences(chain: QaChain) -> None:
    answerer = chain.answerer
    assert isinstance(answerer, ExtractiveAnswerer) and answerer.reader is not None
    question = "What is Project Crystal Land?"
    chunks = chain.retrieve(question)
    read = answerer.supported(question, chunks)
    assert 1 <= len(read) <= READ < len(answerer.eligible(question, chunks))
    assert all(c.support >= answerer.min_support for c in read)
    assert [c.score for c in read] == sorted((c.score for c in read), reverse=True)


def test_the_reader_reads_sentences_of_any_kind(chain: QaChain) -> None:
    """Without the reader only a sentence holding a count may answer "how many"; the reader
    reads the others too, and judges (the article counts no robots)."""
    answerer = chain.answerer
    assert isinstance(answerer, ExtractiveAnswerer) and answerer.reader is not None
    question = "How many robots will work in the parks?"
    chunks = chain.retrieve(question)
    typed = {c.text for c in answerer.eligible(question, chunks)}
    read = answerer.supported(question, chunks)
    assert any(c.text not in typed for c in read)
    assert chain.ask(question).refused


def test_why_is_answered_with_the_reason(chain: QaChain) -> None:
    """The article asks the question itself and answers it in the next sentence."""
    answer = chain.ask("Why do some businesses hesitate to join the project?")
    assert "Concerns about profitability" in answer.citations[0].quote


def test_a_summary_quotes_four_sentences_in_reading_order(chain: QaChain) -> None:
    answer = chain.ask("Summarize the article")
    assert not answer.refused and len(answer.citations) == SUMMARY_SENTENCES
    offsets = [c.offset for c in answer.citations]
    assert offsets == sorted(offsets) and len(set(c.quote for c in answer.citations)) == len(
        offsets
    )


def test_a_typed_question_needs_its_names_in_the_answering_sentence(chain: QaChain) -> None:
    """Hitachi is in the article, but no sentence about Hitachi holds an amount."""
    assert chain.ask("How much did Hitachi invest in the parks?").refused


def test_a_summary_of_something_the_documents_never_mention_is_refused(chain: QaChain) -> None:
    assert chain.ask("Summarize the GDPR policy").refused
