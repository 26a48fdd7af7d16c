"""A refusal names up to three related passages (document, place, excerpt, viewer link), never
as an answer: no citation, no number; an answer names none. Through the real chain, the chat's
Markdown and the evaluation metrics."""

from __future__ import annotations

from qa_bot.answer.related import EXCERPT_CHARS, related_passages
from qa_bot.chain import QaChain
from qa_bot.evaluation.metrics import cited_span, keyword_pass, plain_answer
from qa_bot.server.ui import render
from tests.conftest import ARTICLE

REFUSED = "What did Samsung decide about the industrial parks?"


def test_a_refusal_names_related_passages_and_cites_nothing(unit_chain: QaChain) -> None:
    answer = unit_chain.ask(REFUSED)
    assert answer.refused and answer.citations == []
    assert 1 <= len(answer.related) <= 3
    for related in answer.related:
        assert related.source == ARTICLE and related.chunk_id
        assert 0 < len(related.excerpt) <= EXCERPT_CHARS
        [chunk] = [c for c in unit_chain.store.chunks(ARTICLE) if c.id == related.chunk_id]
        at = related.offset - chunk.metadata["offset"]
        assert chunk.page_content[at : at + len(related.excerpt)] == related.excerpt
    assert "industrial parks" in " ".join(r.excerpt for r in answer.related)


def test_an_answer_names_no_related_passages(unit_chain: QaChain) -> None:
    answer = unit_chain.ask("What did TSMC decide?")
    assert not answer.refused and answer.citations and answer.related == []


def test_the_chat_shows_them_apart_unnumbered_with_viewer_links(unit_chain: QaChain) -> None:
    answer = unit_chain.ask(REFUSED)
    shown = render(answer)
    assert "**Related passages** (not an answer: where to read on)" in shown
    assert "**Sources**" not in shown and "\\[1\\]" not in shown
    first = answer.related[0]
    end = first.offset + len(first.excerpt)
    assert f"[open source](/sources/{first.chunk_id}?start={first.offset}&end={end})" in shown


def test_evaluations_count_no_related_passage_as_an_answer(unit_chain: QaChain) -> None:
    answer = unit_chain.ask(REFUSED)
    excerpt = answer.related[0].excerpt
    assert plain_answer(answer) == "" and cited_span(answer, [excerpt]) == ""
    assert not keyword_pass(answer, [[excerpt]])
    assert related_passages(REFUSED, []) == []  # nothing retrieved: nothing related
