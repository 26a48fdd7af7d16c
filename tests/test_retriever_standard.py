"""The whole retrieval pipeline passes LangChain's standard retriever test suite."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from qa_bot.chain import QaChain
from qa_bot.retrieval.hybrid import HybridRetriever
from qa_bot.retrieval.rerank import SentenceReranker
from qa_bot.storage.store import Store


class TestHybridRetriever(RetrieversIntegrationTests):
    """Hybrid search + sentence reranker over the ingested default corpus."""

    store: Store

    @pytest.fixture(autouse=True)
    def _ingested(self, chain: QaChain) -> None:
        self.store = chain.store

    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"store": self.store, "reranker": SentenceReranker(self.store)}

    @property
    def retriever_query_example(self) -> str:
        return "What did TSMC decide?"
