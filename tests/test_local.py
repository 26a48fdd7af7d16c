"""The `local` answerer: Qwen2.5-Coder-1.5B-Instruct run in-process by llama.cpp, assembled from
its PyPI parts, and grounded like every generated answer."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa_bot.answer.generative import GenerativeAnswerer
from qa_bot.answer.grounding import parse
from qa_bot.chain import QaChain
from qa_bot.errors import GeneratorError
from qa_bot.evaluation.dataset import load_jsonl
from qa_bot.evaluation.harness import aggregate, run_eval
from qa_bot.evaluation.judge import Judge
from qa_bot.models.local import LocalChat
from qa_bot.models.shipped import MODELS as MODELS_UNDER_TEST
from qa_bot.models.shipped import ShippedModel, model_file
from qa_bot.records import Answer
from qa_bot.registry import CHAT_MODELS
from tests.conftest import REPO


@pytest.fixture(scope="module")
def local_chain(chain: QaChain) -> QaChain:
    """The default corpus's store, answered by the local instruct model."""
    return chain.variant(answer={"answerer": "local"})


def test_tsmc_is_answered_and_quoted(local_chain: QaChain) -> None:
    *pieces, final = list(local_chain.stream("What did TSMC decide?"))
    assert pieces and all(isinstance(p, str) for p in pieces)  # streamed
    assert isinstance(final, Answer) and not final.refused
    assert "opted out" in final.answer
    assert [c.verified for c in final.citations] == [True]
    assert "TSMC" in final.citations[0].quote and "opted out" in final.citations[0].quote


@pytest.mark.parametrize(
    "question",
    [
        "What did Samsung decide?",
        "Who is the chief executive of Project Crystal Land?",
        "How much did Hitachi invest in the parks?",
    ],
)
def test_no_name_or_number_outside_the_sources_is_shown(
    local_chain: QaChain, question: str
) -> None:
    """Refused, or every name and number the answer states is in the retrieved text; what the
    model invented is withheld."""
    trace = local_chain.trace(question)
    answer: Answer = trace["answer"]
    sources = " ".join(c.page_content for c in trace["chunks"])
    stated = [e.text for e in parse(answer.plain_text()).ents if e.label_ != "ORDINAL"]
    assert answer.refused or all(name in sources for name in stated), (answer, stated)
    assert all(c.verified for c in answer.citations)


def test_samsung_is_refused(local_chain: QaChain) -> None:
    answer = local_chain.ask("What did Samsung decide?")
    assert answer.refused and answer.citations == []


def test_a_reader_that_stops_frees_the_model(local_chain: QaChain) -> None:
    """A client that goes away mid-answer does not keep other questions waiting."""
    answerer = local_chain.answerer
    assert isinstance(answerer, GenerativeAnswerer) and isinstance(answerer.chat, LocalChat)
    stream = local_chain.stream("What did TSMC decide?")
    next(stream)  # the model is generating
    assert not answerer.chat._lock.acquire(blocking=False)
    stream.close()
    assert answerer.chat._lock.acquire(blocking=False)
    answerer.chat._lock.release()


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """Two real installed-looking part packages on sys.path: fakemodel_part1, fakemodel_part2."""
    content = b""
    for n in (1, 2):
        data = tmp_path / f"fakemodel_part{n}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        piece = bytes([n]) * 1000
        (data / f"part{n:02d}.bin").write_bytes(piece)
        content += piece
    sys.path.insert(0, str(tmp_path))
    yield "fakemodel_part", content
    sys.path.remove(str(tmp_path))


def _model(package: str, content: bytes, parts: int = 2, sha256: str | None = None) -> ShippedModel:
    digest = sha256 or hashlib.sha256(content).hexdigest()
    return ShippedModel("fake.gguf", package, parts, len(content), digest, "local")


def test_parts_are_assembled_once_and_checked(
    parts: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, content = parts
    monkeypatch.setitem(MODELS_UNDER_TEST, "fake", _model(package, content))
    path = model_file("fake", tmp_path / "cache")
    assert path.read_bytes() == content
    assert model_file("fake", tmp_path / "cache") == path  # already there: not assembled again


def test_a_checksum_mismatch_is_refused(
    parts: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, content = parts
    monkeypatch.setitem(MODELS_UNDER_TEST, "fake", _model(package, content, sha256="0" * 64))
    with pytest.raises(GeneratorError, match="does not match its published checksum"):
        model_file("fake", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []  # no partial file left behind


def test_a_missing_part_says_what_to_install(
    parts: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, content = parts
    monkeypatch.setitem(MODELS_UNDER_TEST, "fake", _model(package, content, parts=3))
    with pytest.raises(GeneratorError, match=r"fakemodel-part3 is missing.*\.\[local\]"):
        model_file("fake", tmp_path / "cache")


def test_a_model_path_that_is_no_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="No model file at"):
        model_file(str(tmp_path / "nothing.gguf"), tmp_path)
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert model_file(str(gguf), tmp_path) == gguf  # a GGUF of one's own is used as it is


def test_a_cached_file_without_its_checksum_stamp_is_assembled_again(
    parts: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, content = parts
    monkeypatch.setitem(MODELS_UNDER_TEST, "fake", _model(package, content))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "fake.gguf").write_bytes(b"x" * len(content))  # same size, other bytes, no stamp
    assert model_file("fake", cache).read_bytes() == content


def test_the_local_judge_tells_a_quote_from_an_invention(
    chain: QaChain, local_chain: QaChain
) -> None:
    answerer = local_chain.answerer
    assert isinstance(answerer, GenerativeAnswerer)
    chat = CHAT_MODELS.get("local")(local_chain.settings)  # the judge's, built by name
    assert isinstance(chat, LocalChat) and chat.model is answerer.chat.model  # loaded once
    judge = Judge(chat, chain.store.sentence_embeddings)
    by_id = {c.id: c for c in load_jsonl(REPO / "evals" / "datasets" / "default.jsonl")}
    results = {r.id: r for r in run_eval(chain, [by_id["tsmc"], by_id["samsung"]], judge=judge)}
    assert results["tsmc"].faithfulness == 1.0  # the extractive answer quotes its source
    relevancy = results["tsmc"].answer_relevancy
    assert relevancy is not None and 0 < relevancy <= 1  # judged: a cosine of two questions
    assert results["samsung"].faithfulness is None  # a refusal is not judged
    assert aggregate(list(results.values()))["judge"]["faithfulness"] == 1.0
    trace = chain.trace("What did TSMC decide?")
    invented = trace["answer"].model_copy(update={"answer": "Samsung pledged $2 trillion [1]."})
    assert judge.faithfulness(invented, trace["chunks"]) == 0.0
