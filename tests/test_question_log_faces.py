"""Every face of the question log attacked as a stranger and as a reader, over real HTTP to the
real app (uvicorn, the Gradio chat mounted) and in real Chromium: a reader key, a proxy user,
an anonymous widget reader and nobody never read a logged question, through the JSON API, the
Gradio API or a session of someone else's; hostile filters and exports are one sentence or a
case that reads back as typed; listings are bounded; no credential lands in the database;
retention deletes, the off switch keeps nothing; a verdict rates its question by id; exports
do not pile up (saved chats on a shared browser: test_groups.py)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from gradio_client import Client
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, text

from qa_bot.chain import QaChain
from qa_bot.evaluation.dataset import load_jsonl
from qa_bot.server import ui
from qa_bot.server.access import EXPORTS
from qa_bot.server.app import create_app
from qa_bot.server.ui import build_ui, exports_folder
from qa_bot.storage.feedback import Feedback, FeedbackStore
from qa_bot.storage.keys import KeyStore
from qa_bot.storage.questions import (
    MAX_LIMIT,
    LoggedQuestion,
    QuestionFilter,
    QuestionLog,
    _questions,
    _row,
    stamp,
)
from tests.conftest import serve_app

WIKI = "https://wiki.example.com"
ANSWERED = "What did TSMC decide?"
REFUSED = "What did Samsung decide about the Zanzibar ferry?"
SECRET = "What is the secret pay rise of Quillmarsh's mayor?"  # refused; asked by the admin


@dataclass
class Served:
    url: str
    demo: gr.Blocks
    chain: QaChain
    data: Path
    keys: dict[str, str]

    def key(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture(scope="module")
def served(chain: QaChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app with the chat over the default corpus, in a data dir of its own: reader keys
    alice and bob, admin key boss, a trusted proxy at 127.0.0.1 (its user ``ceo`` an admin,
    anyone else it names a reader) and anonymous widget readers from the wiki."""
    data = tmp_path_factory.mktemp("faces-data")
    settings = chain.settings.updated(
        store={"data_dir": data},
        server={
            "rate_limit": 100_000,
            "trusted_proxies": ["127.0.0.1"],
            "admins": ["ceo"],
            "anonymous_widget": True,
            "allowed_origins": [WIKI],
        },
    )
    store = KeyStore(data / "keys.json")
    keys = {name: store.add(name, role) for name, role in [("alice", "reader"), ("bob", "reader")]}
    keys["boss"] = store.add("boss", "admin")
    faces_chain = QaChain(chain.store, settings)
    demo = build_ui(faces_chain)
    url, server = serve_app(create_app(faces_chain, demo))
    served = Served(url, demo, faces_chain, data, keys)
    asked = httpx.post(f"{url}/api/ask", json={"question": SECRET}, headers=served.key("boss"))
    assert asked.status_code == 200 and asked.json()["refused"]
    yield served
    server.should_exit = True


# Who may be asking, as headers: a reader key, a user a trusted proxy names, an anonymous
# widget reader (the wiki's Origin), a wrong key, nobody.
READERS = {
    "reader key": {"authorization": "Bearer {alice}"},
    "proxy user": {"x-forwarded-user": "ann"},
    "anonymous widget": {"origin": WIKI},
    "wrong key": {"authorization": "Bearer qab_not-a-key"},
    "nobody": {},
}


def _as(served: Served, who: str) -> dict[str, str]:
    return {name: value.format(**served.keys) for name, value in READERS[who].items()}


def _secret(served: Served) -> LoggedQuestion:
    """The admin's logged question no one else may see."""
    log = served.chain.question_log
    return next(q for q in log.find(QuestionFilter(limit=MAX_LIMIT)) if q.question == SECRET)


def _stored(data: Path) -> bytes:
    """Every byte of the log's database files (the database, a journal or WAL if any)."""
    return b"".join(path.read_bytes() for path in data.glob("feedback.sqlite*"))


# ---- the JSON API --------------------------------------------------------------------------


