"""Follow-up questions without an LLM: a question that leans on the conversation ("Who would fund
it?") is made standalone by carrying over the names and content words of the user's earlier
questions ("Who would fund it? (Project Crystal Land)")."""

from __future__ import annotations

import re
from collections.abc import Iterable

from qa_bot.text import STOPWORDS, key_terms, words

History = list[tuple[str, str | None]]
"""Earlier turns, oldest first: (user question, assistant answer or None)."""

ANAPHORA = frozenset(
    """it its it's they them their theirs he him his she her hers this that these those there
    then one ones such same former latter""".split()
)
MIN_OWN_WORDS = 3  # a question with fewer content words than this leans on the context
MAX_CARRIED = 8  # content words carried over from earlier questions
_CARRIED = re.compile(r"(?P<asked>.+) \((?P<carried>[^()]+)\)")


def needs_context(question: str) -> bool:
    """True when the question refers back ("it", "they", "that"), or is too short to stand
    alone and names nothing ("Why?", "And the cost?"; not "What did TSMC decide?")."""
    tokens = [w.lower() for w in words(question)]
    if any(t in ANAPHORA for t in tokens):
        return True
    own = [t for t in tokens if t not in STOPWORDS]
    return not key_terms(question) and len(own) < MIN_OWN_WORDS


def standalone_question(question: str, history: History) -> str:
    """``question`` alone, or followed by the content words of the user questions of
    ``history`` (most recent first; the chain has cut it to the turns allowed) when it needs
    them."""
    if not history or not needs_context(question):
        return question
    present = {w.lower() for w in words(question)}
    carried: list[str] = []
    for user, _ in reversed(history):
        for word in words(user):
            lower = word.lower()
            if lower in STOPWORDS or lower in ANAPHORA or lower in present:
                continue
            present.add(lower)
            carried.append(word)
    if not carried:
        return question
    return f"{question} ({' '.join(carried[:MAX_CARRIED])})"


def as_asked(question: str) -> str:
    """A question made standalone by ``standalone_question`` as the user asked it, without the
    words carried over (what the reader reads: retrieval has found the passages on the topic,
    and the reader was trained on questions as people ask them); any other question as it is."""
    match = _CARRIED.fullmatch(question)
    if match and needs_context(match["asked"]):
        return match["asked"]
    return question


def history_from_messages(messages: Iterable[tuple[str, str]]) -> History:
    """Chat messages as (role, text), oldest first, turned into turns: each user message opens
    a turn; assistant messages fill its reply (several in a row are joined); other roles are
    ignored. The Gradio chat and the OpenAI-compatible API both read history this way."""
    turns: History = []
    for role, text in messages:
        if role == "user":
            turns.append((text, None))
        elif role == "assistant" and turns:
            user, reply = turns[-1]
            turns[-1] = (user, f"{reply}\n\n{text}" if reply else text)
    return turns
