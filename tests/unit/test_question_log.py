"""The question log on the unit tier: real SQLite, the real chain and the real app (in process);
filters, retention, bounds, the export read back by the eval loader, who may read it, feedback
linked only to one's own question, and never a key or a cookie stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from qa_bot.chain import QaChain
from qa_bot.errors import QaBotError
from qa_bot.evaluation.dataset import export_questions, load_jsonl
from qa_bot.records import Citation
from qa_bot.server.app import create_app
from qa_bot.storage.feedback import Feedback
from qa_bot.storage.keys import KeyStore
from qa_bot.storage.questions import (
    MAX_LIMIT,
    MAX_TEXT,
    LoggedQuestion,
    QuestionFilter,
    QuestionLog,
    stamp,
)

NOW = datetime.now(UTC)
ANSWERED = "What did TSMC decide?"
REFUSED = "What is the capital of Peru?"


def _logged(
    name: str, *, refused: bool = False, cites: tuple[str, ...] = (), **fields: Any
) -> LoggedQuestion:
    """A question ``name`` asked by alice two hours ago."""
    citations = [
        Citation(n=n, source=s, title="T", quote="Q.", score=0.5, chunk_id=f"c{n}", offset=0)
        for n, s in enumerate(cites, 1)
    ]
    values = {"asker": "alice", "question": f"Question {name}?", "answer": "A.", "latency_ms": 9}
    values |= {"answerer": "extractive", "created": stamp(NOW - timedelta(hours=2))}
    return LoggedQuestion(id=name, refused=refused, citations=citations, **values | fields)


@pytest.fixture
def log(tmp_path: Path) -> QuestionLog:
    """A log of four questions, one of them asked 40 days ago (past the 30 days kept)."""
    questions = QuestionLog(f"sqlite:///{tmp_path / 'feedback.sqlite'}", days=30)
    questions.add(_logged("refused", refused=True))
    questions.add(_logged("corpus", cites=("corpus/a.txt", "corpus/sub/b.txt")))
    questions.add(_logged("upload", cites=("uploads/50%_off.txt",), rating="down"))
    questions.add(_logged("old", created=stamp(datetime.now(UTC) - timedelta(days=40))))
    return questions


def _ids(log: QuestionLog, **values: str) -> set[str]:
    return {q.id for q in log.find(QuestionFilter.parse(values))}


def test_filters_select_what_they_say(log: QuestionLog) -> None:
    assert _ids(log) == {"refused", "corpus", "upload"}  # the expired one is never read
    assert _ids(log, refused="true") == {"refused"}
    assert _ids(log, refused="false") == {"corpus", "upload"}
    assert _ids(log, rating="down") == {"upload"}
    assert _ids(log, source="corpus") == _ids(log, source="corpus/") == {"corpus"}  # a folder
    assert _ids(log, source="corpus/sub/b.txt") == {"corpus"}  # a document
    assert _ids(log, source="corpus/a") == set()  # not a part of a name
    assert _ids(log, source="uploads/50%_off.txt") == {"upload"}
    assert _ids(log, source="uploads/50%") == _ids(log, source="%") == set()  # no wildcards
    assert _ids(log, since="1h") == _ids(log, since="2099-01-01") == set()
    assert _ids(log, since="3h") == _ids(log, since="1w") == {"refused", "corpus", "upload"}
    assert len(log.find(QuestionFilter.parse({"limit": "2"}))) == 2
    assert QuestionFilter.parse({"limit": "5000"}).limit == MAX_LIMIT  # capped
    assert QuestionFilter.parse({"refused": " ", "since": ""}) == QuestionFilter()  # blank: unset
    assert QuestionFilter.chosen(refused=True, down=True) == QuestionFilter(True, "down")
    wanted = QuestionFilter.parse({"refused": "false", "since": "7d", "source": "x"}, now=NOW)
    assert wanted.params() == {
        "refused": "false",
        "since": stamp(NOW - timedelta(days=7)),
        "source": "x",
        "limit": "100",
    }


def test_expired_questions_are_deleted_and_texts_bounded(log: QuestionLog) -> None:
    assert log.sweep() == 1 and log.sweep() == 0
    log.add(_logged("long", question="why " * 3000, answer="x" * 50_000))
    [long] = log.picked(["long"])
    assert len(long.question) == MAX_TEXT and len(long.answer) == 20_000
    keep_one_day = QuestionLog(log.url, days=1)
    assert len(keep_one_day.find(QuestionFilter())) == 4
    assert keep_one_day.sweep(now=NOW + timedelta(days=2)) == 4
    assert keep_one_day.find(QuestionFilter()) == []


@pytest.mark.parametrize(
    ("values", "sentence"),
    [
        ({"since": "yesterday"}, "since must be a date such as 2025-01-31 or an age such as 7d"),
        ({"since": "7 days"}, "since must be a date such as 2025-01-31"),
        ({"rating": "sideways"}, "rating must be up or down (it was 'sideways')."),
        ({"refused": "maybe"}, "refused must be true or false (it was 'maybe')."),
        ({"limit": "0"}, "limit must be a whole number from 1 (it was '0')."),
        ({"limit": "ten"}, "limit must be a whole number from 1"),
        ({"refusd": "true"}, "Unknown filter 'refusd': use refused, rating, since, source, limit."),
        ({"limit": "²"}, "limit must be a whole number from 1 (it was '²')."),  # isdigit() says yes
        ({"since": "0001-01-01T00:00+01:00"}, "since must be a date"),  # year 0 in UTC
        ({"since": "٧d"}, "since must be a date"),  # ASCII digits only
        ({"source": "corpus\nuploads"}, "source must be a document or folder name, without"),
        ({"since": "\x1b[2J"}, "since must be a date such as 2025-01-31 or an age such as 7d, 12h"),
    ],
)
def test_a_bad_filter_is_one_sentence(values: dict[str, str], sentence: str) -> None:
    with pytest.raises(QaBotError) as raised:
        QuestionFilter.parse(values)
    assert str(raised.value).startswith(sentence) and "\n" not in str(raised.value)


def test_a_limit_of_any_length_is_capped(log: QuestionLog) -> None:
    assert QuestionFilter.parse({"limit": "9" * 5000}).limit == MAX_LIMIT  # int() refuses it
    assert QuestionFilter.parse({"limit": "0" * 50 + "7"}).limit == 7


def test_a_case_is_one_line_whatever_its_texts_hold(log: QuestionLog, tmp_path: Path) -> None:
    breaks = "one\u2028two\u2029three\x85four"
    log.add(_logged("lines", question=f"Which {breaks}?"))
    dataset = tmp_path / "cases.jsonl"
    dataset.write_text(export_questions(log, [("lines", breaks)]), encoding="utf-8")
    assert len(dataset.read_text(encoding="utf-8").splitlines()) == 1
    [case] = load_jsonl(dataset)
    assert (case.question, case.reference) == (f"Which {breaks}?", breaks)


def test_verdicts_on_a_question_expire_with_it(log: QuestionLog) -> None:
    rated = log.rate("corpus", "alice", "up")
    assert rated is not None and (rated.id, rated.rating) == ("corpus", "up")
    assert log.rate("corpus", "bob", "up") is None
    log.feedback.add(Feedback(rating="up", question="Q", answer="A", question_id="corpus"))
    log.feedback.add(Feedback(rating="up", question="Unlinked", answer="A"))
    assert log.asked_by("corpus", "alice") is not None and log.asked_by("corpus", "bob") is None
    log.sweep(now=NOW + timedelta(days=31))
    assert [f.question for f in log.feedback.all()] == ["Unlinked"]


def test_exported_cases_are_read_back_by_the_eval_loader(log: QuestionLog, tmp_path: Path) -> None:
    log.add(_logged("follow-up", history=[("Who is Son?", "The CEO of SoftBank.")]))
    picks = [("refused", None), ("follow-up", "  Japanese investors.  "), ("refused", "")]
    dataset = tmp_path / "cases.jsonl"
    dataset.write_text(export_questions(log, picks), encoding="utf-8")
    unanswerable, answerable = load_jsonl(dataset)  # one case per question
    assert (unanswerable.id, unanswerable.answerable) == ("log-refused", False)
    assert unanswerable.question == "Question refused?" and unanswerable.reference is None
    assert (answerable.answerable, answerable.reference) == (True, "Japanese investors.")
    assert answerable.history == [("Who is Son?", "The CEO of SoftBank.")]
    with pytest.raises(QaBotError, match="Question corpus was answered: type the answer it"):
        export_questions(log, [("refused", None), ("corpus", " ")])
    with pytest.raises(
        QaBotError, match=r"No logged question has the id 'old' \(questions are kept 30 days\)"
    ):
        export_questions(log, [("old", "An answer.")])


# ---- through the app: every face, one log --------------------------------------------------


@pytest.fixture
def app(unit_chain: QaChain, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The app over the unit chain's index, in a data dir of its own holding two reader keys
    and an admin key."""
    settings = unit_chain.settings.updated(store={"data_dir": tmp_path / "data"})
    keys = KeyStore(settings.data_path / "keys.json")
    made = {name: keys.add(name, role) for name, role in [("alice", "reader"), ("bob", "reader")]}
    made["boss"] = keys.add("boss", "admin")
    chain = QaChain(unit_chain.store, settings)
    with TestClient(create_app(chain), base_url="http://127.0.0.1") as client:
        yield {"client": client, "keys": made, "chain": chain, "data": settings.data_path}