@pytest.mark.parametrize("who", list(READERS))
def test_no_reader_reads_or_exports_the_log_at_any_address(served: Served, who: str) -> None:
    headers = _as(served, who)
    if who in ("reader key", "proxy user", "anonymous widget"):  # their own question is logged
        own = httpx.post(f"{served.url}/api/ask", json={"question": REFUSED}, headers=headers)
        assert own.status_code == 200 and own.json()["question_id"]
    secret = _secret(served)
    tries = [
        ("GET", "/api/questions"),
        ("GET", "/api/questions/"),
        ("GET", "/api/questions?limit=1000&refused=true"),
        ("GET", "/api/%71uestions"),  # percent-encoded: the same route
        ("GET", "/api//questions"),
        ("GET", "/API/questions"),
        ("GET", "/api/questions/../questions"),
        ("HEAD", "/api/questions"),
        ("OPTIONS", "/api/questions"),
        ("GET", "/api/questions/export"),
        ("GET", "/api/feedback"),
        ("GET", "/metrics"),
        ("GET", "/gradio_api/deep_link?session_hash=x"),
    ]
    for method, path in tries:
        response = httpx.request(method, served.url + path, headers=headers, timeout=30)
        assert response.status_code in (401, 403, 404, 405, 307), (who, method, path)
        assert SECRET not in response.text and secret.id not in response.text
    export = {"cases": [{"id": secret.id}]}
    response = httpx.post(f"{served.url}/api/questions/export", json=export, headers=headers)
    assert response.status_code in (401, 403) and SECRET not in response.text
    liked = {"rating": "down", "question": "?", "answer": "?", "question_id": secret.id}
    verdict = httpx.post(f"{served.url}/api/feedback", json=liked, headers=headers)
    assert verdict.status_code in (200, 401) and SECRET not in verdict.text
    if verdict.status_code == 200:
        assert verdict.json()["linked"] is False  # the admin's question is not theirs
    [kept] = served.chain.question_log.picked([secret.id])
    assert kept.rating is None


def test_a_proxy_admin_reads_the_log(served: Served) -> None:
    listed = httpx.get(f"{served.url}/api/questions", headers={"x-forwarded-user": "ceo"})
    assert listed.status_code == 200 and SECRET in listed.text


# ---- Gradio's own API -----------------------------------------------------------------------


def _payload(block: Any) -> Any:
    """What a page would send for one input: the component's example, else nothing."""
    try:
        return block.example_payload()
    except Exception:  # State, BrowserState and the like have none
        return None


def _call(
    url: str, headers: dict[str, str], fn_index: int, data: list[Any], session: str
) -> tuple[int, str]:
    """One event through Gradio's queue, as the page calls it: join, then read the session's
    stream until the event ends; the status of the join and everything streamed."""
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None}
    joined = httpx.post(f"{url}/gradio_api/queue/join", json=body, headers=headers, timeout=30)
    if joined.status_code != 200:
        return joined.status_code, joined.text
    lines: list[str] = []
    params = {"session_hash": session}
    try:
        with httpx.stream(
            "GET", f"{url}/gradio_api/queue/data", params=params, headers=headers, timeout=15
        ) as stream:
            for line in stream.iter_lines():
                lines.append(line)
                if "process_completed" in line or "close_stream" in line:
                    break
    except httpx.ReadTimeout:
        pass
    return joined.status_code, "\n".join(lines)


def test_every_gradio_function_called_by_a_reader_shows_no_logged_question(
    served: Served,
) -> None:
    """Each of the app's events (the Questions tab's, the private ones, the chat's), called
    directly by fn_index as a reader with what its inputs would hold: none returns the log."""
    info = httpx.get(f"{served.url}/gradio_api/info", headers=served.key("alice")).json()
    named = set(info["named_endpoints"])
    assert {"/questions", "/add_to_export", "/export_questions"} <= named
    secret_id = _secret(served).id
    refused = "Only an admin may read the question log"
    said_no = 0
    for fn_index, fn in served.demo.fns.items():
        data = [_payload(block) for block in fn.inputs]
        for who in ("reader key", "proxy user"):
            session = f"{who}-{fn_index}".replace(" ", "-")
            _, streamed = _call(served.url, _as(served, who), fn_index, data, session)
            assert SECRET not in streamed and secret_id not in streamed, (fn.name, who)
            said_no += refused in streamed
    assert said_no >= 2 * 4  # questions (button and tab), add_to_export, export_questions


