"""The extension points: answerers, rerankers and loaders, each a registry of named factories.

Built-ins are listed here as ``"module:attribute"`` and imported only when used, so naming one
in the settings costs nothing. Other packages add theirs through entry points (groups
``qa_bot.answerers``, ``qa_bot.rerankers``, ``qa_bot.loaders``), or at run time with
``register``; CONTRIBUTING.md shows how.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from qa_bot.errors import UnknownNameError


class Registry:
    """Named factories of one kind, resolved lazily."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self.group = group
        self._targets: dict[str, str | Callable[..., Any]] = dict(builtins)
        self._plugins_loaded = False

    def _load_plugins(self) -> None:
        if not self._plugins_loaded:
            for point in entry_points(group=self.group):
                self._targets.setdefault(point.name, point.value)
            self._plugins_loaded = True

    def register(self, name: str, factory: Callable[..., Any]) -> None:
        """Add (or replace) the factory called ``name``."""
        self._targets[name] = factory

    def names(self) -> list[str]:
        """Every registered name, built-ins first."""
        self._load_plugins()
        return list(self._targets)

    def check(self, name: str) -> str:
        """``name`` when it is registered; otherwise an error listing the known names."""
        if name not in self.names():
            raise UnknownNameError(
                f"Unknown {self.kind} '{name}': use one of {', '.join(self.names())}."
            )
        return name

    def get(self, name: str) -> Callable[..., Any]:
        """The factory called ``name``, imported on first use."""
        target = self._targets[self.check(name)]
        if isinstance(target, str):
            module, _, attribute = target.partition(":")
            obj: Any = import_module(module)
            for part in attribute.split("."):
                obj = getattr(obj, part)
            self._targets[name] = target = obj
        return target


ANSWERERS = Registry(
    "answerer",
    "qa_bot.answerers",
    {
        "extractive": "qa_bot.answer.extractive:ExtractiveAnswerer.from_settings",
        "openai": "qa_bot.answer.generative:openai_answerer",
        "local": "qa_bot.answer.generative:local_answerer",
    },
)
"""``(settings, store) -> Answerer``."""

CHAT_MODELS = Registry(
    "chat model",
    "qa_bot.chat_models",
    {
        "openai": "qa_bot.models.chat:OpenAIChat.from_settings",
        "local": "qa_bot.models.local:LocalChat.from_settings",
    },
)
"""``(settings) -> ChatModel``: what generative answerers and the eval judge talk to."""

RERANKERS = Registry(
    "reranker",
    "qa_bot.rerankers",
    {
        "sentence": "qa_bot.retrieval.rerank:SentenceReranker.from_settings",
        "reader": "qa_bot.retrieval.rerank:ReaderReranker.from_settings",
        "none": "qa_bot.retrieval.rerank:no_reranker",
    },
)
"""``(settings, store) -> Reranker | None``; a folder path names a local cross-encoder."""

INDEXES = Registry(
    "vector index", "qa_bot.indexes", {"chroma": "qa_bot.storage.chroma:ChromaIndex.open"}
)
"""``(settings, collection name) -> VectorIndex`` (``qa_bot/storage/vector_index.py``)."""

EMBEDDINGS = Registry(
    "embedding model",
    "qa_bot.embeddings",
    {
        "all-MiniLM-L6-v2": "qa_bot.storage.embeddings:bundled_minilm",
        "all-mpnet-base-v2": "qa_bot.storage.embeddings:bundled_mpnet",
    },
)
"""``(store settings) -> Embeddings``; a folder path names a local sentence-transformers model."""

LOADERS = Registry(
    "file type",
    "qa_bot.loaders",
    {
        ".txt": "qa_bot.ingest.loaders:load_text",
        ".md": "qa_bot.ingest.loaders:load_markdown",
        ".markdown": "qa_bot.ingest.loaders:load_markdown",
        ".html": "qa_bot.ingest.loaders:load_html",
        ".htm": "qa_bot.ingest.loaders:load_html",
        ".pdf": "qa_bot.ingest.pdf:load_pdf",
        ".docx": "qa_bot.ingest.loaders:load_docx",
        ".pptx": "qa_bot.ingest.slides:load_pptx",
        ".xlsx": "qa_bot.ingest.sheets:load_xlsx",
        ".csv": "qa_bot.ingest.sheets:load_csv",
        ".png": "qa_bot.ingest.ocr:load_image",
        ".jpg": "qa_bot.ingest.ocr:load_image",
        ".jpeg": "qa_bot.ingest.ocr:load_image",
        ".tif": "qa_bot.ingest.ocr:load_image",
        ".tiff": "qa_bot.ingest.ocr:load_image",
        ".webp": "qa_bot.ingest.ocr:load_image",
    },
)
"""``(path) -> list[(text, title, page)]``, by lower-case file extension."""