def _as(app: dict[str, Any], who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {app['keys'][who]}"}


def test_every_face_logs_each_question_once_under_the_callers_name(app: dict[str, Any]) -> None:
    client = app["client"]
    asked = client.post("/api/ask", json={"question": ANSWERED}, headers=_as(app, "alice"))
    chat = client.post("/api/chat", json={"question": REFUSED}, headers=_as(app, "bob"))
    messages = [{"role": "user", "content": ANSWERED}]
    body = {"messages": messages, "top_k": 3}
    completion = client.post("/v1/chat/completions", json=body, headers=_as(app, "boss"))
    streamed = client.post(
        "/v1/chat/completions", json=body | {"stream": True}, headers=_as(app, "boss")
    )
    assert 200 == asked.status_code == chat.status_code == completion.status_code
    assert streamed.status_code == 200
    listed = client.get("/api/questions", headers=_as(app, "boss")).json()
    assert [q["asker"] for q in listed] == ["boss", "boss", "bob", "alice"]  # newest first
    alice = listed[-1]
    assert alice["id"] == asked.json()["question_id"] and alice["question"] == ANSWERED
    assert alice["answer"] == asked.json()["answer"] and not alice["refused"]
    assert alice["citations"][0]["quote"] == asked.json()["citations"][0]["quote"]
    assert alice["latency_ms"] > 0 and alice["answerer"] == "extractive"
    assert listed[-2]["refused"] and f'"question_id":"{listed[-2]["id"]}"' in chat.text
    refused = client.get("/api/questions?refused=true", headers=_as(app, "boss")).json()
    assert [q["question"] for q in refused] == [REFUSED]
    cited = alice["citations"][0]["source"]
    by_source = client.get("/api/questions", params={"source": cited}, headers=_as(app, "boss"))
    assert {q["asker"] for q in by_source.json()} == {"alice", "boss"}


def test_readers_cannot_read_or_export_the_log(app: dict[str, Any]) -> None:
    client = app["client"]
    client.post("/api/ask", json={"question": REFUSED}, headers=_as(app, "alice"))
    [logged] = client.get("/api/questions", headers=_as(app, "boss")).json()
    export = {"cases": [{"id": logged["id"]}]}
    for who in ("alice", "bob"):
        listed = client.get("/api/questions", headers=_as(app, who))
        exported = client.post("/api/questions/export", json=export, headers=_as(app, who))
        assert listed.status_code == exported.status_code == 403
        assert logged["question"] not in listed.text + exported.text
    assert client.get("/api/questions").status_code == 401
    done = client.post("/api/questions/export", json=export, headers=_as(app, "boss"))
    assert done.status_code == 200 and done.headers["content-type"] == "application/jsonl"
    assert done.text == f'{{"id":"log-{logged["id"]}","question":"{REFUSED}","answerable":false}}\n'


def test_bad_requests_are_one_sentence_and_change_nothing(app: dict[str, Any]) -> None:
    client, admin = app["client"], _as(app, "boss")
    answered = client.post("/api/ask", json={"question": ANSWERED}, headers=admin).json()
    bad = client.get("/api/questions?since=last+tuesday", headers=admin)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("since must be a date")
    unknown = client.get("/api/questions?stars=5", headers=admin)
    assert unknown.status_code == 400 and unknown.json()["detail"].startswith("Unknown filter")
    cases = {"cases": [{"id": answered["question_id"]}]}
    unexpected = client.post("/api/questions/export", json=cases, headers=admin)
    assert unexpected.status_code == 400 and "was answered" in unexpected.json()["detail"]
    cases["cases"][0]["expected"] = "It opted out."
    expected = client.post("/api/questions/export", json=cases, headers=admin)
    assert '"answerable":true,"reference":"It opted out."' in expected.text
    assert len(client.get("/api/questions", headers=admin).json()) == 1


def test_feedback_rates_only_the_callers_own_question(app: dict[str, Any]) -> None:
    client = app["client"]
    answer = client.post("/api/ask", json={"question": ANSWERED}, headers=_as(app, "alice"))
    verdict = {"rating": "down", "question": ANSWERED, "answer": answer.json()["answer"]}
    verdict["question_id"] = answer.json()["question_id"]
    stranger = client.post("/api/feedback", json=verdict, headers=_as(app, "bob"))
    assert stranger.status_code == 200 and stranger.json()["linked"] is False
    assert client.get("/api/questions?rating=down", headers=_as(app, "boss")).json() == []
    own = client.post("/api/feedback", json=verdict, headers=_as(app, "alice"))
    assert own.json()["linked"] is True
    [down] = client.get("/api/questions?rating=down", headers=_as(app, "boss")).json()
    assert (down["asker"], down["rating"]) == ("alice", "down")


def test_no_key_or_cookie_is_ever_stored(app: dict[str, Any]) -> None:
    client = app["client"]
    key = app["keys"]["alice"]
    client.post("/api/ask", json={"question": ANSWERED}, headers=_as(app, "alice"))
    login = client.post("/login", data={"key": key}, follow_redirects=False)
    cookie = login.cookies["qa_bot_session"]
    client.post("/api/ask", json={"question": REFUSED}, headers={"origin": "http://127.0.0.1"})
    client.cookies.clear()
    [by_cookie, by_key] = client.get("/api/questions", headers=_as(app, "boss")).json()
    assert by_cookie["asker"] == by_key["asker"] == "alice"
    stored = (app["data"] / "feedback.sqlite").read_bytes()
    assert REFUSED.encode() in stored  # the file holds the log ...
    for secret in (key, cookie, cookie.split(".")[0], app["keys"]["boss"], "Bearer"):
        assert secret.encode() not in stored  # ... and never how anyone signed in


def test_the_off_switch_keeps_nothing(unit_chain: QaChain, tmp_path: Path) -> None:
    settings = unit_chain.settings.updated(
        store={"data_dir": tmp_path}, server={"question_log": False}
    )
    chain = QaChain(unit_chain.store, settings)
    assert chain.ask(ANSWERED, asker="alice").question_id is None
    assert chain.question_log.find(QuestionFilter()) == []
    logged = QaChain(unit_chain.store, settings.updated(server={"question_log": True}))
    assert logged.ask(ANSWERED).question_id is None  # nobody named: the CLI, the evals
    assert logged.ask(ANSWERED, asker="alice").question_id is not None
    assert [q.asker for q in logged.question_log.find(QuestionFilter())] == ["alice"]
