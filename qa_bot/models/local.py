"""The ``local`` chat model: an instruct model run in-process by llama.cpp (``pip install -e
'.[local]'``), through LangChain's ``ChatLlamaCpp``; one generation at a time."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from qa_bot.errors import GeneratorError
from qa_bot.models.chat import ChatModel
from qa_bot.models.shipped import model_file

if TYPE_CHECKING:
    from qa_bot.config import LocalSettings, Settings

_INSTALL = "pip install -e '.[local]'"


_loading = threading.Lock()


@lru_cache(maxsize=1)
def chat_model(
    path: Path, context_tokens: int, threads: int, max_tokens: int, temperature: float
) -> BaseChatModel:
    """The model, loaded once per process (it maps about 1 GB); one at a time."""
    try:
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError:
        raise GeneratorError(f"The local answerer is not installed: run `{_INSTALL}`.") from None
    try:
        return ChatLlamaCpp(
            model_path=str(path),
            n_ctx=context_tokens,
            n_threads=threads,
            n_batch=512,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=0,
            verbose=False,
        )
    except ImportError:  # langchain-community without llama-cpp-python
        raise GeneratorError(f"llama.cpp is not installed: run `{_INSTALL}`.") from None
    except ValueError as error:
        raise GeneratorError(f"llama.cpp cannot load {path.name}: {error}") from None


class LocalChat(ChatModel):
    """A GGUF instruct model in this process; one generation at a time (llama.cpp's context
    is not shared between threads), whichever answerer or judge asks."""

    _lock = threading.Lock()
    wait_seconds = 120.0
    """How long a question waits for the model while another is being answered."""

    def __init__(self, model: BaseChatModel, settings: Settings) -> None:
        super().__init__(model, settings.local.max_tokens)
        self.context_tokens = settings.local.context_tokens

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalChat:
        """The ``local`` settings' model, assembled from its packages on first use."""
        local: LocalSettings = settings.local
        path = model_file(local.model, local.cache_dir)
        threads = local.threads or len(os.sched_getaffinity(0))
        with _loading:
            model = chat_model(
                path, local.context_tokens, threads, local.max_tokens, local.temperature
            )
        return cls(model, settings)

    def generate(self, messages: list[BaseMessage]) -> Iterator[str]:
        """The reply's pieces, while no other thread of this process generates (the lock is
        released when the reply ends or its reader stops reading and closes it)."""
        if not self._lock.acquire(timeout=self.wait_seconds):
            raise GeneratorError(
                "The local model is busy answering other questions: ask again in a minute."
            )
        try:
            yield from super().generate(messages)
        finally:
            self._lock.release()

    @contextmanager
    def _plain_errors(self) -> Iterator[None]:
        try:
            yield
        except ValueError as error:
            if "context window" in str(error):
                raise GeneratorError(
                    f"The question and its sources do not fit the local model's "
                    f"{self.context_tokens}-token context: raise QA_BOT_LOCAL__CONTEXT_TOKENS or "
                    "lower QA_BOT_RETRIEVAL__TOP_K."
                ) from None
            raise GeneratorError(f"The local model failed: {error}") from None
