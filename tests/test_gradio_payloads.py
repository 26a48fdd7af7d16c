"""What a call to Gradio's API may hold (``qa_bot/server/gradio_payload.py``), over real HTTP to
the real app with the Gradio chat mounted: chat text and uploaded files pass, every component
message Gradio's format allows is refused before Gradio builds it, and so are bodies nested past
any parser's depth and credentials in bytes no key holds."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from gradio.utils import get_all_components

from qa_bot.chain import QaChain
from qa_bot.server.app import create_app
from qa_bot.server.ui import build_ui
from qa_bot.storage.keys import KeyStore
from tests.conftest import serve_app

LOCAL_TOKEN = "local-token-for-tests"
FILEISH = ["/etc/hostname", "/dev/zero"]  # the probe's: a copy of any file, a copy that never ends


@dataclass
class Served:
    url: str
    demo: gr.Blocks
    data: Path
    admin: dict[str, str]  # an admin key's header


@pytest.fixture(scope="module")
def served(chain: QaChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app with the chat over the default corpus, a key in its own data dir (so the login
    cookie is checked) and a local CLI token."""
    data = tmp_path_factory.mktemp("payload-data")
    settings = chain.settings.updated(store={"data_dir": data}, server={"rate_limit": 100_000})
    key = KeyStore(data / "keys.json").add("boss", "admin")
    ui_chain = QaChain(chain.store, settings)
    demo = build_ui(ui_chain)
    url, server = serve_app(create_app(ui_chain, demo, local_token=LOCAL_TOKEN))
    yield Served(url, demo, data, {"authorization": f"Bearer {key}"})
    server.should_exit = True


def _chat_fn(demo: gr.Blocks) -> tuple[int, int, int]:
    """The id of an event taking the chat history, its input count, the history's position."""
    for fn_id, fn in demo.fns.items():
        inputs = list(fn.inputs)
        found = [n for n, block in enumerate(inputs) if isinstance(block, gr.Chatbot)]
        if found:
            return fn_id, len(inputs), found[0]
    raise AssertionError("no event takes the chat history")


def _component_messages() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every component Gradio's message format can name, with file-ish arguments."""
    for component in get_all_components():
        name = component.__name__.lower()
        for target in FILEISH:
            yield (
                f"{name}:{target}",
                {
                    "type": "component",
                    "component": name,
                    "value": "x",  # as the probe sent it: the file is in the arguments
                    "constructor_args": {"icon": target, "value": target, "root_dir": "/"},
                    "props": {"icon": target},
                },
            )


HOSTILE_CONTENT = [
    *(part for _, part in _component_messages()),
    {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}},  # a file as content
    {"type": "file", "file": {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}},
]


def _uploads(data: Path) -> set[Path]:
    return {p for p in (data / "gradio-uploads").rglob("*") if p.is_file()}


def test_every_component_message_is_refused_before_gradio_builds_it(served: Served) -> None:
    fn_index, count, position = _chat_fn(served.demo)
    before = _uploads(served.data)
    refused = 0
    for content in HOSTILE_CONTENT:
        for shape in ([content], content):
            history: list[Any] = [None] * count
            history[position] = [{"role": "user", "content": shape}]
            for path, body in (
                ("/gradio_api/queue/join", {"data": history, "fn_index": fn_index}),
                ("/gradio_api/call/chat", {"data": ["hi", 5, "extractive", history[position]]}),
            ):
                body["session_hash"] = "s1"
                response = httpx.post(
                    served.url + path, json=body, headers=served.admin, timeout=60
                )
                assert response.status_code == 400, (path, content)
                assert response.json()["detail"].startswith("Refused: ")
                refused += 1
    assert refused == 4 * len(HOSTILE_CONTENT) > 100  # every component, both endpoints
    assert _uploads(served.data) == before  # nothing was copied into the upload folder


