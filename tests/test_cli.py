"""The real `qa-bot` command, run as a user would, in its own process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ARTICLE, run_cli, write_folder


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
        "question_id",
    }  # grows, never shrinks
    assert answer["refused"] is False and isinstance(answer["answer"], str)
    assert answer["question_id"] is None  # answered here, not logged: only a server logs
    assert answer["unsupported"] == []
    [first, *_] = answer["citations"]
    assert {"n", "source", "title", "page", "quote", "score", "verified"} <= set(first)
    assert first["verified"] is True  # a quoted sentence supports itself
    assert first["n"] == 1 and first["source"] == ARTICLE and first["page"] is None
    assert "TSMC" in first["quote"] and isinstance(first["score"], float)


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
