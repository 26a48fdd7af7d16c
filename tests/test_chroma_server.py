"""Server mode: the same ingest and chain against a real `chroma run` on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from qa_bot.chain import QaChain
from qa_bot.errors import StoreUnavailableError
from qa_bot.ingest import ingest
from qa_bot.server.app import create_app
from qa_bot.storage.store import Store
from tests.conftest import ARTICLE, free_port, serve_app, start_chroma, write_folder


def test_ingest_and_ask_through_the_server(
    chroma_port: int, corpus: Path, make_store: Callable[..., Store]
) -> None:
    store = make_store(store={"chroma_host": "127.0.0.1", "chroma_port": chroma_port})
    assert ingest(store, corpus).added == [ARTICLE]
    assert store.collection_name in store.collection_names()
    assert ingest(store, corpus).chunks_added == 0
    answer = QaChain(store).ask("What did TSMC decide?")
    assert not answer.refused and "TSMC" in answer.citations[0].quote
    assert store.keyword_ids() == store.chunk_ids()


def test_bm25_is_rebuilt_from_a_server_another_machine_filled(
    chroma_port: int, tmp_path: Path, corpus: Path, make_store: Callable[..., Store]
) -> None:
    writer = make_store(store={"chroma_host": "127.0.0.1", "chroma_port": chroma_port})
    ingest(writer, corpus)
    reader = Store.open(  # another data dir: its local BM25 index starts empty
        writer.settings.updated(
            store={"data_dir": tmp_path / "reader", "collection": writer.collection_name}
        ),
        writer.embeddings,
    )
    assert reader.keyword_ids() == set()
    chain = QaChain(reader)
    assert reader.keyword_ids() == writer.chunk_ids() != set()
    assert "TSMC" in chain.ask("What did TSMC decide?").citations[0].quote


def test_a_replica_follows_what_another_ingests_and_deletes(
    chroma_port: int, tmp_path: Path, make_store: Callable[..., Store]
) -> None:
    server = {"chroma_host": "127.0.0.1", "chroma_port": chroma_port, "follow_seconds": 0}
    writer = make_store(store=server)
    reader = Store.open(  # a second process's view: its own data dir, the same collection
        writer.settings.updated(
            store={"data_dir": tmp_path / "reader", "collection": writer.collection_name}
        ),
        writer.embeddings,
    )
    assert reader.keyword_search("Quillmarsh", 3) == []
    folder = write_folder(tmp_path / "wiki", {"orchids.txt": "Zephyr orchids grow in Quillmarsh."})
    ingest(writer, folder)
    [hit] = reader.keyword_search("Quillmarsh", 3)  # no restart: BM25 followed Chroma
    assert hit.metadata["source"] == "wiki/orchids.txt"
    assert reader.documents() == {"wiki/orchids.txt"}
    writer.delete_document("wiki/orchids.txt")
    assert reader.keyword_search("Quillmarsh", 3) == []
    assert reader.documents() == set()


def test_a_chunk_deleted_before_bm25_follows_is_never_cited(
    chroma_port: int, tmp_path: Path, make_store: Callable[..., Store]
) -> None:
    server = {"chroma_host": "127.0.0.1", "chroma_port": chroma_port}
    writer = make_store(store=server)
    texts = {"orchids.txt": "Zephyr orchids grow in Quillmarsh.", "ferns.txt": "Ferns like shade."}
    ingest(writer, write_folder(tmp_path / "wiki", texts))
    reader = Store.open(  # follows once, then not for an hour
        writer.settings.updated(
            store={
                "data_dir": tmp_path / "reader",
                "collection": writer.collection_name,
                "follow_seconds": 3600,
            }
        ),
        writer.embeddings,
    )
    chain = QaChain(reader)
    assert chain.ask("Where do Zephyr orchids grow?").citations
    writer.delete_document("wiki/orchids.txt")
    assert reader.keyword_search("Quillmarsh", 3)  # still in the reader's BM25 index
    answer = chain.ask("Where do Zephyr orchids grow?")
    assert answer.refused and answer.citations == []


def test_two_data_dirs_get_separate_collections(
    chroma_port: int, tmp_path: Path, corpus: Path, make_store: Callable[..., Store]
) -> None:
    first = make_store(store={"chroma_host": "127.0.0.1", "chroma_port": chroma_port})
    second = Store.open(
        first.settings.updated(store={"data_dir": tmp_path / "second"}), first.embeddings
    )
    assert first.collection_name != second.collection_name


def test_server_down_is_a_clear_error(make_store: Callable[..., Store]) -> None:
    port = free_port()
    with pytest.raises(StoreUnavailableError, match=f"Cannot reach the Chroma server at .*{port}"):
        make_store(store={"chroma_host": "127.0.0.1", "chroma_port": port})


@pytest.mark.chroma_server
def test_chroma_down_mid_session_is_a_503_sentence_then_recovers(
    tmp_path: Path, corpus: Path, make_store: Callable[..., Store]
) -> None:
    """The Chroma server stops while qa-bot serves: the API, the stream and the health check
    say so in one sentence (503), and answer again once it is back, without a restart."""
    port, path = free_port(), tmp_path / "chroma"
    chroma = start_chroma(port, path)
    store = make_store(store={"chroma_host": "127.0.0.1", "chroma_port": port})
    ingest(store, corpus)
    url, server = serve_app(create_app(QaChain(store)))
    ask = {"question": "What did TSMC decide?"}
    try:
        first = httpx.post(f"{url}/api/ask", json=ask, timeout=60).json()
        chunk_id = first["citations"][0]["chunk_id"]
        chroma.terminate()
        chroma.wait(10)
        for response in (
            httpx.post(f"{url}/api/ask", json=ask, timeout=60),
            httpx.get(f"{url}/healthz", timeout=60),
            httpx.post(f"{url}/v1/chat/completions", json=openai_body(), timeout=60),
            httpx.get(f"{url}/api/sources/{chunk_id}", timeout=60),
            httpx.get(f"{url}/sources/{chunk_id}", timeout=60),
        ):
            assert response.status_code == 503
            assert response.json()["detail"].startswith(
                f"Cannot reach the Chroma server at http://127.0.0.1:{port}: start it"
            )
        stream = httpx.post(f"{url}/api/chat", json=ask, timeout=60).text
        assert "event: error" in stream and "Cannot reach the Chroma server" in stream
        chroma = start_chroma(port, path)
        answer = httpx.post(f"{url}/api/ask", json=ask, timeout=60).json()
        assert "TSMC" in answer["citations"][0]["quote"]
    finally:
        server.should_exit = True
        chroma.terminate()
        chroma.wait(10)


def openai_body() -> dict[str, object]:
    return {"model": "qa-bot", "messages": [{"role": "user", "content": "What did TSMC decide?"}]}