def test_the_questions_functions_refuse_readers_with_hostile_values(served: Served) -> None:
    reader = Client(served.url, headers=served.key("alice"), verbose=False)
    refused = "⚠️ Only an admin may read the question log: ask an admin of this qa-bot."
    for since in ("9999999d", "' OR 1=1 --", "0001-01-01T00:00+01:00", "x" * 40):
        assert reader.predict(True, True, since, "%", api_name="/questions")[-1] == refused
    assert reader.predict([], "\u2028" * 10, api_name="/add_to_export")[-1] == refused
    assert reader.predict(api_name="/export_questions") == (None, refused)


def test_a_gradio_session_is_its_callers_own(served: Served) -> None:
    """Gradio keeps a session's values and streams its results by the session hash alone:
    another caller naming an admin's session gets a 403, never the admin's results."""
    show = next(i for i, fn in served.demo.fns.items() if fn.api_name == "questions")
    admin = served.key("boss")
    status, streamed = _call(served.url, admin, show, [True, False, "", ""], "boss-session")
    assert status == 200 and SECRET in streamed
    for who in ("reader key", "proxy user"):
        headers = _as(served, who)
        for method, path, body in [
            ("GET", "/gradio_api/queue/data?session_hash=boss-session", None),
            ("GET", "/gradio_api/heartbeat/boss-session", None),
            ("GET", "/gradio_api/deep_link?session_hash=boss-session", None),
            (
                "POST",
                "/gradio_api/queue/join",
                {"data": [True, False, "", ""], "fn_index": show, "session_hash": "boss-session"},
            ),
            ("POST", "/gradio_api/cancel", {"session_hash": "boss-session", "event_id": "x"}),
        ]:
            response = httpx.request(
                method, served.url + path, json=body, headers=headers, timeout=10
            )
            assert response.status_code in (403, 404), (who, path)
            assert SECRET not in response.text
    status, streamed = _call(served.url, admin, show, [True, False, "", ""], "boss-session")
    assert status == 200 and SECRET in streamed  # the admin's session still works


def test_gradio_keeps_no_run_history(served: Served) -> None:
    """Gradio's run history would keep every call's results in the browser and could send
    them to a Hub bucket: it is off, its page and routes gone."""
    for path in ("/gradio_api/runs", "/gradio_api/run-history/buckets"):
        response = httpx.get(served.url + path, headers=served.key("boss"))
        assert response.status_code == 404
    config = httpx.get(f"{served.url}/config", headers=served.key("alice")).json()
    assert config.get("run_history") is False


# ---- hostile filters and exports -----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        ({"since": "99999999d"}, "since must be a date such as 2025-01-31"),
        ({"since": "-7d"}, "since must be a date such as 2025-01-31"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since must be a date"),  # before year 1 in UTC
        ({"since": "9999-12-31T23:59:59-14:00"}, "since must be a date"),  # after year 9999
        ({"since": "٧d"}, "since must be a date"),  # an Arabic-Indic 7
        ({"since": "1d; DROP TABLE questions"}, "since must be a date"),
        (
            {"since": "\x1b[2J"},
            "since must be a date such as 2025-01-31 or an age such as 7d, "
            "12h or 2w (it was '?[2J').",
        ),
        ({"limit": "²"}, "limit must be a whole number from 1 (it was '²')."),
        ({"limit": "-1"}, "limit must be a whole number from 1"),
        ({"limit": "1e3"}, "limit must be a whole number from 1"),
        ({"limit": "0x10"}, "limit must be a whole number from 1"),
        ({"refused": "1"}, "refused must be true or false"),
        ({"rating": "DOWN"}, "rating must be up or down"),
        ({"source": "corpus\nuploads"}, "source must be a document or folder name, without"),
        ({"source": "corpus\x00"}, "source must be a document or folder name, without"),
        ({"limit'--": "1"}, "Unknown filter 'limit'--': use refused"),
    ],
)
def test_hostile_filters_are_one_sentence(
    served: Served, query: dict[str, str], sentence: str
) -> None:
    response = httpx.get(f"{served.url}/api/questions", params=query, headers=served.key("boss"))
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith(sentence) and "\n" not in detail and "Traceback" not in detail


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "9" * 5000},  # int() refuses past 4,300 digits: capped, not a 500
        {"limit": "0000000000000000000000000000000000000001"},
        {"since": "99999w"},  # 1,917 years: everything kept
        {"since": "0001-01-01"},
        {"since": "9999-12-31"},  # nothing
        {"source": "' OR '1'='1"},
        {"source": "%"},
        {"source": "_"},
        {"source": "x" * 3000},
        {"source": "文書/ドキュメント.md"},
        {"source": "\u202ecorpus"},
        {"refused": "true", "rating": "down", "since": "7d", "source": "corpus", "limit": "5"},
    ],
)
def test_odd_but_valid_filters_answer_without_error(served: Served, query: dict[str, str]) -> None:
    response = httpx.get(
        f"{served.url}/api/questions", params=query, headers=served.key("boss"), timeout=30
    )
    assert response.status_code == 200, response.text[:200]
    listed = response.json()
    assert isinstance(listed, list) and len(listed) <= MAX_LIMIT
    if "source" in query and query["source"] != "corpus":
        assert listed == []  # no wildcard, no injection: nothing cites such a document


