"""Errors a user can cause; each carries one plain sentence saying what is wrong and what to do."""


class QaBotError(Exception):
    """Base class: ``str(error)`` is the message shown to the user."""


class BadQuestionError(QaBotError):
    """The question is empty or too long."""


class SettingsError(QaBotError):
    """A ``QA_BOT_*`` variable or a settings section that names no setting."""


class UnknownNameError(QaBotError, ValueError):
    """A name no registry knows (an answerer, a reranker, a loader); a ValueError too, so a
    setting naming one fails validation."""


class ForbiddenError(QaBotError):
    """The caller's role does not allow what was asked."""


class CorpusError(QaBotError):
    """The corpus folder cannot be read or holds nothing to ingest."""


class IndexNotReadyError(QaBotError):
    """The index is empty or was built for another embedding model."""


class StoreUnavailableError(QaBotError):
    """The Chroma server cannot be reached."""


class GeneratorError(QaBotError):
    """The LLM endpoint is down, slow, or replies with something unusable."""


class IngestCancelled(QaBotError):
    """An ingestion stopped before its end: an admin cancelled it, or the server is stopping.
    What it indexed stays; the message says which source, and how far it got."""
