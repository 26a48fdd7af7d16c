"""Finding the chunks that answer a question: dense and BM25 search, fused by reciprocal rank
fusion, reranked, optionally diversified. ``HybridRetriever`` is the whole pipeline."""

from qa_bot.retrieval.hybrid import HybridRetriever

__all__ = ["HybridRetriever"]