def test_a_source_of_60000_characters_is_cut_and_matches_nothing(served: Served) -> None:
    response = httpx.get(
        f"{served.url}/api/questions",
        params={"source": "corpus" + "x" * 60_000},
        headers=served.key("boss"),
        timeout=30,
    )
    assert response.status_code == 200 and response.json() == []


HOSTILE_ANSWERS = [
    'He said "no".\nThen: {"id": "evil", "question": "x", "answerable": true}',
    '"}\n{"id":"injected","question":"q","answerable":false}\n//',
    "Line one\u2028line two\u2029line three\x85four\r\nfive\x0bsix\x1cseven",
    '\\u0000 \\n \\" backslashes stay backslashes',
    "<script>alert(1)</script> {{template}} ${shell} `tick`",
    "👍🏽 نعم 是的 ✓",
    "x" * 4000,
]


def test_hostile_expected_answers_export_as_one_case_each(served: Served, tmp_path: Path) -> None:
    """Each expected answer comes back from the file byte for byte (stripped), one case a
    line, however it tries to break JSON or the lines; a question with a Unicode line
    separator, asked by a reader, is exported as one case too."""
    asked = httpx.post(
        f"{served.url}/api/ask",
        json={"question": "What did\u2028Samsung decide\u2029 about ferries?"},
        headers=served.key("alice"),
    ).json()
    assert asked["refused"]
    picks = [{"id": asked["question_id"], "expected": answer} for answer in HOSTILE_ANSWERS]
    admin = served.key("boss")
    for pick in picks:
        response = httpx.post(
            f"{served.url}/api/questions/export", json={"cases": [pick]}, headers=admin
        )
        assert response.status_code == 200
        dataset = tmp_path / "cases.jsonl"
        dataset.write_bytes(response.content)
        assert response.text.count("\n") == 1  # one line: one case
        [case] = load_jsonl(dataset)
        assert case.reference == pick["expected"].strip() and case.id == f"log-{pick['id']}"
        assert case.question == "What did\u2028Samsung decide\u2029 about ferries?"
    unanswerable = [{"id": asked["question_id"]}]
    response = httpx.post(
        f"{served.url}/api/questions/export", json={"cases": unanswerable}, headers=admin
    )
    (tmp_path / "refused.jsonl").write_bytes(response.content)
    [case] = load_jsonl(tmp_path / "refused.jsonl")
    assert case.answerable is False and "\u2028" in case.question


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"cases": [{"id": "x", "expected": "y" * 4001}]}, 422),  # over MAX_TEXT
        ({"cases": [{"id": "x" * 65}]}, 422),
        ({"cases": [{"id": "a"}] * 1001}, 422),  # over MAX_LIMIT
        ({"cases": []}, 422),
        ({"cases": [{"id": "' OR 1=1 --", "expected": "x"}]}, 400),  # no such question
        ({"cases": [{"id": "x", "expected": "y" * 4000}] * 70}, 413),  # over the body limit
        ({"cases": "all"}, 422),
    ],
)
def test_oversize_or_odd_exports_are_refused(
    served: Served, body: dict[str, Any], status: int
) -> None:
    response = httpx.post(
        f"{served.url}/api/questions/export", json=body, headers=served.key("boss"), timeout=30
    )
    assert response.status_code == status
    assert "Traceback" not in response.text and len(response.text) < 2000


