"""Chunks are whole sentences, sized as configured, overlapping, with exact offsets."""

from __future__ import annotations

from itertools import pairwise

import pytest
from langchain_core.documents import Document

from qa_bot.ingest.split import split_documents
from qa_bot.text import Span, sentence_spans
from tests.conftest import ARTICLE_FILE, REPO


def article() -> Document:
    text = (REPO / "corpus" / ARTICLE_FILE).read_text()
    return Document(page_content=text, metadata={"source": ARTICLE_FILE, "title": "t"})


def test_chunks_are_exact_slices_made_of_whole_sentences() -> None:
    doc = article()
    starts = {s.start for s in sentence_spans(doc.page_content)}
    ends = {s.end for s in sentence_spans(doc.page_content)}
    chunks = split_documents([doc], size=400, overlap=100)
    assert len(chunks) > 5
    for chunk in chunks:
        offset = chunk.metadata["offset"]
        assert doc.page_content[offset : offset + len(chunk.page_content)] == chunk.page_content
        assert offset in starts and offset + len(chunk.page_content) in ends


def test_chunks_respect_size_overlap_and_order() -> None:
    chunks = split_documents([article()], size=400, overlap=250)
    assert [c.metadata["position"] for c in chunks] == list(range(len(chunks)))
    assert all(len(c.page_content) <= 400 for c in chunks)  # no sentence here is longer
    offsets = [c.metadata["offset"] for c in chunks]
    assert offsets == sorted(offsets)
    ends = [c.metadata["offset"] + len(c.page_content) for c in chunks]
    shared = [end - nxt for nxt, end in zip(offsets[1:], ends, strict=False) if nxt < end]
    assert len(shared) >= len(chunks) // 2
    assert all(length <= 250 for length in shared)


def test_sentence_longer_than_size_is_kept_whole() -> None:
    long_sentence = "word " * 100 + "end."
    doc = Document(page_content=f"Short one. {long_sentence} Another short one.", metadata={})
    chunks = split_documents([doc], size=50, overlap=0)
    assert [c.page_content for c in chunks] == ["Short one.", long_sentence, "Another short one."]


def test_sentence_offsets_are_exact_across_paragraphs() -> None:
    text = "  First one. Second one!\r\n\r\n\tThird, after a break?\n \nLast line.\n"
    assert sentence_spans(text) == [
        Span(2, 12, "First one."),
        Span(13, 24, "Second one!"),
        Span(29, 50, "Third, after a break?"),
        Span(53, 63, "Last line."),
    ]


def test_a_word_is_not_cut_after_its_dot() -> None:
    text = (
        "A common directory location for a virtual environment is .venv. It stays hidden. "
        "The arguments are stored in .args. Run ./configure. Done."
    )
    assert [s.text for s in sentence_spans(text)] == [
        "A common directory location for a virtual environment is .venv.",
        "It stays hidden.",
        "The arguments are stored in .args.",
        "Run ./configure.",
        "Done.",
    ]


def test_sentences_without_spaces_between_them_stay_apart() -> None:
    assert [s.text for s in sentence_spans("这是第一句。这是第二句。")] == [
        "这是第一句。",
        "这是第二句。",
    ]


def test_long_multi_paragraph_text_keeps_the_contract() -> None:
    paragraphs = [
        f"Paragraph {n} starts here. The U.S. office opened on Nov. {n % 28 + 1}, 2023.\n"
        f"It employs {n * 7} people! Does it grow?"
        for n in range(600)
    ]
    text = "\n\n".join(paragraphs)
    spans = sentence_spans(text)
    assert len(spans) == 4 * len(paragraphs)
    assert all(s.text == text[s.start : s.end] == s.text.strip() for s in spans)
    assert all(a.end <= b.start for a, b in pairwise(spans))
    assert [s.text for s in spans[-4:]] == [
        "Paragraph 599 starts here.",
        "The U.S. office opened on Nov. 12, 2023.",
        "It employs 4193 people!",
        "Does it grow?",
    ]


def test_long_text_without_blank_lines_splits_into_sentences() -> None:
    sentences = [f"Sentence number {n} mentions Dr. Smith of the U.S. team." for n in range(2000)]
    text = " ".join(sentences)  # ~110 000 characters on one line
    spans = sentence_spans(text)
    assert [s.text for s in spans] == sentences
    assert all(s.text == text[s.start : s.end] for s in spans)


def test_sentence_longer_than_a_block_is_cut_at_spaces_only() -> None:
    text = " ".join(f"word{n}" for n in range(5000))  # one 40 000-character "sentence"
    spans = sentence_spans(text)
    assert len(spans) > 1
    assert all(s.text == text[s.start : s.end] == s.text.strip() for s in spans)
    assert " ".join(s.text for s in spans) == text


def test_chunks_of_a_long_single_line_text_are_exact_slices() -> None:
    text = " ".join(f"Item {n} ships on Monday." for n in range(3000))
    chunks = split_documents([Document(page_content=text, metadata={})], size=400, overlap=100)
    assert chunks[0].page_content.startswith("Item 0 ships") and text.endswith(
        chunks[-1].page_content
    )
    for chunk in chunks:
        offset = chunk.metadata["offset"]
        assert text[offset : offset + len(chunk.page_content)] == chunk.page_content
        assert len(chunk.page_content) <= 400


def test_sentence_splitting_reads_the_text_in_bounded_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Linear time on any text: pysbd (superlinear on long inputs) only ever sees blocks of a
    few thousand characters, and each character at most about twice."""
    import pysbd

    seen: list[int] = []
    segment = pysbd.Segmenter.segment

    def counted(self: pysbd.Segmenter, text: str) -> list[str]:
        seen.append(len(text))
        return segment(self, text)

    monkeypatch.setattr(pysbd.Segmenter, "segment", counted)
    text = ("The depot stores pallets. Inspections happen weekly. " * 4000) + "\n\n" + "x " * 9000
    spans = sentence_spans(text)
    assert spans[0].text == "The depot stores pallets." and spans[-1].end <= len(text)
    assert max(seen) <= 4000 and sum(seen) <= 2.2 * len(text)
