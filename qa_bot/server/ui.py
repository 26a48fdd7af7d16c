"""The Gradio chat UI: a thin face that streams the chain's answer, lists its sources with links to
the source viewer, takes likes and dislikes, and ingests dropped files."""

from __future__ import annotations

import html
import re
import shutil
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from qa_bot.chain import QaChain
from qa_bot.errors import QaBotError
from qa_bot.followup import History, history_from_messages
from qa_bot.ingest import ingest
from qa_bot.records import Answer
from qa_bot.registry import ANSWERERS, LOADERS
from qa_bot.storage.feedback import Feedback, FeedbackStore

EXAMPLES = [
    "What did TSMC decide?",
    "What is Project Crystal Land?",
    "How would the industrial parks be funded?",
]
REMEMBERED = 500  # answers kept for the like / dislike buttons


def _escape(text: str) -> str:
    """Document text shown as text: HTML escaped and Markdown syntax neutralised."""
    return re.sub(r"([\\`*_{}\[\]#|~])", r"\\\1", html.escape(text))


def source_link(chunk_id: str, offset: int, quote: str) -> str:
    """The source viewer's address for a citation (by chunk id and offsets only)."""
    return f"/sources/{chunk_id}?start={offset}&end={offset + len(quote)}"


def render(answer: Answer) -> str:
    """The answer, its numbered sources (each marked verified or not, with a link to the source
    viewer) and any sentence no source supports, as Markdown."""
    lines = [_escape(answer.answer)]
    if answer.citations:
        lines += ["", "**Sources**"]
    for c in answer.citations:
        where = f"`{_escape(c.source)}`" + (f" · page {c.page}" if c.page else "")
        mark = "✓ verified" if c.verified else "⚠️ does not support the sentence citing it"
        link = source_link(c.chunk_id, c.offset, c.quote)
        lines += [
            "",
            f"**\\[{c.n}\\]** {_escape(c.title)} · {where} · {mark} · [open source]({link})",
            f"> {_escape(c.quote)}",
        ]
    if answer.unsupported:
        lines += ["", "**⚠️ Not supported by the documents:**"]
        lines += [f"- {_escape(sentence)}" for sentence in answer.unsupported]
    return "\n".join(lines)


def _text(content: object) -> str:
    """The text of a Gradio message content (a string, a typed part, or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", ""))
    if isinstance(content, list):
        return " ".join(_text(p) for p in content)
    return ""


def to_history(messages: list[dict[str, Any]]) -> History:
    """Gradio's chat messages as (user, assistant) turns."""
    return history_from_messages((str(m.get("role")), _text(m.get("content"))) for m in messages)


def _add_files(chain: QaChain, paths: list[str]) -> Iterator[str]:
    """Copy dropped files into the corpus folder and ingest it, reporting progress."""
    corpus = chain.settings.ingest.corpus_dir
    corpus.mkdir(parents=True, exist_ok=True)
    names = [Path(p).name for p in paths]
    for path, name in zip(paths, names, strict=True):
        shutil.copyfile(path, corpus / name)
    yield f"Ingesting {', '.join(names)}…"
    report = ingest(chain.store, corpus)
    failed = dict(report.failed)
    lines = [f"Could not read {n}: {failed[n]}." for n in names if n in failed]
    added = [n for n in names if n not in failed]
    if added:
        lines.append(f"Added {', '.join(added)} ({report.chunks_added} new chunks): ask away.")
    yield " ".join(lines)


def build_ui(chain: QaChain) -> gr.Blocks:
    """The chat app on top of ``chain``; its API endpoint is ``/chat``."""
    feedback = FeedbackStore.beside(chain.settings)
    answers: OrderedDict[str, tuple[str, Answer]] = OrderedDict()  # shown text -> (question, …)

    def respond(
        message: dict[str, Any] | str, history: list[dict[str, Any]], top_k: int, generator: str
    ) -> Iterator[str]:
        question = _text(message)
        files = message.get("files", []) if isinstance(message, dict) else []
        text = ""
        try:
            for status in _add_files(chain, files) if files else ():
                text = status
                yield _escape(text)
            if not question.strip() and files:
                return
            options = chain.variant(
                retrieval={"top_k": int(top_k)}, answer={"generator": generator}
            )
            streamed = ""
            for piece in options.stream(question, to_history(history)):
                if isinstance(piece, Answer):
                    shown = render(piece)
                    answers[shown] = (question, piece)
                    while len(answers) > REMEMBERED:
                        answers.popitem(last=False)
                    yield shown
                else:
                    streamed += piece
                    yield _escape(streamed)
        except QaBotError as error:
            yield f"⚠️ {error}"

    def on_like(data: gr.LikeData) -> None:
        shown = _text(data.value)
        if shown in answers:
            question, answer = answers[shown]
            feedback.add(
                Feedback(
                    rating="up" if data.liked else "down",
                    question=question,
                    answer=answer.answer,
                    citations=answer.citations,
                )
            )

    settings = chain.settings
    with gr.Blocks(title="qa-bot", analytics_enabled=False) as demo:
        chat = gr.ChatInterface(
            respond,
            multimodal=True,
            textbox=gr.MultimodalTextbox(
                placeholder="Ask about your documents, or drop files to add them",
                file_count="multiple",
                file_types=LOADERS.names(),
            ),
            title="qa-bot",
            description="Ask about your documents; every answer cites the sentence it comes from.",
            examples=[[{"text": e}] for e in EXAMPLES],
            additional_inputs=[
                gr.Slider(
                    1,
                    20,
                    value=settings.retrieval.top_k,
                    step=1,
                    label="Chunks to answer from",
                    render=False,
                ),
                gr.Dropdown(
                    ANSWERERS.names(),
                    value=settings.answer.generator,
                    label="Generator",
                    render=False,
                ),
            ],
            additional_inputs_accordion="Settings",
            api_name="chat",
        )
        chat.chatbot.like(on_like, None, None)
    return demo  # type: ignore[no-any-return]  # gr.Blocks.__enter__ is untyped
