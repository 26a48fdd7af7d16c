"""The Gradio chat UI: a thin face that streams the chain's answer and lists its sources."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import gradio as gr

from qa_bot.chain import QaChain
from qa_bot.errors import QaBotError
from qa_bot.followup import History
from qa_bot.models import Answer

EXAMPLES = [
    "What did TSMC decide?",
    "What is Project Crystal Land?",
    "How would the industrial parks be funded?",
]


def _escape(text: str) -> str:
    """Document text shown as text: HTML escaped and Markdown syntax neutralised."""
    return re.sub(r"([\\`*_{}\[\]#|~])", r"\\\1", html.escape(text))


def render(answer: Answer) -> str:
    """The answer, its numbered sources (each marked verified or not) and any sentence no
    source supports, as Markdown."""
    lines = [_escape(answer.answer)]
    if answer.citations:
        lines += ["", "**Sources**"]
    for c in answer.citations:
        where = f"`{_escape(c.source)}`" + (f" · page {c.page}" if c.page else "")
        mark = "✓ verified" if c.verified else "⚠️ does not support the sentence citing it"
        lines += [
            "",
            f"**\\[{c.n}\\]** {_escape(c.title)} · {where} · {mark}",
            f"> {_escape(c.quote)}",
        ]
    if answer.unsupported:
        lines += ["", "**⚠️ Not supported by the documents:**"]
        lines += [f"- {_escape(sentence)}" for sentence in answer.unsupported]
    return "\n".join(lines)


def _text(content: object) -> str:
    """The text of a Gradio message content (a string or a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def to_history(messages: list[dict]) -> History:
    """Gradio's chat messages as (user, assistant) turns."""
    turns: History = []
    for message in messages:
        text = _text(message.get("content"))
        if message.get("role") == "user":
            turns.append((text, None))
        elif turns and turns[-1][1] is None:
            turns[-1] = (turns[-1][0], text)
    return turns


def build_ui(chain: QaChain) -> gr.Blocks:
    """The chat app on top of ``chain``; its API endpoint is ``/chat``."""

    def respond(message: str, history: list[dict]) -> Iterator[str]:
        text = ""
        try:
            for piece in chain.stream(message, to_history(history)):
                if isinstance(piece, Answer):
                    yield render(piece)
                else:
                    text += piece
                    yield _escape(text)
        except QaBotError as error:
            yield f"⚠️ {error}"

    return gr.ChatInterface(
        respond,
        title="qa-bot",
        description="Ask about your documents; every answer cites the sentence it comes from.",
        examples=EXAMPLES,
        api_name="chat",
        analytics_enabled=False,
    )
