"""Ingestion: load files, split them into chunks, index the chunks incrementally."""

from qa_bot.ingest.index import IngestReport, ingest

__all__ = ["IngestReport", "ingest"]
