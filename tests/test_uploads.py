"""Uploads keep the index exact: concurrent uploads of one name, refused files and a server
killed during an ingestion leave exactly the documents whose files are on disk; an upload
ingests only itself, and waits for another ingestion instead of being refused."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from qa_bot.chain import QaChain
from qa_bot.ingest.batch import GROUP_CHUNKS, exclusive
from qa_bot.ingest.knowledge import INCOMING, KnowledgeBase
from qa_bot.server.app import create_app
from qa_bot.storage.store import Store
from tests.conftest import serve_app, serve_process

FACT = "The harbour crane at Port Wendle lifts forty tonnes at most."


@pytest.fixture
def served(make_store: Callable[..., Store]) -> Iterator[tuple[str, Store]]:
    """The API over a fresh store holding one upload, no auth (loopback)."""
    store = make_store(server={"rate_limit": 100_000})
    KnowledgeBase(store).add_uploads([(_file(store, "seed.txt", FACT), "crane.txt")])
    url, server = serve_app(create_app(QaChain(store)))
    yield url, store
    server.should_exit = True


def _file(store: Store, name: str, text: str) -> Path:
    path = store.settings.data_path / "staging" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def _upload(url: str, name: str, content: bytes) -> httpx.Response:
    return httpx.post(f"{url}/api/documents", files={"files": (name, content)}, timeout=300)


def _uploads_on_disk(store: Store) -> set[str]:
    folder = store.settings.data_path / "uploads"
    return {f"uploads/{p.name}" for p in folder.iterdir() if p.is_file()}


def _assert_exact(store: Store) -> None:
    """Every indexed upload has its file, every file its document, nothing is left staged."""
    indexed = {d for d in store.documents() if d.startswith("uploads/")}
    assert indexed == _uploads_on_disk(store)
    incoming = store.settings.data_path / "uploads" / INCOMING
    assert not incoming.exists() or not any(incoming.iterdir())


def test_concurrent_uploads_of_one_name_all_land_exactly(served: tuple[str, Store]) -> None:
    """Item 10: 8 at once, each a different text under one name, then 8 of one text."""
    url, store = served
    texts = [f"Ferry {n} leaves the pier at {n} in the morning.".encode() for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda t: _upload(url, "race.txt", t), texts))
    assert [r.status_code for r in responses] == [200] * 8
    stored = sorted(name for r in responses for name in r.json()["stored"])
    assert len(set(stored)) == 8 and "uploads/race.txt" in stored
    _assert_exact(store)
    same = b"The lighthouse keeper rings the bell at noon."
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: _upload(url, "bell.txt", same), range(8)))
    assert {tuple(r.json()["stored"]) for r in responses} == {("uploads/bell.txt",)}
    _assert_exact(store)


def test_a_refused_upload_leaves_no_file_and_no_document(served: tuple[str, Store]) -> None:
    url, store = served
    response = _upload(url, "image.txt", b"\x00\x01\x02 binary")
    assert response.status_code == 200
    assert response.json()["failed"] == {
        "uploads/image.txt": "it looks like a binary file, not text"
    }
    assert "uploads/image.txt" not in store.documents()
    _assert_exact(store)


def test_an_upload_over_the_text_limit_says_why_and_leaves_nothing(
    served: tuple[str, Store],
) -> None:
    """Item 12: one file holds at most what this machine embeds in a few minutes."""
    url, store = served
    response = _upload(url, "long.txt", b"The ferry leaves at seven. " * (3 * 1024 * 1024 // 27))
    assert response.status_code == 200 and response.json()["stored"] == []
    assert response.json()["failed"]["uploads/long.txt"] == (
        "it holds more than 2 MB of text, more than this machine embeds in a few minutes "
        "(raise QA_BOT_INGEST__MAX_TEXT_MB to ingest it)"
    )
    _assert_exact(store)


def test_an_upload_ingests_itself_only(served: tuple[str, Store]) -> None:
    """Item 6: an earlier upload's file is not read again (changed on disk, it keeps its
    indexed text until it is re-synced)."""
    url, store = served
    crane = store.settings.data_path / "uploads" / "crane.txt"
    crane.write_text("The harbour crane was sold for scrap in the spring.")
    response = _upload(url, "bell.txt", b"The lighthouse keeper rings the bell at noon.")
    assert response.json()["stored"] == ["uploads/bell.txt"]
    assert [c.page_content for c in store.chunks("uploads/crane.txt")] == [FACT]


def test_an_upload_waits_for_another_ingestion_and_answers_go_on(
    served: tuple[str, Store],
) -> None:
    url, store = served
    told: list[str] = []
    result: list[object] = []
    with exclusive(store):  # another ingestion, as a `qa-bot ingest` would hold it
        note = _file(store, "bell.txt", "The lighthouse keeper rings the bell at noon.")
        waiting = threading.Thread(
            target=lambda: result.append(
                KnowledgeBase(store).add_uploads(
                    [(note, "bell.txt")], lambda done, total, name: told.append(name)
                )
            )
        )
        waiting.start()
        while not told:
            time.sleep(0.2)
        question = {"question": "How much does the harbour crane lift?"}
        answer = httpx.post(f"{url}/api/ask", json=question, timeout=120)
        assert answer.status_code == 200 and "forty tonnes" in answer.json()["answer"]
        assert not result  # still waiting
    waiting.join(120)
    assert told[0].startswith("waiting for another ingestion to finish")
    assert result and "uploads/bell.txt" in store.documents()
    _assert_exact(store)


def test_a_server_killed_during_an_upload_leaves_nothing_twice(tmp_path: Path) -> None:
    """Item 11: kill -9 while an upload of three files is being embedded (the first file's
    group is in the index, the others are not), restart, upload them again: three documents,
    as many chunks as a clean upload, each file once."""
    data = tmp_path / "data"
    files = {
        f"ferry{k}.txt": " ".join(
            f"Ferry {k}-{n} leaves the pier at dawn and returns by noon." for n in range(3000)
        ).encode()
        for k in range(3)
    }  # each file over GROUP_CHUNKS chunks: indexed in a group of its own
    url, server = serve_process(data, tmp_path / "serve.log")
    try:
        threading.Thread(target=lambda: _upload_quietly(url, files), daemon=True).start()
        _wait_for(lambda: _health(url).get("chunks", 0) > 0)  # the first group is in the index
        os.kill(server.pid, signal.SIGKILL)
        server.wait(30)
        assert not any(p.is_file() for p in (data / "uploads").iterdir())  # killed mid-upload
        url, server = serve_process(data, tmp_path / "serve2.log")
        again = _upload_many(url, files)
        assert sorted(again.json()["stored"]) == [f"uploads/{name}" for name in sorted(files)]
        documents = httpx.get(f"{url}/api/documents", timeout=60).json()
        assert sorted(d["name"] for d in documents) == sorted(again.json()["stored"])
        assert sorted(os.listdir(data / "uploads")) == sorted(files)
        chunks = sum(d["chunks"] for d in documents)
        assert chunks == again.json()["chunks_added"] > 3 * GROUP_CHUNKS  # all, once
    finally:
        server.kill()
        server.wait(30)


def _upload_many(url: str, files: dict[str, bytes]) -> httpx.Response:
    parts = [("files", (name, content)) for name, content in files.items()]
    return httpx.post(f"{url}/api/documents", files=parts, timeout=600)


def _upload_quietly(url: str, files: dict[str, bytes]) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
        _upload_many(url, files)


def _health(url: str) -> dict[str, int]:
    try:
        return dict(httpx.get(f"{url}/healthz", timeout=5).json())
    except httpx.HTTPError:
        return {}


def _wait_for(condition: Callable[[], bool], seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.5)
