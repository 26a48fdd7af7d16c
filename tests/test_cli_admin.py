"""The CLI's knowledge-base, key, question-log and set-up commands, in real processes."""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from qa_bot.config import Settings
from qa_bot.evaluation.dataset import load_jsonl
from qa_bot.records import Citation
from qa_bot.server.local import find_record
from qa_bot.storage.keys import KeyStore
from qa_bot.storage.questions import LoggedQuestion, QuestionLog
from qa_bot.storage.restrictions import SourceGroups
from tests.conftest import ARTICLE, REPO, run_cli, serve_process, write_folder

MENU = {"menu.txt": "The staff canteen serves lentil soup every Thursday.\n"}
ZEPHYR = {
    "zephyr.txt": "Project Zephyr replaces payroll. The Zephyr budget is 4.2 million kroner.\n"
}
Cli = Callable[..., subprocess.CompletedProcess[str]]
THROUGH = "working through it"


@pytest.fixture(params=["here", "through a server"])
def admin_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Cli, bool]]:
    """``qa-bot`` on a fresh data dir, doing its work in its own process or through a real
    `qa-bot serve` on that data dir (each command has one body over either backend)."""
    data = tmp_path / "data"
    served = request.param == "through a server"
    server = serve_process(data, tmp_path / "serve.log")[1] if served else None
    yield functools.partial(run_cli, data_dir=data), served
    if server is not None:
        server.terminate()
        server.wait(30)


def test_sources_list_resync_and_remove(admin_cli: tuple[Cli, bool], tmp_path: Path) -> None:
    cli, served = admin_cli
    canteen = write_folder(tmp_path / "canteen", MENU)
    added = cli("ingest", str(REPO / "corpus"), str(canteen))
    assert added.returncode == 0 and (THROUGH in " ".join(added.stderr.split())) is served
    listed = cli("sources", "list").stdout
    assert "corpus" in listed and "canteen" in listed
    documents = cli("sources", "documents").stdout
    assert "canteen/menu.txt" in documents and "corpus/softbank" in documents
    (canteen / "menu.txt").write_text("The staff canteen serves bean stew every Friday.\n")
    resynced = cli("sources", "resync", "canteen")
    assert resynced.returncode == 0 and "Ingested canteen" in resynced.stdout
    answer = json.loads(cli("ask", "--json", "What does the canteen serve?").stdout)
    assert "bean stew" in answer["answer"]
    removed = cli("sources", "remove", "canteen")
    assert removed.returncode == 0 and "Removed canteen (1 chunks)." in removed.stdout
    assert canteen.exists()  # the folder itself is left alone
    missing = cli("sources", "remove", "canteen")
    assert missing.returncode == 1
    assert "Error: No source called 'canteen' (sources: corpus)." in missing.stderr
    unknown = cli("sources", "resync", "nowhere")
    assert unknown.returncode == 1
    assert "Error: No source called 'nowhere' (sources: corpus)." in unknown.stderr


def test_a_vanished_folder_does_not_block_the_others(
    admin_cli: tuple[Cli, bool], tmp_path: Path
) -> None:
    cli, served = admin_cli
    canteen = write_folder(tmp_path / "canteen", MENU)
    assert cli("ingest", str(REPO / "corpus"), str(canteen)).returncode == 0
    (canteen / "menu.txt").unlink()
    canteen.rmdir()
    done = cli("sources", "resync")
    assert done.returncode == 0 and (THROUGH in " ".join(done.stderr.split())) is served
    assert "does not exist" in " ".join(done.stderr.split())
    assert "Ingested corpus" in done.stdout


