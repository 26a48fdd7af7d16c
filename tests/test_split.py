"""Chunks are whole sentences, sized as configured, overlapping, with exact offsets."""

from __future__ import annotations

from langchain_core.documents import Document

from qa_bot.ingest.split import split_documents
from qa_bot.text import sentence_spans
from tests.conftest import ARTICLE, REPO


def article() -> Document:
    text = (REPO / "corpus" / ARTICLE).read_text()
    return Document(page_content=text, metadata={"source": ARTICLE, "title": "t"})


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