# ---- bounds, credentials, retention, the off switch ----------------------------------------


def test_a_listing_holds_at_most_a_thousand_questions(served: Served) -> None:
    log = served.chain.question_log
    now = datetime.now(UTC)
    rows = [
        LoggedQuestion(
            id=f"bulk{n:06d}",
            created=stamp(now - timedelta(seconds=n)),
            asker="alice",
            question=f"Bulk question {n}?",
            answer="A.",
            refused=False,
            latency_ms=1,
            answerer="extractive",
        )
        for n in range(1500)
    ]
    with log.engine.begin() as db:  # in one transaction: 1,500 rows in a blink
        db.execute(_questions.insert(), [_row(row) for row in rows])
    admin = served.key("boss")
    everything = httpx.get(f"{served.url}/api/questions?limit=1000000", headers=admin).json()
    assert len(everything) == MAX_LIMIT
    assert len(httpx.get(f"{served.url}/api/questions", headers=admin).json()) == 100
    tab = Client(served.url, headers=admin, verbose=False)
    table, _, said = tab.predict(False, False, "", "", api_name="/questions")
    assert said.startswith("100 questions") and len(table["data"]) == 100
    with log.engine.begin() as db:
        db.execute(_questions.delete().where(_questions.c.id.like("bulk%")))


def test_no_key_cookie_or_header_lands_in_the_database(served: Served) -> None:
    alice = served.keys["alice"]
    login = httpx.post(f"{served.url}/login", data={"key": alice}, follow_redirects=False)
    cookie = login.cookies["qa_bot_session"]
    odd = {"x-api-key": "qab_header-secret", "x-forwarded-email": "ann@example.com"}
    calls = [
        ({"authorization": f"Bearer {alice}", **odd}, "/api/ask"),
        ({"cookie": f"qa_bot_session={cookie}", "origin": served.url}, "/api/chat"),
        ({"x-forwarded-user": "ann", "authorization-extra": "Basic dXNlcjpwdw=="}, "/api/ask"),
        ({"origin": WIKI, "cookie": "tracker=qab_cookie-secret"}, "/api/chat"),
    ]
    for headers, path in calls:
        response = httpx.post(
            served.url + path, json={"question": ANSWERED}, headers=headers, timeout=60
        )
        assert response.status_code == 200
        ids = [line for line in response.text.splitlines() if "question_id" in line]
        assert ids
    verdict = {"rating": "up", "question": ANSWERED, "answer": "x", "comment": "fine"}
    httpx.post(
        f"{served.url}/api/feedback", json=verdict, headers={"authorization": f"Bearer {alice}"}
    )
    chat = Client(served.url, headers={"authorization": f"Bearer {alice}"}, verbose=False)
    assert "opted out" in chat.predict(ANSWERED, 5, "extractive", api_name="/chat")
    stored = _stored(served.data)
    assert ANSWERED.encode() in stored  # the log is there ...
    secret = (served.data / "session-secret").read_bytes()
    for leaked in (
        alice.encode(),
        served.keys["boss"].encode(),
        cookie.encode(),
        cookie.split(".")[0].encode(),
        b"Bearer",
        b"qab_",
        b"dXNlcjpwdw==",
        b"ann@example.com",
        b"127.0.0.1",
        secret,
    ):
        assert leaked not in stored  # ... never how anyone signed in, nor from where
    askers = {q.asker for q in served.chain.question_log.find(QuestionFilter(limit=1000))}
    assert {"alice", "ann", "anonymous", "boss"} <= askers


