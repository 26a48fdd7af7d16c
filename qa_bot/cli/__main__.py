"""``python -m qa_bot.cli``."""

from qa_bot.cli import app

app()
