"""Ingestion is incremental, keeps going past bad files, and never loses the index by mistake."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from qa_bot.errors import CorpusError, IndexNotReadyError
from qa_bot.ingest import ingest
from qa_bot.ingest.knowledge import KnowledgeBase
from qa_bot.ingest.pictures import NOT_A_PICTURE
from qa_bot.registry import LOADERS
from qa_bot.storage.embeddings import resolve_model_path
from qa_bot.storage.store import Store
from tests import hostile_loaders
from tests.conftest import ARTICLE, ARTICLE_FILE, REPO, run_cli, write_folder
from tests.wiki_site import SECTIONS, Wiki, pages_by_slug, serve_wiki


def chunk_texts(store: Store, source: str) -> list[str]:
    return [chunk.page_content for chunk in store.chunks(source)]


def test_first_ingest_adds_the_article(corpus: Path, make_store: Callable[..., Store]) -> None:
    store = make_store()
    seen: list[tuple[int, int, str]] = []
    report = ingest(store, corpus, lambda *args: seen.append(args))
    assert report.added == [ARTICLE] and not report.failed
    assert report.chunks_added == store.count() > 3
    assert seen == [(1, 1, ARTICLE)]


def test_reingest_unchanged_embeds_nothing(corpus: Path, make_store: Callable[..., Store]) -> None:
    store = make_store()
    ingest(store, corpus)
    before = store.count()
    report = ingest(store, corpus)
    assert report.unchanged == [ARTICLE]
    assert report.chunks_added == 0 and report.chunks_deleted == 0
    assert store.count() == before


def test_edit_and_delete_update_the_index(corpus: Path, make_store: Callable[..., Store]) -> None:
    store = make_store()
    (corpus / "memo.md").write_text("# Memo\n\nThe cafeteria closes at 3 pm on Fridays.\n")
    ingest(store, corpus)
    (corpus / "memo.md").write_text("# Memo\n\nThe cafeteria now closes at 5 pm on Fridays.\n")
    report = ingest(store, corpus)
    assert report.updated == ["corpus/memo.md"] and report.unchanged == [ARTICLE]
    [chunk] = chunk_texts(store, "corpus/memo.md")
    assert "now closes at 5 pm" in chunk and "3 pm" not in chunk

    (corpus / "memo.md").unlink()
    report = ingest(store, corpus)
    assert report.deleted == ["corpus/memo.md"]
    assert chunk_texts(store, "corpus/memo.md") == []
    assert store.documents() == {ARTICLE}


def test_corrupt_pdf_is_skipped_and_the_rest_ingested(
    corpus: Path, make_store: Callable[..., Store]
) -> None:
    (corpus / "scan.pdf").write_bytes(b"%PDF-1.7\n garbage \x00\x01")
    (corpus / "sub").mkdir()
    (corpus / "sub" / "notes.txt").write_text("Notes\n\nThe vault code changes every Monday.\n")
    (corpus / "image.png").write_bytes(b"\x89PNG")
    (corpus / "drawing.svg").write_text("<svg/>")
    store = make_store()
    report = ingest(store, corpus)
    failed = dict(report.failed)
    assert sorted(failed) == ["corpus/image.png", "corpus/scan.pdf"]
    assert "not a readable PDF" in failed["corpus/scan.pdf"]
    assert failed["corpus/image.png"] == NOT_A_PICTURE
    assert sorted(report.added) == [ARTICLE, "corpus/sub/notes.txt"]
    assert report.ignored == 1
    assert store.documents() == {ARTICLE, "corpus/sub/notes.txt"}


def test_a_file_over_its_read_limits_is_stopped_and_the_rest_ingested(
    tmp_path: Path, make_store: Callable[..., Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parse that never ends, and one that eats memory, run in worker processes: each is
    stopped at its limit and reported in one sentence naming the setting; the other files are
    ingested, and the next ingestion finds a working reader again."""
    monkeypatch.setitem(LOADERS._targets, ".stuck", hostile_loaders.load_forever)
    monkeypatch.setitem(LOADERS._targets, ".greedy", hostile_loaders.load_greedily)
    folder = write_folder(
        tmp_path / "docs",
        {
            "a-menu.txt": "The canteen serves lentil soup on Thursdays.\n",
            "b-loop.stuck": "anything",
            "c-bomb.greedy": "anything",
            "d-notes.md": "# Notes\n\nThe vault code changes every Monday.\n",
        },
    )
    store = make_store(ingest={"parse_timeout_seconds": 3, "parse_memory_mb": 512})
    reported: dict[str, float] = {}
    started = time.monotonic()
    report = ingest(store, folder, lambda *step: reported.setdefault(step[2], time.monotonic()))
    assert sorted(report.added) == ["docs/a-menu.txt", "docs/d-notes.md"]
    assert dict(report.failed) == {
        "docs/b-loop.stuck": "it took longer than 3 s to read, so its reader was stopped "
        "(raise QA_BOT_INGEST__PARSE_TIMEOUT_SECONDS to ingest it)",
        "docs/c-bomb.greedy": "it needed more than 512 MB of memory to read, so its reader "
        "was stopped (raise QA_BOT_INGEST__PARSE_MEMORY_MB to ingest it)",
    }
    assert store.documents() == {"docs/a-menu.txt", "docs/d-notes.md"}
    assert time.monotonic() - started < 90  # generous: it catches a hang, not a slow machine
    (folder / "e-late.txt").write_text("The late bus leaves at 23:10.\n")
    assert ingest(store, folder).added == ["docs/e-late.txt"]  # workers replaced