def test_retention_deletes_old_questions_and_their_verdicts(served: Served) -> None:
    """A question past the retention, and the verdict that rated it, are deleted when a
    server starts on the database; until then they are never listed, exported or rated."""
    log = served.chain.question_log
    old = LoggedQuestion(
        id="0ld0ld0ld0ld",
        created=stamp(datetime.now(UTC) - timedelta(days=31)),
        asker="alice",
        question="An old question about Quillmarsh?",
        answer="A.",
        refused=True,
        latency_ms=1,
        answerer="extractive",
    )
    log.add(old)
    with log.engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO feedback (created, rating, question, answer, citations, question_id)"
                " VALUES (:created, 'down', :q, 'A.', '[]', :id)"
            ),
            {"created": old.created, "q": old.question, "id": old.id},
        )
    admin = served.key("boss")
    assert old.question not in httpx.get(f"{served.url}/api/questions", headers=admin).text
    export = httpx.post(
        f"{served.url}/api/questions/export", json={"cases": [{"id": old.id}]}, headers=admin
    )
    assert export.status_code == 400 and "kept 30 days" in export.json()["detail"]
    verdict = {"rating": "up", "question": "q", "answer": "a", "question_id": old.id}
    rated = httpx.post(f"{served.url}/api/feedback", json=verdict, headers=served.key("alice"))
    assert rated.json()["linked"] is False
    assert old.question.encode() in _stored(served.data)  # still there: nobody swept yet
    _, server = serve_app(create_app(QaChain(served.chain.store, served.chain.settings)))
    server.should_exit = True
    with sqlite3.connect(served.data / "feedback.sqlite") as db:
        questions = "SELECT count(*) FROM questions WHERE id = ?"
        verdicts = "SELECT count(*) FROM feedback WHERE question_id = ?"
        assert db.execute(questions, (old.id,)).fetchone() == (0,)
        assert db.execute(verdicts, (old.id,)).fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM questions").fetchone()[0] > 0  # the rest stays
    assert old.question.encode() not in _stored(served.data)  # overwritten, not just unlinked


def test_the_off_switch_logs_nothing_on_any_face(chain: QaChain, tmp_path: Path) -> None:
    settings = chain.settings.updated(
        store={"data_dir": tmp_path}, server={"question_log": False, "rate_limit": 100_000}
    )
    key = KeyStore(tmp_path / "keys.json").add("alice", "reader")
    off = QaChain(chain.store, settings)
    url, server = serve_app(create_app(off, build_ui(off)))
    headers = {"authorization": f"Bearer {key}"}
    try:
        asked = httpx.post(f"{url}/api/ask", json={"question": ANSWERED}, headers=headers).json()
        streamed = httpx.post(f"{url}/api/chat", json={"question": REFUSED}, headers=headers)
        messages = [{"role": "user", "content": ANSWERED}]
        completion = httpx.post(
            f"{url}/v1/chat/completions", json={"messages": messages}, headers=headers, timeout=60
        )
        chat = Client(url, headers=headers, verbose=False)
        assert "opted out" in chat.predict(ANSWERED, 5, "extractive", api_name="/chat")
        assert asked["question_id"] is None and '"question_id":null' in streamed.text
        assert completion.status_code == 200
        verdict = {"rating": "down", "question": "q", "answer": "a", "question_id": "abc"}
        rated = httpx.post(f"{url}/api/feedback", json=verdict, headers=headers).json()
        assert rated["linked"] is False
    finally:
        server.should_exit = True
    with sqlite3.connect(tmp_path / "feedback.sqlite") as db:
        assert db.execute("SELECT count(*) FROM questions").fetchone() == (0,)
        assert db.execute("SELECT question_id FROM feedback").fetchall() == [(None,)]


# ---- feedback names its question -----------------------------------------------------------


def test_a_verdict_rates_exactly_its_own_question_by_id(served: Served) -> None:
    """The same question asked twice gets the same answer: a thumbs down on the second rates
    the second only, the feedback row names it and holds the log's texts, not the client's;
    anyone else's verdict on it is kept without an id."""
    question = "What did TSMC decide about Son's plans?"
    alice = served.key("alice")
    first, second = (
        httpx.post(f"{served.url}/api/ask", json={"question": question}, headers=alice).json()
        for _ in range(2)
    )
    assert first["answer"] == second["answer"] and first["question_id"] != second["question_id"]
    forged = {"rating": "down", "question": "forged", "answer": "forged"}
    own = httpx.post(
        f"{served.url}/api/feedback",
        json=forged | {"question_id": second["question_id"]},
        headers=alice,
    )
    stranger = httpx.post(
        f"{served.url}/api/feedback",
        json=forged | {"question_id": first["question_id"]},
        headers=served.key("bob"),
    )
    assert own.json()["linked"] is True and stranger.json()["linked"] is False
    admin = served.key("boss")
    down = httpx.get(f"{served.url}/api/questions?rating=down", headers=admin).json()
    assert second["question_id"] in {q["id"] for q in down}
    assert first["question_id"] not in {q["id"] for q in down}
    verdicts = httpx.get(f"{served.url}/api/feedback", headers=admin).json()
    mine = [v for v in verdicts if v["question_id"] == second["question_id"]]
    assert [(v["question"], v["answer"]) for v in mine] == [(question, second["answer"])]
    assert verdicts[-1]["question_id"] is None and verdicts[-1]["question"] == "forged"