def _chat(served: Served) -> str:
    """The final text of a chat call through /gradio_api/call/chat (its SSE stream)."""
    body = {"data": ["What did TSMC decide?", 5, "extractive"]}
    url, headers = served.url, served.admin
    started = httpx.post(f"{url}/gradio_api/call/chat", json=body, headers=headers, timeout=60)
    assert started.status_code == 200, started.text
    event = started.json()["event_id"]
    stream = httpx.get(f"{url}/gradio_api/call/chat/{event}", headers=headers, timeout=120)
    data = [line[6:] for line in stream.text.splitlines() if line.startswith("data: ")]
    return str(json.loads(data[-1])[0])


def _join(served: Served, content: object) -> httpx.Response:
    """/gradio_api/queue/join of the event taking the history, with one user message."""
    fn_index, count, position = _chat_fn(served.demo)
    data: list[Any] = [None] * count
    data[position] = [{"role": "user", "content": content}]
    body = {"data": data, "fn_index": fn_index, "session_hash": "s2", "event_data": None}
    return httpx.post(
        f"{served.url}/gradio_api/queue/join", json=body, headers=served.admin, timeout=60
    )


def test_an_example_click_carries_its_text_only(served: Served) -> None:
    fn_index, _, _ = _chat_fn(served.demo)
    for value, status in (
        ({"text": "What did TSMC decide?"}, 200),  # what the page sends
        ({"text": "x", "files": ["/etc/hostname"]}, 400),
        ({"text": "x", "icon": "/etc/hostname"}, 400),
    ):
        body = {"data": [], "event_data": {"index": 0, "value": value}, "fn_index": fn_index}
        response = httpx.post(
            f"{served.url}/gradio_api/queue/join",
            json={**body, "session_hash": "s3"},
            headers=served.admin,
            timeout=60,
        )
        assert response.status_code == status, value


def test_chat_text_still_passes_after_a_hostile_call(served: Served) -> None:
    """The /dev/zero icon neither hangs the server nor blocks the chat's event."""
    assert _join(served, [HOSTILE_CONTENT[1]]).status_code == 400
    assert "/dev/zero" in json.dumps(HOSTILE_CONTENT[1])
    assert _join(served, [{"type": "text", "text": "hello"}]).status_code == 200
    assert _join(served, "hello").status_code == 200
    assert "opted out" in _chat(served)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"data": ' + b"[" * 20 + b'"deep"' + b"]" * 20 + b"}",
        b'{"data": ["unterminated',
        b"\xff\xfe not json",
        json.dumps({"data": ["x"], "oauth_token": "t"}).encode(),
        json.dumps([1, 2]).encode(),
    ],
    ids=["nested-100000", "nested-20", "truncated", "binary", "unknown-key", "not-a-call"],
)
@pytest.mark.parametrize("path", ["/gradio_api/call/chat", "/gradio_api/queue/join"])
def test_unparsable_or_odd_bodies_are_a_400(served: Served, path: str, body: bytes) -> None:
    headers = {**served.admin, "content-type": "application/json"}
    response = httpx.post(served.url + path, content=body, headers=headers, timeout=60)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Refused: the ")


@pytest.mark.parametrize(
    "headers",
    [
        {"x-qa-bot-local-token": "tok\xe9n"},
        {"cookie": "qa_bot_session=eyJrIjoiIn0.sig\xe9"},
        {"authorization": "Bearer qab_\xe9"},
    ],
    ids=["local-token", "cookie-signature", "bearer"],
)
@pytest.mark.parametrize("path", ["/healthz", "/api/documents", "/gradio_api/info"])
def test_non_ascii_credentials_are_refused_not_a_500(
    served: Served, headers: dict[str, str], path: str
) -> None:
    raw = [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]
    response = httpx.get(served.url + path, headers=raw, timeout=60)
    if path == "/healthz":  # open: liveness only for a caller nobody identified
        assert response.status_code == 200 and response.json() == {"status": "ok"}
    else:
        assert response.status_code == 401


def test_the_config_names_no_server_path(served: Served) -> None:
    """Item 13: /config shows a reader the page's layout, not where qa-bot is installed."""
    config = httpx.get(f"{served.url}/config", headers=served.admin, timeout=30)
    assert config.status_code == 200 and '"components"' in config.text
    for place in {sys.prefix, str(Path(gr.__file__).parent), str(served.data)}:
        assert place not in config.text
