"""Real parts, built once per session: the embedding model, an ingested default corpus."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from langchain_core.embeddings import Embeddings

from bench.llm_server import free_port, local_llm_server
from qa_bot.chain import QaChain
from qa_bot.config import Settings
from qa_bot.ingest import ingest
from qa_bot.storage.embeddings import load_embeddings
from qa_bot.storage.store import Store

if TYPE_CHECKING:  # Playwright is imported by the fixture that starts the browser
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parent.parent
ARTICLE_FILE = "softbank-trump-industrial-parks.txt"
ARTICLE = f"corpus/{ARTICLE_FILE}"  # its document name: source "corpus", then the path
ARTIFACTS = REPO / "test-artifacts"  # screenshots, kept by CI
__all__ = ["free_port"]  # re-exported for the test modules
CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (`make test` installs it); never downloaded
os.environ.setdefault(  # the OpenVINO conversions of this run, never the user's own cache
    "QA_BOT_STORE__ENCODER_CACHE", tempfile.mkdtemp(prefix="qa-bot-test-encoders-")
)


def run_cli(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The real ``qa-bot`` command in its own process, on ``data_dir`` and the default corpus;
    ``env`` adds QA_BOT_* settings."""
    environment = {
        **os.environ,
        "QA_BOT_STORE__DATA_DIR": str(data_dir),
        "QA_BOT_INGEST__CORPUS_DIR": str(REPO / "corpus"),
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "qa_bot.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        cwd=REPO,
    )


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    """``folder`` holding ``files`` (name -> text), created as needed."""
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Real headless Chromium driven by Playwright. A missing browser fails, it is not skipped.

    Module-scoped: Playwright's sync API keeps an event loop running while it is open, which
    would break the asyncio tests of later modules.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[  # no calls home: this machine's network is closed
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def embeddings() -> Embeddings:
    """The real bundled all-MiniLM-L6-v2, run as the default settings run it, loaded once."""
    return load_embeddings(Settings().store)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the default corpus that a test may change."""
    folder = tmp_path / "corpus"
    shutil.copytree(REPO / "corpus", folder)
    return folder


@pytest.fixture
def make_store(tmp_path: Path, embeddings: Embeddings) -> Callable[..., Store]:
    """Open a store in a fresh data dir of this test; keyword arguments change settings
    sections: ``make_store(store={"chroma_port": 8001}, answer={"answerer": "openai"})``."""

    def make(**sections: dict[str, object]) -> Store:
        store = {"data_dir": tmp_path / "data", **sections.pop("store", {})}
        return Store.open(Settings().updated(store=store, **sections), embeddings)

    return make


@pytest.fixture(scope="session")
def chain(tmp_path_factory: pytest.TempPathFactory, embeddings: Embeddings) -> QaChain:
    """The default corpus ingested into an embedded store, behind the real chain."""
    settings = Settings().updated(store={"data_dir": tmp_path_factory.mktemp("default-data")})
    store = Store.open(settings, embeddings)
    ingest(store, REPO / "corpus")
    return QaChain(store)


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenAI-compatible server (llama.cpp, Gemma 3 270M); yields its /v1 base URL."""
    with local_llm_server(tmp_path_factory.mktemp("llm")) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real Chroma server, started for the module and stopped after it."""
    port = free_port()
    server = start_chroma(port, tmp_path_factory.mktemp("chroma-server"))
    yield port
    server.terminate()
    server.wait(10)


def _postgres_bin() -> Path:
    """The folder of PostgreSQL's server programs (Debian's postgresql; `make test` installs
    it)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    initdb = found[-1] if found else Path(shutil.which("initdb") or "initdb")
    assert initdb.exists(), "PostgreSQL is not installed: apt-get install postgresql"
    return initdb.parent


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 for the session; yields its SQLAlchemy URL.
    PostgreSQL refuses to run as root, so as root it runs as the postgres user."""
    folder = Path(tempfile.mkdtemp(prefix="qa-bot-postgres-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    bin_dir, data, port = _postgres_bin(), folder / "data", free_port()

    def pg(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=120)

    pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "qa", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    pg(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(folder / "log"),
        "-w",
        "start",
    )
    try:
        yield f"postgresql+psycopg://qa@127.0.0.1:{port}/postgres"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


MARKERS = {
    "browser": "browser",
    "llm_server": "llm",
    "llm_chain": "llm",
    "local_chain": "llm",
    "chroma_port": "chroma_server",
    "postgres_url": "postgres",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the real servers it needs (from its fixtures), so `make test-fast`
    can leave out the browser, the LLM server, the Chroma server and PostgreSQL."""
    for item in items:
        for fixture, marker in MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


def serve_app(app: FastAPI) -> tuple[str, uvicorn.Server]:
    """Run ``app`` with uvicorn on a free 127.0.0.1 port in a thread; return its URL."""
    from qa_bot.server.app import uvicorn_config

    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port))  # as `qa-bot serve` does
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def serve_process(data: Path, log: Path, **settings: str) -> tuple[str, subprocess.Popen[bytes]]:
    """A real `qa-bot serve` in its own process on ``data`` (``settings`` add QA_BOT_* env
    vars; the rate limit is raised), once /healthz answers; returns its URL and process."""
    port = free_port()
    env = {
        **os.environ,
        "QA_BOT_STORE__DATA_DIR": str(data),
        "QA_BOT_SERVER__RATE_LIMIT": "100000",
        "HF_HUB_OFFLINE": "1",
        **settings,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "qa_bot.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
            return url, server
        except httpx.HTTPError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(f"serve did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.3)


def start_chroma(port: int, path: Path) -> subprocess.Popen[bytes]:
    """`chroma run` on 127.0.0.1:``port`` over ``path``, once it answers its heartbeat."""
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    server = subprocess.Popen(
        [chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).raise_for_status()
            return server
        except httpx.HTTPError:
            assert server.poll() is None, "chroma run exited"
            assert time.monotonic() < deadline, "chroma run did not start in 60 s"
            time.sleep(0.3)


def widget_snippet(server_url: str) -> str:
    """The plain-HTML widget snippet of docs/embedding.md, pointed at ``server_url``."""
    doc = (REPO / "docs" / "embedding.md").read_text()
    section = doc.split("## Plain HTML page", 1)[1]
    found = re.search(r"```html\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1).replace("http://127.0.0.1:7860", server_url)


def ask_widget(page: Page, question: str) -> None:
    """Open the widget's panel on ``page`` and ask."""
    page.get_by_role("button", name="Ask the documents").click()
    page.get_by_label("Question").fill(question)
    page.get_by_label("Question").press("Enter")