def test_the_feedback_listing_is_bounded(served: Served) -> None:
    store = FeedbackStore.beside(served.chain.settings)
    with store.engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO feedback (created, rating, question, answer, citations) "
                "VALUES (:c, 'up', :q, 'a', '[]')"
            ),
            [{"c": stamp(datetime.now(UTC)), "q": f"bulk {n}"} for n in range(1200)],
        )
    listed = httpx.get(f"{served.url}/api/feedback", headers=served.key("boss")).json()
    assert len(listed) == 1000 and listed[-1]["question"] == "bulk 1199"  # the newest, in order
    with store.engine.begin() as db:
        db.execute(text("DELETE FROM feedback WHERE question LIKE 'bulk %'"))


def _old_feedback_table(url: str) -> None:
    """The feedback table as qa-bot made it before verdicts named their question."""
    old = MetaData()
    table = Table(
        "feedback",
        old,
        Column("id", Integer, primary_key=True),
        *(Column(name, Text) for name in ("created", "rating", "question", "answer")),
        *(Column(name, Text) for name in ("citations", "comment")),
    )
    engine = create_engine(url)
    old.drop_all(engine)
    old.create_all(engine)
    with engine.begin() as db:
        db.execute(
            table.insert().values(
                created="2025-01-01T00:00:00+00:00",
                rating="down",
                question="Old?",
                answer="Old.",
                citations="[]",
            )
        )
    engine.dispose()


def _database_of_its_own(postgres_url: str) -> str:
    """A new database on the session's PostgreSQL server, so no other test's rows count."""
    name = f"faces_{int(time.time() * 1000)}"
    server = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with server.connect() as db:
        db.execute(text(f"CREATE DATABASE {name}"))
    server.dispose()
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


def test_a_feedback_table_from_before_gets_its_question_id(tmp_path: Path) -> None:
    _migrates(f"sqlite:///{tmp_path / 'feedback.sqlite'}")


def test_a_feedback_table_from_before_gets_its_question_id_in_postgres(
    postgres_url: str,
) -> None:
    _migrates(_database_of_its_own(postgres_url))


def _migrates(url: str) -> None:
    """An old feedback table gains ``question_id``; its rows stay, unlinked, after a sweep
    that deletes an expired question and its verdict."""
    _old_feedback_table(url)
    log = QuestionLog(url, days=30)  # opens the feedback table beside it, twice: no harm
    FeedbackStore(url)
    [old] = log.feedback.all()
    assert (old.question, old.question_id) == ("Old?", None)
    new = "n3wn3wn3wn3w"
    log.add(
        LoggedQuestion(
            id=new,
            asker="alice",
            question="New?",
            answer="A.",
            refused=False,
            latency_ms=1,
            answerer="extractive",
        )
    )
    assert log.rate(new, "alice", "down")
    log.feedback.add(Feedback(rating="down", question="New?", answer="A.", question_id=new))
    assert [f.question_id for f in log.feedback.all()] == [None, new]
    assert log.sweep(now=datetime.now(UTC) + timedelta(days=31)) == 1
    assert [f.question for f in log.feedback.all()] == ["Old?"]  # unlinked verdicts stay


# ---- the Questions tab's exports -----------------------------------------------------------


def _exports() -> list[Path]:
    return sorted(exports_folder().glob("*/*.jsonl")) if exports_folder().is_dir() else []


