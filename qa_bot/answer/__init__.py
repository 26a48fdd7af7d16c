"""Answer writers behind one interface."""

from qa_bot.answer.base import REFUSAL, Answerer

__all__ = ["REFUSAL", "Answerer"]
