"""Ingestion: load files, split them into chunks, index the chunks incrementally."""

from qa_bot.ingest.batch import IngestReport
from qa_bot.ingest.index import ingest

__all__ = ["IngestReport", "ingest"]
