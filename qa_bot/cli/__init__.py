"""The ``qa-bot`` command line: ingest documents, ask questions, serve the chat, manage keys,
read the question log.

Each module adds its commands to the one Typer ``app``; heavy modules are imported inside the
commands, so ``--help`` and a question asked through a running server stay fast.
"""

from qa_bot.cli import asking, documents, keys, questions, serving, setup
from qa_bot.cli.common import app

__all__ = ["app", "asking", "documents", "keys", "questions", "serving", "setup"]