def test_a_readers_own_bug_fails_that_file_only(
    tmp_path: Path, make_store: Callable[..., Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(LOADERS._targets, ".odd", hostile_loaders.load_with_a_bug)
    folder = write_folder(
        tmp_path / "docs",
        {"a-menu.txt": "The canteen serves lentil soup on Thursdays.\n", "b-file.odd": "x"},
    )
    report = ingest(make_store(), folder)
    assert report.added == ["docs/a-menu.txt"]
    assert dict(report.failed) == {
        "docs/b-file.odd": "its reader failed on it (KeyError): report it, with the file"
    }


def test_a_stopped_reader_takes_the_programs_it_runs_along(
    tmp_path: Path, make_store: Callable[..., Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader stuck waiting on a program it started (Tesseract on a hostile page) is killed
    with that program, not leaving it running."""
    monkeypatch.setitem(LOADERS._targets, ".scan", hostile_loaders.load_through_a_program)
    folder = write_folder(tmp_path / "docs", {"a-stuck.scan": "anything"})
    store = make_store(ingest={"parse_timeout_seconds": 2})
    report = ingest(store, folder)
    assert [name for name, _ in report.failed] == ["docs/a-stuck.scan"]
    pid = int((folder / "a-stuck.scan.pid").read_text())
    assert _gone(pid, within=5)


def _gone(pid: int, within: float) -> bool:
    """Whether process ``pid`` ends (or is a zombie, ended but not yet reaped) within seconds."""
    until = time.monotonic() + within
    while time.monotonic() < until:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_file_turned_corrupt_keeps_its_previous_chunks(
    corpus: Path, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    ingest(store, corpus)
    before = chunk_texts(store, ARTICLE)
    (corpus / ARTICLE_FILE).write_bytes(b"\x00\x00binary now")
    report = ingest(store, corpus)
    assert [source for source, _ in report.failed] == [ARTICLE]
    assert chunk_texts(store, ARTICLE) == before


def test_missing_or_empty_folder_is_refused_and_index_intact(
    tmp_path: Path, corpus: Path, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    ingest(store, corpus)
    count = store.count()
    with pytest.raises(CorpusError, match="does not exist"):
        ingest(store, tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="No supported documents"):
        ingest(store, tmp_path / "empty")
    assert store.count() == count


def test_folders_are_sources_side_by_side(
    tmp_path: Path, corpus: Path, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    ingest(store, corpus)
    other = tmp_path / "other"
    other.mkdir()
    (other / "faq.txt").write_text("FAQ\n\nParking permits are issued by the front desk.\n")
    report = ingest(store, other)
    assert report.added == ["other/faq.txt"] and report.deleted == []
    assert store.documents() == {ARTICLE, "other/faq.txt"}
    (other / "faq.txt").unlink()
    (other / "desk.txt").write_text("The front desk opens at eight.\n")
    again = ingest(store, other)  # re-syncing one source never touches another's documents
    assert again.deleted == ["other/faq.txt"] and again.added == ["other/desk.txt"]
    assert store.documents() == {ARTICLE, "other/desk.txt"}


def test_rebuild_fills_a_new_collection_then_switches(
    corpus: Path, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    ingest(store, corpus)
    ids, old = store.chunk_ids(), store.collection_name
    knowledge = KnowledgeBase(store)
    seen: list[int] = []

    def progress(done: int, total: int, name: str) -> None:
        seen.append(store.count())  # the old collection answers all along

    [report] = knowledge.rebuild(progress)
    assert report.added == [ARTICLE] and seen == [len(ids)]
    assert knowledge.store.collection_name != old and knowledge.store.chunk_ids() == ids
    assert old not in knowledge.store.collection_names()  # dropped once replaced
    reopened = Store.open(store.settings, store.embeddings)  # every later process uses it
    assert reopened.collection_name == knowledge.store.collection_name


def test_a_new_embedding_model_is_taken_by_a_rebuild(
    tmp_path: Path, corpus: Path, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    ingest(store, corpus)
    other_model = tmp_path / "my-model"  # the same weights under another name
    other_model.symlink_to(resolve_model_path("all-MiniLM-L6-v2"), target_is_directory=True)
    settings = store.settings.updated(store={"embedding_model": str(other_model)})
    with pytest.raises(IndexNotReadyError, match="run `qa-bot ingest --rebuild`"):
        Store.open(settings, store.embeddings)
    knowledge = KnowledgeBase(Store.open(settings, store.embeddings, any_model=True))
    knowledge.rebuild()
    reopened = Store.open(settings, store.embeddings)  # no complaint any more
    assert reopened.documents() == {ARTICLE}


def test_links_that_loop_dangle_or_leave_the_folder_are_skipped(
    tmp_path: Path, corpus: Path, make_store: Callable[..., Store]
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("The safe combination is 12-34-56.")
    (corpus / "loop-a.txt").symlink_to(corpus / "loop-b.txt")
    (corpus / "loop-b.txt").symlink_to(corpus / "loop-a.txt")
    (corpus / "dead.txt").symlink_to(corpus / "gone.txt")
    (corpus / "leak.txt").symlink_to(outside)
    (corpus / "inside.txt").symlink_to(corpus / ARTICLE_FILE)
    report = ingest(make_store(), corpus)
    assert dict(report.failed) == {
        "corpus/dead.txt": "it is a link to a file that does not exist",
        "corpus/leak.txt": "it is a link to a file outside the folder",
        "corpus/loop-a.txt": "it is a link that loops back on itself",
        "corpus/loop-b.txt": "it is a link that loops back on itself",
    }
    assert sorted(report.added) == sorted([ARTICLE, "corpus/inside.txt"])


def _delay_every_page(wiki: Wiki, seconds: float) -> set[str]:
    """Make each page of ``wiki`` (not robots.txt nor the sitemap) answer ``seconds`` late;
    return their paths."""
    paths = {"/space/"} | {f"/space/{section}/" for section in SECTIONS}
    paths |= {f"/space/{slug}" for slug in pages_by_slug()}
    for path in paths:
        wiki.faults[path] = replace(wiki.reply(path), delay=seconds)
    return paths


def test_a_web_source_killed_before_its_first_page_is_not_kept(tmp_path: Path) -> None:
    """Item 7: kill -9 while a new web source's first page is on its way leaves no source
    registered, so a resync of all sources does not crawl it again."""
    data = tmp_path / "data"
    with serve_wiki() as wiki:
        pages = _delay_every_page(wiki, 60)
        env = {
            "QA_BOT_WEB__ALLOWED_HOSTS": json.dumps([f"127.0.0.1:{wiki.port}"]),
            "QA_BOT_WEB__REQUESTS_PER_SECOND": "100",
            "COLUMNS": "200",  # the sources table unfolded
        }
        ingesting = subprocess.Popen(
            [sys.executable, "-m", "qa_bot.cli", "ingest", f"{wiki.base}/space/"],
            env={**os.environ, "QA_BOT_STORE__DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        deadline = time.monotonic() + 120
        while not pages & set(wiki.paths()):  # its first page asked for, not yet answered
            assert ingesting.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        ingesting.send_signal(signal.SIGKILL)
        ingesting.wait()
        wiki.faults.clear()
        wiki.forget()
        listed = run_cli("sources", "list", data_dir=data, **env)
        assert listed.returncode == 0, listed.stderr
        assert f"127.0.0.1_{wiki.port}_space" not in listed.stdout
        assert f"{wiki.base}/space/" not in listed.stdout
        resynced = run_cli("sources", "resync", data_dir=data, **env)
        assert resynced.returncode == 0, resynced.stderr
        assert wiki.paths() == []
