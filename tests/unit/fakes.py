"""Deterministic stand-ins registered through qa-bot's own registries, for the unit tier: no
model, no spaCy, no subprocess. The real tiers never use them (the real chat models are
tested against a real llama.cpp server and a real in-process model)."""

from __future__ import annotations

import hashlib
import math
import re

from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from qa_bot.config import Settings, StoreSettings
from qa_bot.models.chat import ChatModel
from qa_bot.registry import CHAT_MODELS, EMBEDDINGS

HASHED = "hashed-words"
SCRIPTED = "scripted"
REPLIES: list[str] = []
"""What the ``scripted`` chat model says next, in order (a test puts its replies here)."""
DIMENSIONS = 256
_WORD = re.compile(r"[a-z0-9]+")


class HashedWords(Embeddings):
    """Each lower-cased word (and its first five letters, so "decided" meets "decide") adds
    ±1 to a dimension chosen by its hash; vectors are normalised. Texts sharing words are
    close, others are not: enough for retrieval to be tested without a model."""

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * DIMENSIONS
        for word in _WORD.findall(text.lower()):
            for token in {word, word[:5]}:
                digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
                index = int.from_bytes(digest[:3], "big") % DIMENSIONS
                vector[index] += 1.0 if digest[3] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


def hashed_words(_: StoreSettings) -> Embeddings:
    """The ``hashed-words`` embedding model."""
    return HashedWords()


def scripted(settings: Settings) -> ChatModel:
    """The ``scripted`` chat model: LangChain's fake chat model replying with ``REPLIES`` (word
    by word, as a stream), bounded like any chat model."""
    replies = iter([AIMessage(content=text) for text in REPLIES])
    REPLIES.clear()
    return ChatModel(GenericFakeChatModel(messages=replies), settings.openai.max_tokens)


def register() -> None:
    """Make the fakes known by name, as a plugin package would."""
    EMBEDDINGS.register(HASHED, hashed_words)
    CHAT_MODELS.register(SCRIPTED, scripted)