def test_an_empty_folder_is_refused_and_not_registered(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (tmp_path / "empty").mkdir()
    done = run_cli("ingest", str(tmp_path / "empty"), data_dir=data)
    assert done.returncode == 1 and "No supported documents" in done.stderr
    assert "empty" not in run_cli("sources", "list", data_dir=data).stdout


def test_sources_restrict_to_groups(admin_cli: tuple[Cli, bool], tmp_path: Path) -> None:
    cli, served = admin_cli
    hr = write_folder(tmp_path / "hr", ZEPHYR)
    assert cli("ingest", str(REPO / "corpus"), str(hr)).returncode == 0
    done = cli("sources", "restrict", "hr", "--groups", "hr,finance")
    assert done.returncode == 0, done.stderr
    assert "hr is now read by the groups finance, hr and admins." in " ".join(done.stdout.split())
    rows = [line for line in cli("sources", "list", COLUMNS="200").stdout.splitlines()]
    assert any("hr" in row and "finance, hr" in row for row in rows)
    assert any("corpus" in row and "everyone" in row for row in rows)
    data = tmp_path / "data"
    assert SourceGroups.beside(Settings().updated(store={"data_dir": data})).of("hr") == {
        "hr",
        "finance",
    }
    for args, said in [
        (("nowhere", "--groups", "hr"), "Error: No source called 'nowhere' (sources: corpus, hr)."),
        (("hr", "--groups", "HR!"), "Error: 'HR!' is not a group name: use lower-case letters"),
        (("hr",), "Error: Give --groups hr,finance, or --everyone to lift the restriction."),
        (("hr", "--groups", "hr", "--everyone"), "Error: Give either --groups or --everyone"),
    ]:
        wrong = cli("sources", "restrict", *args)
        assert wrong.returncode == 1 and said in " ".join(wrong.stderr.split())
    assert SourceGroups.beside(Settings().updated(store={"data_dir": data})).of("hr")  # unchanged
    keys = KeyStore(data / "keys.json")
    outsider, member = keys.add("otto", "reader"), keys.add("hana", "reader", frozenset({"hr"}))
    question = {"question": "What is the Zephyr budget?"}
    if served:  # the running server follows at once; its CLI token still works
        record = find_record(Settings().updated(store={"data_dir": data}))
        assert record is not None
        url = record.url
        for key, answered in ((outsider, False), (member, True)):
            reply = httpx.post(
                f"{url}/api/ask", json=question, headers={"authorization": f"Bearer {key}"}
            )
            assert ("4.2 million kroner" in reply.text) is answered, reply.text
            assert ("hr/zephyr.txt" in reply.text) is answered
    local = json.loads(cli("ask", "--json", question["question"]).stdout)
    assert "4.2 million kroner" in local["answer"]  # the CLI on this machine reads every source
    lifted = cli("sources", "restrict", "hr", "--everyone")
    assert lifted.returncode == 0 and "hr is now read by everyone." in lifted.stdout
    assert SourceGroups.beside(Settings().updated(store={"data_dir": data})).all() == {}


def _cases(text: str, folder: Path) -> list[tuple[str, bool, str | None]]:
    """JSONL cases read back by the eval loader: (question, answerable, reference)."""
    (folder / "cases.jsonl").write_text(text)
    return [(c.question, c.answerable, c.reference) for c in load_jsonl(folder / "cases.jsonl")]


def test_questions_list_and_export(admin_cli: tuple[Cli, bool], tmp_path: Path) -> None:
    cli, served = admin_cli
    assert cli("ingest", str(REPO / "corpus")).returncode == 0
    asked = json.loads(cli("ask", "--json", "What did Samsung decide?").stdout)
    assert asked["refused"] and (asked["question_id"] is not None) is served  # through it only
    log = QuestionLog.beside(Settings().updated(store={"data_dir": tmp_path / "data"}))
    quote = Citation(n=1, source=ARTICLE, title="T", quote="Q.", score=1, chunk_id="c", offset=0)
    log.add(  # as a reader of the running server would have been logged
        LoggedQuestion(
            id="tsmc01",
            asker="alice",
            question="What did TSMC decide?",
            answer="It opted out [1].",
            refused=False,
            citations=[quote],
            rating="down",
            latency_ms=80,
            answerer="extractive",
        )
    )
    wide = {"COLUMNS": "200"}  # whole cells in the table
    refused = cli("questions", "list", "--refused", **wide).stdout
    assert ("Samsung" in refused and "local-cli" in refused) is served
    assert "TSMC" not in refused
    down = cli("questions", "list", "--down", "--source", "corpus", **wide).stdout
    assert "TSMC" in down and "alice" in down and "Samsung" not in down
    exported = cli("questions", "export", "--refused", "--since", "7d")
    if served:
        assert _cases(exported.stdout, tmp_path) == [("What did Samsung decide?", False, None)]
    else:  # `ask` in its own process names nobody: nothing was logged
        assert exported.returncode == 1
        assert "No logged question matches" in " ".join(exported.stderr.split())
    answered = cli("questions", "export", "--down")  # an answer is never its own reference
    assert answered.returncode == 1 and answered.stdout == ""
    assert "Error: Question tsmc01 was answered: type the answer it should give" in " ".join(
        answered.stderr.split()
    )
    picked = cli("questions", "export", "--id", "tsmc01", "--expected", "It opted out.")
    assert _cases(picked.stdout, tmp_path) == [("What did TSMC decide?", True, "It opted out.")]
    bad = cli("questions", "list", "--since", "last week")
    assert bad.returncode == 1
    assert "Error: since must be a date such as 2025-01-31" in " ".join(bad.stderr.split())
    nothing = cli("questions", "export", "--source", "nowhere")
    assert nothing.returncode == 1
    assert "No logged question matches" in " ".join(nothing.stderr.split())


def test_keys_add_list_remove(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = run_cli("keys", "add", "wiki-bot", "--role", "reader", data_dir=data)
    key = made.stdout.strip()
    assert made.returncode == 0 and key.startswith("qab_")
    listed = run_cli("keys", "list", data_dir=data).stdout
    assert "wiki-bot" in listed and "reader" in listed and key not in listed
    assert KeyStore(data / "keys.json").find(key) is not None
    wrong = run_cli("keys", "add", "x", "--role", "root", data_dir=data)
    assert wrong.returncode == 1 and "Unknown role 'root': use reader or admin." in wrong.stderr
    grouped = run_cli("keys", "add", "hana", "--groups", "hr,finance", data_dir=data)
    assert grouped.returncode == 0 and "Key for hana (reader in finance, hr)" in grouped.stderr
    found = KeyStore(data / "keys.json").find(grouped.stdout.strip())
    assert found is not None and found.groups == ["finance", "hr"]
    rows = run_cli("keys", "list", data_dir=data, COLUMNS="200").stdout.splitlines()
    assert any("hana" in row and "finance, hr" in row for row in rows)
    for args, said in [
        (("boss", "--role", "admin", "--groups", "hr"), "Admins read every source: leave"),
        (("x", "--groups", "h r"), "Error: 'h r' is not a group name"),
    ]:
        refused = run_cli("keys", "add", *args, data_dir=data)
        assert refused.returncode == 1 and said in " ".join(refused.stderr.split())
    assert run_cli("keys", "remove", "wiki-bot", data_dir=data).returncode == 0
    assert KeyStore(data / "keys.json").find(key) is None


def test_config_names_each_setting_and_refuses_typos(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shown = run_cli("config", data_dir=data, QA_BOT_RETRIEVAL__TOP_K="8", QA_BOT_API_KEY="s3")
    assert shown.returncode == 0
    rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if "│" in line}
    assert "8" in rows["retrieval.top_k"] and "env" in rows["retrieval.top_k"]
    assert "s3" not in shown.stdout and "**" in rows["server.api_key"]  # masked
    typo = run_cli("config", data_dir=data, QA_BOT_RETRIEVAL__TOPK="8")
    assert typo.returncode == 1
    assert "Error: Unknown setting QA_BOT_RETRIEVAL__TOPK" in typo.stderr
    bad = run_cli("ask", "x", data_dir=data, QA_BOT_ANSWER__GENERATOR="magic")  # former name
    said = " ".join(bad.stderr.split())
    assert bad.returncode == 1 and "Bad setting answer.answerer" in said
    assert "answer.generator (QA_BOT_ANSWER__GENERATOR) is now answer.answerer" in said


def test_doctor_reports_each_part_with_a_fix(tmp_path: Path) -> None:
    done = run_cli("doctor", data_dir=tmp_path / "data")
    text = " ".join(done.stdout.split())
    for check in ("Python", "Browser (tests)", "OCR", "Embedding model", "Index", "LLM server"):
        assert check in text
    assert "Tesseract 5" in text  # `make test` installs it
    assert "is empty: run `qa-bot ingest`" in text  # a fresh data dir, with the fix
    assert done.returncode == 0  # an empty index is a warning, not a failure
