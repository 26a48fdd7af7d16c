"""Bad and hostile requests to the real server over HTTP: each gets one plain sentence and a
4xx (never a 5xx or a traceback), and the index stays as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa_bot.chain import QaChain
from qa_bot.server.app import create_app
from tests.conftest import ARTICLE, run_cli, serve_app, write_folder

QUESTION = "What did TSMC decide?"


@pytest.fixture(scope="module")
def url(chain: QaChain) -> Iterator[str]:
    """The API over the ingested default corpus, no auth (loopback), rate limit raised."""
    settings = chain.settings.updated(server={"rate_limit": 10_000})
    address, server = serve_app(create_app(QaChain(chain.store, settings)))
    yield address
    server.should_exit = True


def ask(url: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}/api/ask", json=body, timeout=60, **kwargs)


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"question": ""}, 422, "Invalid request: question: String should have at least 1"),
        ({"question": "   \n\t "}, 400, "The question is empty: type a question"),
        ({"question": "\x00\x00\x07"}, 400, "The question is empty: type a question"),
        ({"question": "?!?... --"}, 400, "The question has no words: type a question"),
        (
            {"question": "x " * 1500},
            400,
            "The question is too long (2999 characters; the limit is 2000): shorten it.",
        ),
        ({"question": "x" * 5000}, 422, "String should have at most 4000 characters"),
        ({"question": 5}, 422, "Invalid request: question: Input should be a valid string."),
        ({}, 422, "Invalid request: question: Field required."),
        ([QUESTION], 422, "Invalid request: body: Input should be a valid dictionary"),
        (
            {"question": QUESTION, "history": [["q", "a"]] * 1000},
            422,
            "Invalid request: history: List should have at most 50 items",
        ),
        (
            {"question": QUESTION, "only": ["../../etc/passwd"]},
            400,
            "No indexed document matches '../../etc/passwd'",
        ),
        ({"question": QUESTION, "only": ["/etc/passwd"]}, 400, "No indexed document matches"),
        ({"question": QUESTION, "sources": ["nothing/"]}, 400, "No indexed document matches"),
    ],
)
def test_bad_questions(url: str, body: Any, status: int, detail: str) -> None:
    response = ask(url, body)
    assert response.status_code == status
    assert detail in response.json()["detail"]


@pytest.mark.parametrize(
    "question",
    [
        "What did\x00 TSMC\x07 decide?",  # control characters and NUL are dropped
        "What did TSMC decide?\u202e",  # a bidi override is just a character
    ],
)
def test_odd_characters_still_get_the_answer(url: str, question: str) -> None:
    body = json.dumps({"question": question})  # json escapes the surrogate as \\ud800
    response = httpx.post(
        f"{url}/api/ask", content=body, headers={"content-type": "application/json"}, timeout=60
    )
    assert response.status_code == 200
    assert response.json()["citations"][0]["source"] == ARTICLE


def test_a_lone_surrogate_in_json_is_a_clear_422(url: str) -> None:
    body = json.dumps({"question": "What did TSMC decide?\ud800"})  # escaped as \\ud800
    response = httpx.post(
        f"{url}/api/ask", content=body, headers={"content-type": "application/json"}, timeout=60
    )
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "Invalid request: question: Input should be a valid string, unable to parse raw data "
        "as a unicode string."
    )


@pytest.mark.parametrize(
    "question", ["Was hat TSMC beschlossen?", "TSMC は何を決めましたか？", "Что решила TSMC?"]
)
def test_other_languages_answer_or_refuse_without_error(url: str, question: str) -> None:
    answer = ask(url, {"question": question}).json()
    assert answer["refused"] == (answer["citations"] == [])


@pytest.mark.parametrize(
    ("content", "kind", "status", "detail"),
    [
        (b'{"question": ', "application/json", 422, "Invalid request: body: JSON decode error"),
        (b"question=hello", "application/x-www-form-urlencoded", 422, "Invalid request: body"),
        (b"hello", "text/plain", 422, "Invalid request: body"),
        (b"\xff\xfe\x00binary", "application/json", 400, "There was an error parsing the body"),
    ],
)
def test_malformed_bodies(url: str, content: bytes, kind: str, status: int, detail: str) -> None:
    response = httpx.post(
        f"{url}/api/ask", content=content, headers={"content-type": kind}, timeout=60
    )
    assert response.status_code == status and detail in response.json()["detail"]
    assert len(response.content) < 2000  # the input is never echoed back


def test_oversize_body_is_refused_before_it_is_read(url: str) -> None:
    big = b'{"question": "' + b"x" * 2_000_000 + b'"}'
    response = httpx.post(
        f"{url}/api/ask", content=big, headers={"content-type": "application/json"}, timeout=60
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "The request is too large (at most 256 KB): send less."

    def chunked() -> Iterator[bytes]:  # no content-length: counted as it arrives
        for _ in range(40):
            yield b"x" * 10_000

    response = httpx.post(
        f"{url}/v1/chat/completions",
        content=chunked(),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/api/sources/nope", 404, "This source is no longer in the index"),
        ("/api/sources/%3Cscript%3E", 404, "This source is no longer in the index"),
        ("/api/sources/..%2F..%2Fetc%2Fpasswd", 404, "Nothing here: check the address"),
        ("/sources/nope", 404, "This source is no longer in the index"),
    ],
)
def test_unknown_chunk_ids(url: str, path: str, status: int, detail: str) -> None:
    response = httpx.get(f"{url}{path}", timeout=60)
    assert response.status_code == status and detail in response.json()["detail"]


@pytest.mark.parametrize(("start", "end"), [(-5, 10**12), (10**12, 5), ("x", "y")])
def test_out_of_range_marks_fall_back_to_the_chunk(
    url: str, chain: QaChain, start: object, end: object
) -> None:
    chunk = chain.retrieve(QUESTION)[0]
    response = httpx.get(
        f"{url}/api/sources/{chunk.id}", params={"start": start, "end": end}, timeout=60
    )
    if isinstance(start, str):
        assert response.status_code == 422
        assert "Invalid request: query.start" in response.json()["detail"]
        return
    view = response.json()
    assert view["text"][view["mark_start"] : view["mark_end"]] == chunk.page_content


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (
            {"messages": [{"role": "assistant", "content": "hi"}]},
            400,
            "The last message must be the user's question.",
        ),
        ({"messages": []}, 422, "Invalid request: messages: List should have at least 1"),
        ({"messages": [{"role": "hacker", "content": "x"}]}, 422, "Invalid request: messages"),
    ],
)
def test_bad_openai_requests(url: str, body: dict[str, Any], status: int, detail: str) -> None:
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == status and detail in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"rating": "meh", "question": "q", "answer": "a"}, "Invalid request: rating"),
        (
            {"rating": "up", "question": "q", "answer": "a", "comment": "c" * 3000},
            "Invalid request: comment: String should have at most 2000",
        ),
    ],
)
def test_bad_feedback(url: str, body: dict[str, Any], detail: str) -> None:
    response = httpx.post(f"{url}/api/feedback", json=body, timeout=60)
    assert response.status_code == 422 and detail in response.json()["detail"]


def test_dns_rebinding_host_is_refused(url: str) -> None:
    response = httpx.get(f"{url}/healthz", headers={"host": "evil.example"}, timeout=60)
    assert response.status_code == 400 and response.text == "Invalid host header"


@pytest.mark.parametrize(
    "payload",
    [
        {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}, "orig_name": "h.txt"},
        {"path": "/tmp/gradio/../../etc/hostname", "orig_name": "h.txt"},
        {"url": "http://169.254.169.254/latest", "meta": {"_type": "gradio.FileData"}},
    ],
)
def test_gradio_api_never_takes_a_server_path(
    url: str, chain: QaChain, payload: dict[str, Any]
) -> None:
    """The hole found in the probe: a crafted Gradio call naming any server file."""
    before = chain.store.documents()
    response = httpx.post(
        f"{url}/gradio_api/call/add_documents", json={"data": [[payload]]}, timeout=60
    )
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Refused: a file in this request was not uploaded through qa-bot."
    )
    assert chain.store.documents() == before


@pytest.mark.parametrize(
    ("urls", "status", "detail"),
    [
        (["https://wiki.example.internal/space/"], 400, "Web sources are off: list the wiki's"),
        (["file:///etc/passwd"], 400, "Web sources are off"),  # no host allowed: nothing goes
        (["http://169.254.169.254/latest/meta-data/"], 400, "Web sources are off"),
        (["https://x/" + "a" * 2000], 422, "String should have at most 2000 characters"),
        (["https://x/"] * 21, 422, "List should have at most 20 items"),
        ("https://x/", 422, "Input should be a valid list"),
    ],
)
def test_web_addresses_are_refused_before_anything_is_fetched(
    url: str, chain: QaChain, urls: Any, status: int, detail: str
) -> None:
    """No host is allowed here (web.allowed_hosts is empty): any address is one sentence."""
    before = chain.store.documents()
    response = httpx.post(f"{url}/api/knowledge/ingest", json={"urls": urls}, timeout=60)
    assert response.status_code == status and detail in response.json()["detail"]
    assert chain.store.documents() == before


def test_index_is_intact_after_all_that(chain: QaChain) -> None:
    assert chain.store.documents() >= {ARTICLE}
    assert "TSMC" in chain.ask(QUESTION).citations[0].quote


def test_rich_markup_in_titles_and_folders_prints_as_text(tmp_path: Path) -> None:
    trap = "# [bold red]Trap[/] [/]\n\nThe harbour crane lifts forty tonnes at most.\n"
    folder = write_folder(tmp_path / "x[bold red][", {"notes.md": trap})
    data = tmp_path / "data"
    done = run_cli("ingest", str(folder), data_dir=data)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    done = run_cli("ask", "How much can the harbour crane lift?", data_dir=data)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "[bold red]Trap[/] [/]" in done.stdout


def test_another_sites_page_cannot_post_to_a_local_qa_bot(url: str) -> None:
    """With no keys on 127.0.0.1 the local user is an admin: a page on another site must not
    act as them (a browser always sends its Origin on such a POST)."""
    for path, kwargs in (
        ("/api/ask", {"json": {"question": QUESTION}}),
        ("/api/documents", {"files": {"files": ("x.txt", b"Planted text.")}}),
    ):
        response = httpx.post(
            f"{url}{path}", headers={"origin": "http://evil.example"}, timeout=60, **kwargs
        )
        assert response.status_code == 403
        assert response.json()["detail"].startswith("Cross-site request refused")


def test_listening_beyond_loopback_without_keys_only_reads(chain: QaChain) -> None:
    settings = chain.settings.updated(server={"host": "0.0.0.0", "rate_limit": 1000})
    address, server = serve_app(create_app(QaChain(chain.store, settings)))  # on 127.0.0.1
    try:
        assert ask(address, {"question": QUESTION}).status_code == 200
        upload = httpx.post(
            f"{address}/api/documents", files={"files": ("x.txt", b"Planted.")}, timeout=60
        )
        assert upload.status_code == 403
        assert upload.json()["detail"] == "Only an admin may do this: ask an admin of this qa-bot."
    finally:
        server.should_exit = True