def test_exports_are_replaced_cleared_and_for_admins_only(served: Served) -> None:
    before = set(_exports())
    admin = Client(served.url, headers=served.key("boss"), verbose=False)
    admin.predict(True, False, "", "", api_name="/questions")
    ids = [q.id for q in served.chain.question_log.find(QuestionFilter(refused=True, limit=2))]
    admin.predict(ids, "", api_name="/add_to_export")
    made = []
    for _ in range(3):
        downloaded, said = admin.predict(api_name="/export_questions")
        assert said == "Exported 2 cases." and Path(downloaded).read_text().count("\n") == 2
        made.append(set(_exports()) - before)
    assert all(len(now) == 1 for now in made) and len(made[0] | made[1] | made[2]) == 3
    [current] = made[-1]
    assert EXPORTS in str(current)
    url = f"{served.url}/gradio_api/file={current}"
    assert httpx.get(url, headers=served.key("boss")).status_code == 200
    for who in ("reader key", "proxy user", "anonymous widget", "nobody"):
        response = httpx.get(url, headers=_as(served, who))
        assert response.status_code in (401, 403) and "log-" not in response.text
        old = f"{served.url}/gradio_api/file/{current}"  # Gradio's other address for files
        assert httpx.get(old, headers=_as(served, who)).status_code in (401, 403)
    clear = next(i for i, fn in served.demo.fns.items() if fn.name == "on_clear")
    status, _ = _call(served.url, served.key("boss"), clear, [None], admin.session_hash)
    assert status == 200
    deadline = time.monotonic() + 10
    while set(_exports()) - before:
        assert time.monotonic() < deadline, "Start over left the export behind"
        time.sleep(0.2)


def test_old_or_too_many_exports_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    folder = ui.exports_folder()
    for n in range(ui.MAX_EXPORTS + 5):
        (folder / f"e{n:02d}").mkdir(parents=True)
        (folder / f"e{n:02d}" / "qa-bot-questions.jsonl").write_text("{}\n")
    now = time.time()
    for n in range(ui.MAX_EXPORTS + 5):
        os.utime(folder / f"e{n:02d}", (now - n, now - n))  # e00 the newest
    os.utime(folder / "e01", (now - ui.EXPORT_SECONDS - 1,) * 2)  # expired
    ui.sweep_exports(now)
    kept = sorted(p.name for p in folder.iterdir())
    assert "e01" not in kept and len(kept) == ui.MAX_EXPORTS - 1 and kept[0] == "e00"
    ui.discard_export(str(folder / "e00" / "qa-bot-questions.jsonl"))
    ui.discard_export(str(tmp_path / "elsewhere" / "x.jsonl"))  # not an export: left alone
    ui.discard_export("/etc/passwd")
    assert not (folder / "e00").exists() and Path("/etc/passwd").exists()


# ---- in the browser ------------------------------------------------------------------------


def _signed_in(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Access key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("tab", name="Documents")).to_be_visible(timeout=30_000)


def _ask(page: Page, question: str, answers: int) -> None:
    box = page.get_by_role("textbox").first
    box.fill(question)
    box.press("Enter")
    bots = page.locator('[aria-label^="bot\'s message"]')
    expect(bots).to_have_count(answers, timeout=30_000)
    expect(bots.last).to_contain_text("opted out", timeout=30_000)


QUESTION_IN_CHAT = "Which company opted out of Son's plans?"


def test_a_dislike_in_the_chat_rates_the_question_it_was_given_to(
    served: Served, browser: Browser
) -> None:
    """Two identical answers to the same question: the dislike on the first rates the first
    logged question, by the id the answer carries (invisibly), not by its text."""
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    _signed_in(page, served.url, served.keys["bob"])
    _ask(page, QUESTION_IN_CHAT, 1)
    _ask(page, QUESTION_IN_CHAT, 2)
    bots = page.locator('[aria-label^="bot\'s message"]')
    assert bots.first.inner_text() == bots.last.inner_text()  # the same answer, twice
    log = served.chain.question_log
    second, first = [q for q in log.find(QuestionFilter(limit=1000)) if q.asker == "bob"][:2]
    shown = bots.first.inner_text() + bots.last.inner_text()
    assert "<!--" not in shown and first.id not in shown and second.id not in shown
    assert first.question == second.question == QUESTION_IN_CHAT
    page.get_by_role("button", name="Dislike").first.click()
    deadline = time.monotonic() + 10
    while log.picked([first.id])[0].rating != "down":
        assert time.monotonic() < deadline, "the dislike never reached the first question"
        time.sleep(0.2)
    assert log.picked([second.id])[0].rating is None
    page.close()
