"""Faults and concurrency with real processes: a killed ingestion, a server answering while the
CLI ingests and rebuilds through it, a restart."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langchain_core.embeddings import Embeddings

from qa_bot.config import Settings
from qa_bot.ingest.knowledge import KnowledgeBase
from qa_bot.server.app import create_app
from qa_bot.storage.feedback import Feedback, FeedbackStore
from qa_bot.storage.keys import KeyStore
from qa_bot.storage.store import Store
from tests.conftest import (
    ARTICLE,
    REPO,
    free_port,
    run_cli,
    serve_app,
    serve_process,
    start_chroma,
)

QUESTION = "What did TSMC decide?"
SENTENCES = [
    "The {n} depot stores {k} pallets of spare parts for the northern line.",
    "Inspections at the {n} depot happen every {k} days, according to the manual.",
    "The {n} depot was renovated after {k} years of service.",
]


def write_many(folder: Path, files: int) -> None:
    """``files`` small documents, enough for an ingestion that lasts a few seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        lines = [s.format(n=f"number {n}", k=n + i) for i, s in enumerate(SENTENCES)]
        (folder / f"depot-{n:03}.txt").write_text(" ".join(lines * 6))


def test_kill_9_halfway_then_rerun_equals_a_clean_ingest(tmp_path: Path) -> None:
    folder = tmp_path / "depots"
    write_many(folder, 60)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "QA_BOT_STORE__DATA_DIR": str(killed), "HF_HUB_OFFLINE": "1"}
    ingesting = subprocess.Popen(
        [sys.executable, "-m", "qa_bot.cli", "ingest", str(folder)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    records = killed / "records.sqlite"
    deadline = time.monotonic() + 120
    while not (records.exists() and _recorded(records) >= 20):  # a third of the way in
        assert ingesting.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    ingesting.send_signal(signal.SIGKILL)
    ingesting.wait()
    assert run_cli("ingest", str(folder), data_dir=killed).returncode == 0
    assert run_cli("ingest", str(folder), data_dir=clean).returncode == 0
    after_kill = Store.open(Settings().updated(store={"data_dir": killed}))
    reference = Store.open(Settings().updated(store={"data_dir": clean}))
    assert after_kill.chunk_ids() == reference.chunk_ids()
    assert after_kill.count() == reference.count() == len(reference.chunk_ids())
    assert after_kill.keyword_ids() == after_kill.chunk_ids()


def _recorded(records: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(records, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM upsertion_record").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.fixture(params=["embedded", pytest.param("chroma-server", marks=pytest.mark.chroma_server)])
def running_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """A real `qa-bot serve` over the default corpus in its own process, on embedded Chroma or
    a `chroma run` server; yields its URL, data dir and the settings the CLI needs too."""
    data = tmp_path / "data"
    corpus = tmp_path / "corpus"
    shutil.copytree(REPO / "corpus", corpus)
    settings: dict[str, str] = {}
    chroma = None
    if request.param == "chroma-server":
        chroma_port = free_port()
        chroma = start_chroma(chroma_port, tmp_path / "chroma")
        settings = {
            "QA_BOT_STORE__CHROMA_HOST": "127.0.0.1",
            "QA_BOT_STORE__CHROMA_PORT": str(chroma_port),
        }
    assert run_cli("ingest", str(corpus), data_dir=data, **settings).returncode == 0
    url, server = serve_process(data, tmp_path / "serve.log", **settings)
    yield url, data, settings
    server.terminate()
    server.wait(30)
    if chroma is not None:
        chroma.terminate()
        chroma.wait(10)
    assert not (data / "server.json").exists()  # withdrawn on a clean stop


def test_server_answers_while_the_cli_ingests_and_rebuilds(
    running_server: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    url, data, settings = running_server
    folder = tmp_path / "depots"
    write_many(folder, 40)
    codes: list[int] = []
    quotes: list[str] = []
    done = threading.Event()

    def keep_asking() -> None:
        while not done.is_set():
            reply = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=120)
            codes.append(reply.status_code)
            if reply.status_code == 200:
                quotes.append(reply.json()["citations"][0]["quote"])

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        added = run_cli("ingest", str(folder), data_dir=data, **settings)
        rebuilt = run_cli("ingest", "--rebuild", data_dir=data, **settings)
    finally:
        done.set()
        asker.join()
    assert added.returncode == 0 and "working through it" in " ".join(added.stderr.split())
    assert rebuilt.returncode == 0, rebuilt.stderr
    log = (data.parent / "serve.log").read_text()[-3000:]
    assert len(codes) >= 3 and set(codes) == {200}, log  # never an error, during or after
    assert all("TSMC" in quote for quote in quotes)  # always the same consistent answer
    depot = httpx.post(
        f"{url}/api/ask", json={"question": "How often are inspections at the number 7 depot?"}
    ).json()
    assert depot["citations"][0]["source"].startswith("depots/")  # new documents, no restart
    health = httpx.get(f"{url}/healthz").json()
    assert health["ingesting"] is False and health["documents"] == 41
    assert health["collection"] == (data / "active-collection").read_text()
    cli = run_cli("ask", "--json", QUESTION, data_dir=data, **settings)  # through the server
    assert cli.returncode == 0 and ARTICLE in cli.stdout
    listed = run_cli("sources", "list", data_dir=data, **settings)  # through the server too
    assert listed.returncode == 0 and "depots" in listed.stdout and "40" in listed.stdout


def test_restart_keeps_index_feedback_uploads_keys_and_settings(
    tmp_path: Path, embeddings: Embeddings
) -> None:
    """What one server process stored is there for the next process on the same data dir."""
    from qa_bot.chain import QaChain

    data = tmp_path / "data"
    settings = Settings().updated(store={"data_dir": data})
    store = Store.open(settings, embeddings)
    upload = tmp_path / "menu.txt"
    upload.write_text("The canteen serves lentil soup every Thursday.")
    stored = KnowledgeBase(store).add_uploads([(upload, "menu.txt")]).stored
    FeedbackStore.beside(settings).add(Feedback(rating="down", question="q", answer="a"))
    key = KeyStore(settings.data_path / "keys.json").add("wiki", "reader")
    _, server = serve_app(create_app(QaChain(store)))
    server.should_exit = True
    listed = run_cli("sources", "documents", data_dir=data)  # a new process
    assert stored == ["uploads/menu.txt"] and "uploads/menu.txt" in listed.stdout
    asked = run_cli("ask", "--json", "What does the canteen serve?", data_dir=data,
                    QA_BOT_RETRIEVAL__TOP_K="1")  # fmt: skip
    assert "lentil soup" in json.loads(asked.stdout)["answer"]
    shown = run_cli("config", data_dir=data, QA_BOT_RETRIEVAL__TOP_K="1").stdout
    assert any("retrieval.top_k" in line and "1" in line for line in shown.splitlines())
    assert "wiki" in run_cli("keys", "list", data_dir=data).stdout
    assert KeyStore(settings.data_path / "keys.json").find(key) is not None
    assert [f.rating for f in FeedbackStore.beside(settings).all()] == ["down"]
