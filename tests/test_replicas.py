"""Two `qa-bot serve` replicas, each with its own data dir, on one `chroma run` server and one
PostgreSQL: what either ingests, uploads, deletes or stores is seen by the other without a
restart, by meaning and by keyword."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa_bot.storage.bm25 import LexicalIndex
from qa_bot.storage.keys import KeyStore
from tests.conftest import run_cli, serve_process, write_folder


class Replica:
    """One serving process, its URL and its own data dir."""

    def __init__(self, url: str, data: Path) -> None:
        self.url, self.data = url, data

    def ask(self, question: str) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/api/ask", json={"question": question}, timeout=60)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def keyword_documents(self) -> set[str]:
        """The documents in this replica's own BM25 index (a file in its data dir)."""
        [path] = (self.data / "lexical").iterdir()
        return LexicalIndex(path).documents()


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, chroma_port: int, postgres_url: str
) -> Iterator[tuple[Replica, Replica, dict[str, str]]]:
    """Two replicas configured alike, as docs/deployment.md describes; yields them and the
    settings they share."""
    shared = {
        "QA_BOT_STORE__CHROMA_HOST": "127.0.0.1",
        "QA_BOT_STORE__CHROMA_PORT": str(chroma_port),
        "QA_BOT_STORE__COLLECTION": "wiki",
        "QA_BOT_STORE__DATABASE_URL": postgres_url,
    }
    started = []
    try:
        for name in ("a", "b"):
            folder = tmp_path_factory.mktemp(f"replica-{name}")
            url, process = serve_process(folder / "data", folder / "serve.log", **shared)
            started.append((Replica(url, folder / "data"), process))
        yield started[0][0], started[1][0], shared
    finally:
        for _, process in started:
            process.terminate()
            process.wait(30)


def eventually(check: Callable[[], bool], seconds: float = 30) -> None:
    """Wait until ``check()`` holds (replicas follow each other within seconds)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{check.__doc__} did not happen in {seconds} s"
        time.sleep(0.5)


def cites(replica: Replica, question: str, document: str) -> bool:
    answer = replica.ask(question)
    return not answer["refused"] and answer["citations"][0]["source"] == document


def test_a_cli_ingest_on_one_is_answered_by_the_other(
    replicas: tuple[Replica, Replica, dict[str, str]], tmp_path: Path
) -> None:
    a, b, shared = replicas
    folder = write_folder(
        tmp_path / "wiki",
        {"orchids.txt": "The Zephyr orchid blooms only in the Quillmarsh valley, each April."},
    )
    done = run_cli("ingest", str(folder), data_dir=a.data, **shared)
    assert done.returncode == 0, done.stderr

    def b_answers() -> bool:
        """replica b answering from the new document, its BM25 index holding it too"""
        answered = cites(b, "Where does the Zephyr orchid bloom?", "wiki/orchids.txt")
        return answered and "wiki/orchids.txt" in b.keyword_documents()

    eventually(b_answers)


def test_an_upload_and_a_delete_through_one_reach_the_other(
    replicas: tuple[Replica, Replica, dict[str, str]],
) -> None:
    a, b, _ = replicas
    body = b"Tide tables for Port Wendle are printed every Monday by the harbour office."
    uploaded = httpx.post(f"{b.url}/api/documents", files={"files": ("tides.txt", body)})
    assert uploaded.status_code == 200 and uploaded.json()["stored"] == ["uploads/tides.txt"]

    def a_answers() -> bool:
        """replica a answering from the upload, its BM25 index holding it too"""
        answered = cites(a, "Who prints the tide tables for Port Wendle?", "uploads/tides.txt")
        return answered and "uploads/tides.txt" in a.keyword_documents()

    eventually(a_answers)
    listed = {d["name"] for d in httpx.get(f"{b.url}/api/documents").json()}
    assert "wiki/orchids.txt" in listed  # b's sync of its uploads left a's folder alone

    deleted = httpx.delete(f"{a.url}/api/documents/uploads/tides.txt")
    assert deleted.status_code == 200 and deleted.json()["chunks_removed"] >= 1

    def b_forgot() -> bool:
        """replica b dropping the deleted document"""
        answer = b.ask("Who prints the tide tables for Port Wendle?")  # BM25 follows on reads
        listed = {d["name"] for d in httpx.get(f"{b.url}/api/documents").json()}
        cited = {c["source"] for c in answer["citations"]}
        return "uploads/tides.txt" not in listed | cited | b.keyword_documents()

    eventually(b_forgot)
    ferry = b"The ferry to Port Wendle leaves at noon."
    more = httpx.post(f"{b.url}/api/documents", files={"files": ("ferry.txt", ferry)})
    assert more.json()["stored"] == ["uploads/ferry.txt"]  # a new upload on b ...
    listed = {d["name"] for d in httpx.get(f"{b.url}/api/documents").json()}
    assert "uploads/tides.txt" not in listed  # ... does not bring the deleted one back
    same_name = httpx.post(f"{a.url}/api/documents", files={"files": ("ferry.txt", ferry)})
    assert same_name.json()["stored"] == ["uploads/ferry (2).txt"]  # a's upload keeps b's


def test_feedback_given_on_one_is_listed_by_the_other(
    replicas: tuple[Replica, Replica, dict[str, str]],
) -> None:
    a, b, _ = replicas
    verdict = {"rating": "down", "question": "Who owns the ferry?", "answer": "Nobody [1]."}
    assert httpx.post(f"{a.url}/api/feedback", json=verdict).status_code == 200
    listed = httpx.get(f"{b.url}/api/feedback").json()
    assert [f["question"] for f in listed][-1] == "Who owns the ferry?"


def test_a_source_restricted_on_one_is_hidden_by_the_other(
    replicas: tuple[Replica, Replica, dict[str, str]], tmp_path: Path
) -> None:
    """The restriction is kept in the shared database: set on b, which never ingested the
    source, it holds on a at once."""
    a, b, shared = replicas
    folder = write_folder(
        tmp_path / "vault", {"plan.txt": "The Zephyr budget is 4.2 million kroner."}
    )
    assert run_cli("ingest", str(folder), data_dir=a.data, **shared).returncode == 0
    question = "What is the Zephyr budget?"
    eventually(lambda: cites(b, question, "vault/plan.txt"))
    restricted = httpx.put(f"{b.url}/api/knowledge/vault/groups", json={"groups": ["finance"]})
    assert restricted.json() == {"source": "vault", "groups": ["finance"]}
    keys = KeyStore(a.data / "keys.json")
    outsider, member = keys.add("otto", "reader"), keys.add("fin", "reader", frozenset({"finance"}))
    try:
        for key, answered in ((outsider, False), (member, True)):
            reply = httpx.post(
                f"{a.url}/api/ask",
                json={"question": question},
                headers={"authorization": f"Bearer {key}"},
                timeout=60,
            )
            assert ("4.2 million kroner" in reply.text) is answered, reply.text
            assert ("vault/plan.txt" in reply.text) is answered
    finally:
        (a.data / "keys.json").unlink()  # a is open again for the other tests
    lifted = httpx.put(f"{b.url}/api/knowledge/vault/groups", json={"groups": []})
    assert lifted.json()["groups"] == []
