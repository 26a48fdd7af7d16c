"""The real `qa-bot` command, run as a user would, in its own process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ARTICLE, REPO, free_port, run_cli, serve_process, write_folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the default corpus ingested through the CLI."""
    path = tmp_path_factory.mktemp("cli-data")
    done = run_cli("ingest", data_dir=path)
    assert done.returncode == 0, done.stderr
    assert "added" in done.stdout
    return path


def test_ask_json_has_the_stable_shape(data_dir: Path) -> None:
    done = run_cli("ask", "--json", "What did TSMC decide?", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {
        "answer",
        "refused",
        "short_answer",
        "citations",
        "unsupported",
        "related",
        "question_id",
    }  # grows, never shrinks
    assert answer["refused"] is False and isinstance(answer["answer"], str)
    assert answer["question_id"] is None  # answered here, not logged: only a server logs
    assert answer["unsupported"] == [] and answer["related"] == []  # answered: none related
    [first, *_] = answer["citations"]
    assert {"n", "source", "title", "page", "quote", "score", "verified"} <= set(first)
    assert first["verified"] is True  # a quoted sentence supports itself
    assert first["n"] == 1 and first["source"] == ARTICLE and first["page"] is None
    assert "TSMC" in first["quote"] and isinstance(first["score"], float)


def test_a_refusal_prints_and_carries_related_passages_not_citations(data_dir: Path) -> None:
    question = "What did Samsung decide about the industrial parks?"
    done = run_cli("ask", "--json", question, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["refused"] is True and answer["citations"] == []
    assert 1 <= len(answer["related"]) <= 3
    assert {r["source"] for r in answer["related"]} == {ARTICLE}
    assert all(r["excerpt"] and r["chunk_id"] for r in answer["related"])
    done = run_cli("ask", question, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert "Not found in the documents. Related passages:" in done.stdout
    assert "- SoftBank CEO Proposes" in done.stdout and ARTICLE in done.stdout
    assert "Sources" not in done.stdout and "[1]" not in done.stdout


def test_ask_prints_answer_and_numbered_sources(data_dir: Path) -> None:
    done = run_cli("ask", "What is Project Crystal Land?", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert "Crystal Land" in done.stdout and "Sources" in done.stdout
    assert "[1] SoftBank CEO Proposes" in done.stdout and ARTICLE in done.stdout


def test_empty_question_is_one_plain_line(data_dir: Path) -> None:
    done = run_cli("ask", "  ", data_dir=data_dir)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: The question is empty: type a question about your documents."
    ]


def test_data_dirs_answer_from_their_own_corpus(tmp_path: Path) -> None:
    leave_policy = "# Leave policy\n\nEmployees receive twenty-eight days of paid annual leave.\n"
    other = write_folder(tmp_path / "handbook", {"leave.md": leave_policy})
    data = tmp_path / "x"
    assert run_cli("ingest", str(other), data_dir=data).returncode == 0
    leave = "How many days of annual leave?"
    own = json.loads(run_cli("ask", "--json", leave, data_dir=data).stdout)
    assert not own["refused"] and own["citations"][0]["source"] == "handbook/leave.md"
    foreign = json.loads(run_cli("ask", "--json", "What did TSMC decide?", data_dir=data).stdout)
    assert foreign["refused"] and foreign["citations"] == []


def test_emoji_codes_in_titles_print_as_text(tmp_path: Path) -> None:
    """Item 13: Rich would print ":smile:" in a document's title as an emoji."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.md").write_text(
        "# Release :smile: notes\n\nThe harbour crane lifts forty tonnes at most.\n"
    )
    data = tmp_path / "data"
    assert run_cli("ingest", str(folder), data_dir=data).returncode == 0
    done = run_cli("ask", "How much can the harbour crane lift?", data_dir=data)
    assert done.returncode == 0 and "Release :smile: notes" in done.stdout


def serve_again(data: Path, port: int, **env: str) -> subprocess.CompletedProcess[str]:
    """`qa-bot serve --port port` on ``data`` that must end by itself within a minute."""
    environment = {**os.environ, "QA_BOT_STORE__DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "qa_bot.cli", "serve", "--port", str(port)],
        capture_output=True,
        text=True,
        env={**environment, **env},
        timeout=60,
        cwd=REPO,
    )


def test_a_second_serve_on_the_data_dir_refuses_and_leaves_the_first_alone(
    tmp_path: Path,
) -> None:
    """`qa-bot serve` (or `make run`) twice on one data dir: the second ends at once with one
    sentence naming the first, whose server.json stays, so the CLI keeps working through it."""
    data = tmp_path / "data"
    url, first = serve_process(data, tmp_path / "serve.log")
    try:
        record = (data / "server.json").read_bytes()
        refusal = (
            f"Error: qa-bot already serves this data dir on {url}: use it, or stop it "
            f"(process {first.pid}) before serving again."
        )
        again = serve_again(data, int(url.rsplit(":", 1)[1]))  # the same port, as `make run`
        assert again.returncode == 1 and " ".join(again.stderr.split()) == refusal
        unreachable = {  # the index cannot open: refused before it is tried
            "QA_BOT_STORE__CHROMA_HOST": "127.0.0.1",
            "QA_BOT_STORE__CHROMA_PORT": str(free_port()),
        }
        elsewhere = serve_again(data, free_port(), **unreachable)
        assert elsewhere.returncode == 1 and " ".join(elsewhere.stderr.split()) == refusal
        assert (data / "server.json").read_bytes() == record
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
    finally:
        first.terminate()
        first.wait(30)
    assert not (data / "server.json").exists()  # the first withdrew its own on a clean stop


def test_serve_on_a_taken_port_names_the_setting_and_keeps_others_records(
    tmp_path: Path,
) -> None:
    """A port another program holds is one sentence; a stale server.json (its process gone)
    does not block the serve, and is not the failed serve's to remove."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    data = tmp_path / "data"
    data.mkdir()
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        stale = json.dumps({"url": f"http://127.0.0.1:{port}", "pid": gone.pid, "token": "t"})
        (data / "server.json").write_text(stale)
        done = serve_again(data, port)
    assert done.returncode == 1
    assert " ".join(done.stderr.split()) == (
        f"Error: Port {port} is taken by another program: stop it, or serve on another port "
        "with --port or QA_BOT_SERVER__PORT."
    )
    assert (data / "server.json").read_text() == stale
