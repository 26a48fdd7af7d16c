"""The embedding model run by OpenVINO: the same vectors as PyTorch's (within its precision),
converted once and checked, and never mixed with another runner's vectors in one index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from safetensors.torch import load_file, save_file

from qa_bot.config import Settings
from qa_bot.errors import IndexNotReadyError, QaBotError
from qa_bot.ingest import ingest
from qa_bot.ingest.knowledge import KnowledgeBase
from qa_bot.storage.digest import sha256
from qa_bot.storage.embeddings import SentenceEmbeddings, resolve_model_path
from qa_bot.storage.encoders import OpenVinoEmbeddings, calibration_sentences
from qa_bot.storage.store import Store
from tests.conftest import ARTICLE

TEXTS = [
    "Short.",
    "The Rhine flows from the Swiss Alps to the North Sea.",
    "A virtual environment is a directory tree with its own Python installation. " * 3,
    "Barges carry coal, grain and containers between the ports of the river. " * 40,  # cut
    # as sentence-transformers cuts: longer than the model reads
]
QUESTION = "Where does the Rhine end?"
MODEL = resolve_model_path("all-MiniLM-L6-v2")


def exports(cache: Path) -> list[Path]:
    """The conversions in an encoder cache."""
    return sorted(p for p in (cache / "encoders").iterdir() if not p.name.startswith("."))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("encoders")


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, np.ndarray]:
    torch = SentenceEmbeddings(MODEL)
    return np.array(torch.embed_documents(TEXTS)), np.array(torch.embed_query(QUESTION))


@pytest.mark.parametrize(
    ("precision", "floor"), [("fp32", 0.9999), ("auto", 0.999), ("int8", 0.98)]
)
def test_openvino_embeds_as_pytorch_does(
    cache: Path, reference: tuple[np.ndarray, np.ndarray], precision: str, floor: float
) -> None:
    documents, question = reference
    encoder = OpenVinoEmbeddings(MODEL, cache, precision)  # type: ignore[arg-type]
    vectors = np.array(encoder.embed_documents(TEXTS))
    assert vectors.shape == documents.shape
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert (vectors * documents).sum(axis=1).min() > floor  # each text, in its own row
    assert float(np.array(encoder.embed_query(QUESTION)) @ question) > floor
    assert encoder.embed_documents([]) == []


def test_int8_is_calibrated_on_documentation_sentences() -> None:
    sentences = calibration_sentences()
    assert len(sentences) == 128 and len(set(sentences)) == 128
    assert all(40 <= len(s) <= 400 for s in sentences)


def test_the_conversion_is_made_once_checked_and_made_again_when_damaged(tmp_path: Path) -> None:
    first = np.array(OpenVinoEmbeddings(MODEL, tmp_path, "fp32").embed_documents(TEXTS))
    [folder] = exports(tmp_path)
    weights = folder / "model.bin"
    made = weights.stat().st_mtime_ns
    OpenVinoEmbeddings(MODEL, tmp_path, "auto")  # the same conversion, compiled otherwise
    assert weights.stat().st_mtime_ns == made and len(exports(tmp_path)) == 1
    with weights.open("r+b") as file:  # damaged on disk
        file.seek(4096)
        file.write(b"\xff" * 64)
    again = np.array(OpenVinoEmbeddings(MODEL, tmp_path, "fp32").embed_documents(TEXTS))
    stamp = json.loads((folder / "stamp.json").read_text())
    assert sha256(weights) == stamp["sha256"]
    assert np.allclose(again, first, atol=1e-5)


def test_new_weights_get_a_conversion_of_their_own(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(MODEL, model)
    OpenVinoEmbeddings(model, tmp_path / "cache", "fp32")
    weights = model / "model.safetensors"
    save_file(load_file(weights), weights, metadata={"format": "pt", "retrained": "yes"})
    OpenVinoEmbeddings(model, tmp_path / "cache", "fp32")
    assert len(exports(tmp_path / "cache")) == 2


def test_an_index_from_before_the_runner_setting_counts_as_pytorch(
    tmp_path: Path, corpus: Path
) -> None:
    data = {"data_dir": tmp_path / "data", "encoder": "torch"}
    store = Store.open(Settings().updated(store=data))
    ingest(store, corpus)
    collection = store._index._client.get_collection(store.collection_name)  # type: ignore[attr-defined]
    collection.modify(metadata={"embedding_model": "all-MiniLM-L6-v2"})  # no "runner" key
    assert Store.open(Settings().updated(store=data)).documents() == {ARTICLE}
    with pytest.raises(IndexNotReadyError, match="embedded by torch, not openvino-auto"):
        Store.open(Settings().updated(store={"data_dir": tmp_path / "data"}))


def test_a_damaged_or_partial_conversion_is_made_again(tmp_path: Path) -> None:
    OpenVinoEmbeddings(MODEL, tmp_path, "fp32")
    [folder] = exports(tmp_path)
    for damage in ("model.bin", "stamp.json"):
        (folder / damage).unlink()  # a half-deleted or interrupted export
        encoder = OpenVinoEmbeddings(MODEL, tmp_path, "fp32")
        assert (folder / "model.bin").is_file() and (folder / "stamp.json").is_file()
        assert len(encoder.embed_query(QUESTION)) == 384
    (folder / "stamp.json").write_text("{not json")
    OpenVinoEmbeddings(MODEL, tmp_path, "fp32")
    assert json.loads((folder / "stamp.json").read_text())["sha256"] == sha256(folder / "model.bin")


def test_an_unwritable_cache_is_one_plain_sentence(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(QaBotError, match=r"could not be converted for OpenVINO.*ENCODER=torch"):
        OpenVinoEmbeddings(MODEL, blocked, "fp32")


def test_converting_sends_no_usage_statistics(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; "
        "from qa_bot.storage.embeddings import resolve_model_path; "
        "from qa_bot.storage.encoders import OpenVinoEmbeddings; "
        "OpenVinoEmbeddings(resolve_model_path('all-MiniLM-L6-v2'), "
        f"Path({str(tmp_path)!r}), 'fp32'); "
        "print(sys.modules.get('openvino_telemetry'))"
    )
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    env.pop("CI", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"  # the telemetry package was never imported
    assert not (tmp_path / "home" / "intel").exists()  # where it keeps its client id


def test_pytorch_has_no_precision_to_choose() -> None:
    with pytest.raises(ValidationError, match="needs encoder openvino"):
        Settings().updated(store={"encoder": "torch", "precision": "int8"})


def test_an_index_keeps_the_runner_it_was_embedded_by(tmp_path: Path, corpus: Path) -> None:
    data = {"data_dir": tmp_path / "data", "encoder_cache": tmp_path / "cache"}
    torch = Settings().updated(store={**data, "encoder": "torch"})
    ingest(Store.open(torch), corpus)
    openvino = Settings().updated(store={**data, "encoder": "openvino", "precision": "fp32"})
    with pytest.raises(IndexNotReadyError, match="embedded by torch, not openvino-fp32") as error:
        Store.open(openvino)
    assert "run `qa-bot ingest --rebuild`" in str(error.value)
    assert "set QA_BOT_STORE__ENCODER=torch to keep using it" in str(error.value)
    knowledge = KnowledgeBase(Store.open(openvino, any_model=True))
    knowledge.rebuild()
    reopened = Store.open(openvino)  # no complaint any more, and it finds by the new vectors
    assert reopened.documents() == {ARTICLE}
    vector = reopened.embeddings.embed_query("industrial parks funded by Japan")
    [(found, similarity)] = reopened.dense_search(vector, k=1)
    assert found.metadata["source"] == ARTICLE and similarity > 0.3
    with pytest.raises(
        IndexNotReadyError, match="ENCODER=openvino and QA_BOT_STORE__PRECISION=fp32"
    ):
        Store.open(torch)
