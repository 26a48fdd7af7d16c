"""The Gradio chat answers over real HTTP, through gradio_client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gradio_client import Client

from qa_bot.chain import QaChain
from qa_bot.records import Answer, Citation
from qa_bot.server.ui import build_ui, render
from tests.conftest import ARTICLE, free_port


@pytest.fixture(scope="module")
def client(chain: QaChain) -> Iterator[Client]:
    port = free_port()
    demo = build_ui(chain)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    demo.close()


def test_chat_answers_with_sources(client: Client) -> None:
    reply = client.predict("What did TSMC decide?", api_name="/chat")
    answer, sources = reply.split("**Sources**")
    assert "opted out" in answer and "\\[1\\]" in sources
    assert f"`{ARTICLE}`" in sources and "✓ verified" in sources
    assert "> Additionally, some companies, including Taiwan’s TSMC" in sources


def test_chat_shows_errors_as_a_message(client: Client) -> None:
    assert client.predict("   ", api_name="/chat").startswith("⚠️ The question is empty")


def test_document_html_is_shown_as_text() -> None:
    quote = "<script>alert(1)</script> *bold*"
    citation = Citation(
        n=1, source="x.html", title="<b>T</b>", quote=quote, score=0.5, chunk_id="c", offset=0
    )
    shown = render(Answer(answer=f"{quote} [1].", refused=False, citations=[citation]))
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    assert "<b>" not in shown and "\\*bold\\*" in shown


def test_quotes_and_source_names_are_shown_as_typed() -> None:
    """Item 13: no entity the chat would show literally (``&#x27;``, ``&gt;`` in a code span)."""
    citation = Citation(
        n=1,
        source="uploads/a>b's `x`.txt",
        title="Tom's",
        quote="It's > 5.",
        score=0.5,
        chunk_id="c",
        offset=0,
    )
    shown = render(Answer(answer="It's > 5 [1].", refused=False, citations=[citation]))
    assert "&#x27;" not in shown and "It's &gt; 5" in shown
    assert "`uploads/a>b's 'x'.txt`" in shown  # a code span is literal: no entities there
