"""Chat models by name (``CHAT_MODELS``): what the generative answerers and the eval judge
talk to. A ``ChatModel`` streams a reply's text, at most ``max_tokens`` pieces, and turns what
its backend does wrong into one sentence saying what to check. ``openai`` is any
OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama's /v1, LM Studio, TGI, hosted APIs)
through ``ChatOpenAI``; ``local`` (``qa_bot.models.local``) a GGUF model in this process."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from qa_bot.errors import GeneratorError

if TYPE_CHECKING:
    from qa_bot.config import Settings


class ChatModel:
    """A LangChain chat model with qa-bot's bound on the reply and its plain errors."""

    def __init__(self, model: BaseChatModel, max_tokens: int) -> None:
        self.model = model
        self.max_tokens = max_tokens

    @contextmanager
    def _plain_errors(self) -> Iterator[None]:
        """Turn what the model does wrong into one sentence saying what to check."""
        yield

    def empty_reply(self) -> GeneratorError:
        """The error for a reply with no text."""
        return GeneratorError("The language model returned an empty answer: ask again.")

    def generate(self, messages: list[BaseMessage]) -> Iterator[str]:
        """The reply's text pieces as they stream, at most ``max_tokens`` of them (some
        servers, llama-cpp-python's among them, ignore ``max_completion_tokens``)."""
        stream = self.model.stream(messages)
        with self._plain_errors(), closing(stream):  # type: ignore[type-var]  # a generator
            for piece in itertools.islice(stream, self.max_tokens):
                if isinstance(piece.content, str) and piece.content:
                    yield piece.content

    def complete(self, messages: list[BaseMessage]) -> str:
        """The whole reply, stripped."""
        return "".join(self.generate(messages)).strip()


class OpenAIChat(ChatModel):
    """``ChatOpenAI`` pointed at ``settings.openai.base_url``."""

    def __init__(self, model: BaseChatModel, settings: Settings) -> None:
        super().__init__(model, settings.openai.max_tokens)
        self.endpoint = settings.openai.base_url
        self.timeout = settings.openai.timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIChat:
        """The endpoint the ``openai`` settings describe; its key from the env var they name."""
        llm = settings.openai
        model = ChatOpenAI(
            model=llm.model,
            base_url=llm.base_url,
            api_key=SecretStr(os.environ.get(llm.api_key_env) or "unused"),
            timeout=llm.timeout,
            max_retries=llm.max_retries,
            max_tokens=llm.max_tokens,
            temperature=llm.temperature,
        )
        return cls(model, settings)

    def empty_reply(self) -> GeneratorError:
        return GeneratorError(
            f"The LLM server at {self.endpoint} returned an empty answer: check its log "
            "and QA_BOT_OPENAI__MODEL."
        )

    @contextmanager
    def _plain_errors(self) -> Iterator[None]:
        """What the endpoint does wrong, as one sentence naming it and what to check."""
        where = f"The LLM server at {self.endpoint}"
        try:
            yield
        except openai.APITimeoutError:
            raise GeneratorError(
                f"{where} did not answer within {self.timeout:g} s: check that it is not "
                "overloaded, or raise QA_BOT_OPENAI__TIMEOUT."
            ) from None
        except openai.APIConnectionError:
            raise GeneratorError(
                f"{where} cannot be reached: start it or fix QA_BOT_OPENAI__BASE_URL "
                "(QA_BOT_ANSWER__ANSWERER=extractive answers without an LLM)."
            ) from None
        except openai.AuthenticationError:
            raise GeneratorError(
                f"{where} rejected the API key: put a valid key in the env var named by "
                "QA_BOT_OPENAI__API_KEY_ENV."
            ) from None
        except openai.APIStatusError as error:
            raise GeneratorError(
                f"{where} failed with HTTP {error.status_code}: check its log and "
                "QA_BOT_OPENAI__MODEL."
            ) from None
        except (openai.APIError, ValueError, KeyError, TypeError):
            raise GeneratorError(
                f"{where} sent a reply that is not an OpenAI chat completion: check that "
                "QA_BOT_OPENAI__BASE_URL is an OpenAI-compatible endpoint ending in /v1."
            ) from None
