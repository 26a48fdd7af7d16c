"""Sources visible only to their groups, on the unit tier: the rule, the restrictions table and
its migration, groups carried by keys, logins and a trusted proxy, and the chain and the app (in
process) over a real index in which one source, ``hr``, is restricted to the group ``hr``: an
outsider's question that only that source answers is refused everywhere with nothing leaked,
a member's is answered. The same over real HTTP, Gradio and Chromium: tests/test_groups.py."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import HTTPConnection

from qa_bot.chain import QaChain
from qa_bot.errors import CorpusError, QaBotError
from qa_bot.ingest import ingest
from qa_bot.ingest.knowledge import KnowledgeBase
from qa_bot.server.access import AccessPolicy, Principal, readable_groups
from qa_bot.server.app import create_app
from qa_bot.storage.keys import KeyStore
from qa_bot.storage.questions import QuestionFilter
from qa_bot.storage.restrictions import (
    GroupError,
    SourceGroups,
    lenient_groups,
    parse_groups,
    readable_documents,
)
from qa_bot.storage.store import Store
from qa_bot.text import sentence_spans
from tests.conftest import REPO, write_folder
from tests.unit.conftest import unit_settings

SECRET = "The Zephyr budget is 4.2 million kroner."
ZEPHYR = (
    "Project Zephyr replaces the payroll system of the company. "
    f"{SECRET} The board approved Zephyr in March after a long debate.\n"
)
ASKED = "What is the Zephyr budget?"
DOCUMENT = "hr/zephyr.txt"
LEAKS = ("4.2 million", "kroner", DOCUMENT, "zephyr.txt", "payroll")
"""What an outsider must never see: the fact, the document's name, its other words."""
OPEN_QUESTION = "How much did Japan pledge?"


def _hidden_from(text: str, chunk_ids: list[str]) -> None:
    """Nothing of the restricted document in ``text``: no words of it, no name, no chunk id."""
    for leak in (*LEAKS, *chunk_ids):
        assert leak not in text, leak


def _knowledge(data: Path, tmp: Path) -> Store:
    """The default corpus and an ``hr`` folder holding the Zephyr fact, ingested."""
    store = Store.open(unit_settings(data))
    ingest(store, REPO / "corpus")
    ingest(store, write_folder(tmp / "hr", {"zephyr.txt": ZEPHYR}))
    return store


@pytest.fixture(scope="module")
def restricted(tmp_path_factory: pytest.TempPathFactory) -> QaChain:
    """The chain over that index, ``hr`` restricted to the group hr."""
    root = tmp_path_factory.mktemp("groups")
    store = _knowledge(root / "data", root)
    KnowledgeBase(store).restrict("hr", frozenset({"hr"}))
    return QaChain(store)


def _zephyr_ids(chain: QaChain) -> list[str]:
    ids = [c.id or "" for c in chain.store.chunks(DOCUMENT)]
    assert ids
    return ids


# ---- the rule and its parts --------------------------------------------------------------


def test_group_names_are_checked() -> None:
    assert parse_groups("hr, finance,,") == {"hr", "finance"}
    assert parse_groups("") == parse_groups(" , ") == frozenset()
    assert parse_groups(["it-ops", "team_7"]) == {"it-ops", "team_7"}
    for wrong in ("HR", "h r", "hr:admin", "x" * 41, "é"):
        with pytest.raises(GroupError, match="is not a group name: use lower-case letters"):
            parse_groups(wrong)
    with pytest.raises(GroupError, match="At most 50 groups"):
        parse_groups([f"g{n}" for n in range(51)])
    # what a proxy sends is lower-cased; a name that breaks the rule is dropped, never widened
    assert lenient_groups(" HR, finance ,Domain Users,a:b,, ") == {"hr", "finance"}
    assert lenient_groups("") == frozenset()


def test_the_rule_hides_restricted_sources_and_documents_indexed_later() -> None:
    documents = ["corpus/a.txt", "hr/z.txt", "finance/f.txt", "uploads/u.txt"]
    restrictions = {"hr": frozenset({"hr"}), "finance": frozenset({"finance", "board"})}
    assert readable_documents(documents, restrictions, None) is None  # admins: all, always
    assert readable_documents(documents, {}, frozenset()) is None  # nothing restricted
    assert readable_documents(documents, restrictions, frozenset()) == [
        "corpus/a.txt",
        "uploads/u.txt",
    ]
    assert readable_documents(documents, restrictions, frozenset({"board"})) == [
        "corpus/a.txt",
        "finance/f.txt",
        "uploads/u.txt",
    ]
    everything = readable_documents(documents, restrictions, frozenset({"hr", "finance"}))
    assert everything is None  # nothing hidden from them
    # a list, not a filter by exclusion: a document indexed a moment later is not in it
    assert "corpus/new.txt" not in (readable_documents(documents, restrictions, frozenset()) or [])


def test_who_reads_what() -> None:
    assert readable_groups(None) == frozenset()  # nobody identified: the open sources only
    assert readable_groups(Principal("boss", "admin", "key", frozenset({"hr"}))) is None
    reader = Principal("ann", "reader", "proxy", frozenset({"hr", "finance"}))
    assert readable_groups(reader) == {"hr", "finance"}
    back = Principal.from_tag(reader.tag)  # how the Gradio app learns who asks
    assert back is not None and (back.name, back.role, back.groups) == (
        "ann",
        "reader",
        reader.groups,
    )
    colon = Principal.from_tag(Principal("a:b", "reader", "key").tag)
    assert colon is not None and colon.name == "a:b" and colon.groups == frozenset()
    assert Principal.from_tag("reader:ann") is None  # not a tag this app makes


def test_keys_carry_groups_and_old_keys_have_none(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    old = [{"name": "old", "role": "reader", "sha256": "0" * 64, "created": "2025-01-01"}]
    path.write_text(json.dumps(old))  # a keys.json from before groups
    keys = KeyStore(path)
    assert keys.all()[0].groups == []
    found = keys.find(keys.add("hana", "reader", frozenset({"hr", "finance"})))
    assert found is not None and found.groups == ["finance", "hr"]
    saved = json.loads(path.read_text())
    assert saved[0]["groups"] == [] and saved[0]["sha256"] == "0" * 64  # the old key kept
    with pytest.raises(QaBotError, match="Admins read every source: leave --groups out"):
        keys.add("boss", "admin", frozenset({"hr"}))


def _connection(peer: str, headers: dict[str, str], path: str = "/api/ask") -> HTTPConnection:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": "POST", "path": path, "headers": raw}
    scope |= {"client": (peer, 5000), "query_string": b"", "scheme": "http"}
    return HTTPConnection(scope | {"server": ("127.0.0.1", 7860)})


def test_keys_logins_and_a_trusted_proxy_name_the_callers_groups(
    restricted: QaChain, tmp_path: Path
) -> None:
    settings = restricted.settings.updated(server={"trusted_proxies": ["10.0.0.0/8"]})
    keys = KeyStore(tmp_path / "keys.json")
    key = keys.add("hana", "reader", frozenset({"hr"}))
    policy = AccessPolicy(settings.server, keys, tmp_path / "secret")
    by_key = policy.identify(_connection("127.0.0.1", {"authorization": f"Bearer {key}"}))
    assert by_key == Principal("hana", "reader", "key", frozenset({"hr"}))
    cookie = policy.session_cookie(key)
    assert cookie is not None
    logged_in = policy.identify(_connection("127.0.0.1", {"cookie": f"qa_bot_session={cookie}"}))
    assert logged_in is not None and logged_in.groups == {"hr"} and logged_in.via == "session"
    sso = {"x-forwarded-user": "ann", "x-forwarded-groups": "HR,Domain Users, finance"}
    proxied = policy.identify(_connection("10.1.2.3", sso))
    assert proxied == Principal("ann", "reader", "proxy", frozenset({"hr", "finance"}))
    assert policy.identify(_connection("192.0.2.9", sso)) is None  # forged from elsewhere
    custom = settings.updated(server={"proxy_groups_header": "X-Auth-Request-Groups"})
    other = AccessPolicy(custom.server, keys, tmp_path / "secret")
    renamed = {"x-forwarded-user": "ann", "x-auth-request-groups": "hr"}
    assert other.identify(_connection("10.1.2.3", renamed)) == Principal(
        "ann", "reader", "proxy", frozenset({"hr"})
    )
    assert other.identify(_connection("10.1.2.3", sso)) == Principal("ann", "reader", "proxy")


def test_restrictions_are_kept_beside_an_existing_catalog(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with closing(sqlite3.connect(data / "catalog.sqlite")) as db, db:  # a catalog from before
        db.execute("CREATE TABLE sources (name TEXT PRIMARY KEY, path TEXT UNIQUE NOT NULL)")
        db.execute("CREATE TABLE documents (name TEXT PRIMARY KEY, ingested_at TEXT NOT NULL)")
        db.execute("INSERT INTO sources VALUES ('hr', ?)", (str(tmp_path / "hr"),))
    write_folder(tmp_path / "hr", {"zephyr.txt": ZEPHYR})
    store = Store.open(unit_settings(data))
    knowledge = KnowledgeBase(store)
    assert [(s.name, s.groups) for s in knowledge.sources()] == [("hr", [])]
    assert knowledge.restrict("hr", frozenset({"hr", "board"})) == ["board", "hr"]
    assert [(s.name, s.groups) for s in KnowledgeBase(store).sources()] == [("hr", ["board", "hr"])]
    assert SourceGroups.beside(store.settings).of("hr") == {"hr", "board"}
    with pytest.raises(CorpusError, match=r"^No source called 'hs' \(sources: hr\)\.$"):
        knowledge.restrict("hs", frozenset({"hr"}))
    knowledge.restrict("hr", frozenset())
    assert SourceGroups.beside(store.settings).all() == {}


def test_a_source_another_replica_indexed_a_moment_ago_may_be_restricted(tmp_path: Path) -> None:
    """Replica b, asked to restrict a source replica a has just indexed (shared collection, b's
    BM25 index and catalog not there yet, b checked for changes under ``follow_seconds`` ago),
    looks again at once instead of saying there is no such source (tests/test_replicas.py
    failed so about one run in three)."""
    store = Store.open(unit_settings(tmp_path / "data", store={"follow_seconds": 3600}))
    ingest(store, write_folder(tmp_path / "vault", {"plan.txt": ZEPHYR}))
    with closing(sqlite3.connect(tmp_path / "data" / "catalog.sqlite")) as db, db:
        db.execute("DELETE FROM sources WHERE name = 'vault'")  # a's catalog, not b's
    ids = {c.id or "" for c in store.chunks("vault/plan.txt")}
    store._lexical.update([], ids)  # b's own BM25 index has not followed yet ...
    store._generation = "before a's ingest"  # ... and b last checked a moment ago
    store._checked = time.monotonic()
    assert "vault/plan.txt" not in store._lexical.documents()
    assert KnowledgeBase(store).restrict("vault", frozenset({"finance"})) == ["finance"]
    assert "vault/plan.txt" in store.documents()  # followed on the way
    with pytest.raises(CorpusError, match=r"^No source called 'vaults'"):
        KnowledgeBase(store).restrict("vaults", frozenset({"finance"}))


# ---- the chain: one choke point ----------------------------------------------------------


def test_an_outsider_is_refused_and_a_member_answered(restricted: QaChain) -> None:
    ids = _zephyr_ids(restricted)
    for outsider in (frozenset(), frozenset({"finance"})):
        traced = restricted.trace(ASKED, top_k=20, groups=outsider)
        assert traced["answer"].refused and not traced["answer"].citations
        assert not any(c.metadata["source"] == DOCUMENT for c in traced["chunks"])
        _hidden_from(traced["answer"].model_dump_json(), ids)
        streamed = list(restricted.stream(ASKED, groups=outsider))
        _hidden_from(json.dumps([str(p) for p in streamed]), ids)
        found = restricted.retrieve("Zephyr budget kroner payroll", top_k=20, groups=outsider)
        assert found and DOCUMENT not in {c.metadata["source"] for c in found}
    for member in (frozenset({"hr"}), frozenset({"finance", "hr"}), None):
        answer = restricted.ask(ASKED, groups=member)
        assert not answer.refused and "4.2 million kroner" in answer.answer
        assert answer.citations[0].source == DOCUMENT
    open_answer = restricted.ask(OPEN_QUESTION, groups=frozenset())  # the rest still answers
    assert not open_answer.refused and "$550 billion" in open_answer.answer


def test_an_outsiders_refusal_relates_only_passages_they_may_read(restricted: QaChain) -> None:
    answer = restricted.ask(ASKED, top_k=20, groups=frozenset())
    assert answer.refused and answer.related
    assert all(r.source != DOCUMENT for r in answer.related)
    _hidden_from(answer.model_dump_json(), _zephyr_ids(restricted))


def test_a_follow_up_never_reads_the_restricted_source(restricted: QaChain) -> None:
    history = [("What does Project Zephyr replace?", "The documents do not contain it.")]
    outsider = restricted.trace("Who approved it?", history, groups=frozenset())
    assert "Zephyr" in outsider["question"]  # rewritten from the caller's own history ...
    assert outsider["answer"].refused  # ... and still searched among the open sources only
    assert not any(c.metadata["source"] == DOCUMENT for c in outsider["chunks"])
    member = restricted.ask("Who approved it?", history, groups=frozenset({"hr"}))
    assert not member.refused and member.citations[0].source == DOCUMENT


def test_only_patterns_choose_among_the_readable_documents(restricted: QaChain) -> None:
    with pytest.raises(QaBotError) as hidden:
        restricted.ask(ASKED, only=["hr"], groups=frozenset())
    with pytest.raises(QaBotError) as missing:
        restricted.ask(ASKED, only=["nowhere"], groups=frozenset())
    assert str(hidden.value) == str(missing.value).replace("nowhere", "hr")  # the same sentence
    assert restricted.ask(ASKED, only=["hr"], groups=frozenset({"hr"})).citations
    empty = restricted.retriever.invoke(ASKED, only=[])  # no document: nothing, never all
    assert empty == []


def test_searches_filter_inside_the_query(restricted: QaChain) -> None:
    store = restricted.store
    readable = restricted.readable(frozenset())
    assert readable is not None and DOCUMENT not in readable and readable
    question = "Zephyr budget kroner payroll board"
    assert DOCUMENT in {d.metadata["source"] for d in store.keyword_search(question, 20)}
    keyword = store.keyword_search(question, 20, readable)
    assert DOCUMENT not in {d.metadata["source"] for d in keyword}
    vector = store.embeddings.embed_query(question)
    dense = store.dense_search(vector, 20, readable)
    assert dense and DOCUMENT not in {d.metadata["source"] for d, _ in dense}
    assert store.dense_search(vector, 20, []) == store.keyword_search(question, 20, []) == []
    assert restricted.retriever.invoke(question, within=[]) == []
    scores = store.keyword_scores(question, [d.id or "" for d in keyword])  # reranker's lookup
    assert set(scores) <= {d.id for d in keyword}


def test_the_sentence_cache_never_reads_a_restricted_chunk(tmp_path: Path) -> None:
    store = _knowledge(tmp_path / "data", tmp_path)
    KnowledgeBase(store).restrict("hr", frozenset({"hr"}))
    chain = QaChain(store)
    model = f"{store.settings.store.embedding_model}@{store.settings.store.runner}"
    text = ZEPHYR.strip()
    keys = [hashlib.sha256(span.text.encode()).hexdigest() for span in sentence_spans(text)]

    def cached() -> set[str]:
        with closing(sqlite3.connect(tmp_path / "data" / "sentence-vectors.sqlite")) as db:
            rows = db.execute("SELECT key FROM vectors WHERE model = ?", (model,)).fetchall()
        return {key for (key,) in rows}

    chain.ask(ASKED, groups=frozenset())
    chain.ask("Who approved Zephyr in March?", groups=frozenset({"finance"}))
    assert cached() and not cached() & set(keys)  # sentences were cached, none of hr's
    chain.ask(ASKED, groups=frozenset({"hr"}))
    assert cached() & set(keys)  # a member's question reads them


# ---- the app, in process: every face ----------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The app over that index, made again in a data dir of its own (a test changes the
    restrictions), ``hr`` restricted to the group hr, with keys: hana (a reader in hr), otto
    (a reader in no group), fin (a reader in finance), boss (admin)."""
    store = _knowledge(tmp_path / "data", tmp_path)
    KnowledgeBase(store).restrict("hr", frozenset({"hr"}))
    settings = store.settings
    keys = KeyStore(settings.data_path / "keys.json")
    made = {
        "hana": keys.add("hana", "reader", frozenset({"hr"})),
        "otto": keys.add("otto", "reader"),
        "fin": keys.add("fin", "reader", frozenset({"finance"})),
        "boss": keys.add("boss", "admin"),
    }
    chain = QaChain(store)
    with TestClient(create_app(chain), base_url="http://127.0.0.1") as client:
        yield {"client": client, "keys": made, "chain": chain, "ids": _zephyr_ids(chain)}


def _as(app: dict[str, Any], who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {app['keys'][who]}"}


def _asked(app: dict[str, Any], who: str) -> list[str]:
    """The question asked through /api/ask, /api/chat and /v1 (whole and streamed): each
    reply's text."""
    client, headers = app["client"], _as(app, who)
    body = {"question": ASKED, "top_k": 20}
    messages = {"messages": [{"role": "user", "content": ASKED}], "top_k": 20}
    replies = [
        client.post("/api/ask", json=body, headers=headers),
        client.post("/api/chat", json=body, headers=headers),
        client.post("/v1/chat/completions", json=messages, headers=headers),
        client.post("/v1/chat/completions", json=messages | {"stream": True}, headers=headers),
    ]
    assert [r.status_code for r in replies] == [200] * 4
    return [r.text for r in replies]


def test_every_asking_face_refuses_outsiders_and_answers_members(app: dict[str, Any]) -> None:
    for outsider in ("otto", "fin"):
        for text in _asked(app, outsider):
            assert "The documents do not contain an answer" in text
            _hidden_from(text, app["ids"])
    for member in ("hana", "boss"):
        for text in _asked(app, member):
            assert "4.2 million kroner" in text and DOCUMENT in text
    log = app["chain"].question_log.find(QuestionFilter())
    outsiders = [q for q in log if q.asker in ("otto", "fin")]
    assert len(outsiders) == 8 and all(q.refused and not q.citations for q in outsiders)
    _hidden_from(json.dumps([q.answer for q in outsiders]), app["ids"])
    members = [q for q in log if q.asker in ("hana", "boss")]
    assert all(q.sources == [DOCUMENT] for q in members)  # admins read what members got


def test_the_viewer_is_the_same_404_for_a_hidden_chunk(app: dict[str, Any]) -> None:
    client, [chunk_id, *_] = app["client"], app["ids"]
    missing = client.get("/api/sources/no-such-chunk", headers=_as(app, "otto"))
    assert missing.status_code == 404
    for path in (f"/api/sources/{chunk_id}", f"/sources/{chunk_id}"):
        hidden = client.get(path, headers=_as(app, "otto"))
        assert (hidden.status_code, hidden.json()) == (404, missing.json())
        _hidden_from(hidden.text, [])
        for member in ("hana", "boss"):
            shown = client.get(path, headers=_as(app, member))
            assert shown.status_code == 200 and "4.2 million kroner" in shown.text


def test_the_document_list_and_healthz_count_what_the_caller_reads(app: dict[str, Any]) -> None:
    client, store = app["client"], app["chain"].store
    listed = {
        who: client.get("/api/documents", headers=_as(app, who)).json() for who in app["keys"]
    }
    names = {who: {d["name"] for d in documents} for who, documents in listed.items()}
    assert names["otto"] == names["fin"] == store.documents() - {DOCUMENT}
    assert names["hana"] == names["boss"] == store.documents()
    _hidden_from(json.dumps(listed["otto"]), app["ids"])
    health = {who: client.get("/healthz", headers=_as(app, who)).json() for who in app["keys"]}
    hidden_chunks = len(app["ids"])
    assert health["boss"]["chunks"] == health["hana"]["chunks"] == store.count()
    assert health["otto"]["chunks"] == store.count() - hidden_chunks
    assert health["otto"]["documents"] == health["boss"]["documents"] - 1
    assert client.get("/healthz").json() == {"status": "ok"}  # nobody: liveness only


def test_admins_restrict_sources_over_http(app: dict[str, Any]) -> None:
    client, admin = app["client"], _as(app, "boss")
    refused = client.put("/api/knowledge/hr/groups", json={"groups": []}, headers=_as(app, "hana"))
    assert refused.status_code == 403
    sources = client.get("/api/knowledge", headers=admin).json()
    assert {s["name"]: s["groups"] for s in sources}["hr"] == ["hr"]
    bad = client.put("/api/knowledge/hr/groups", json={"groups": ["Finance!"]}, headers=admin)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("'Finance!' is not a group")
    unknown = client.put("/api/knowledge/nope/groups", json={"groups": ["hr"]}, headers=admin)
    assert unknown.status_code == 409 and unknown.json()["detail"].startswith(
        "No source called 'nope' (sources: "
    )
    opened = client.put("/api/knowledge/hr/groups", json={"groups": []}, headers=admin)
    assert opened.json() == {"source": "hr", "groups": []}
    assert "4.2 million kroner" in _asked(app, "otto")[0]  # at once, for everyone
    closed = client.put("/api/knowledge/hr/groups", json={"groups": ["finance"]}, headers=admin)
    assert closed.json() == {"source": "hr", "groups": ["finance"]}
    assert "4.2 million kroner" in _asked(app, "fin")[0]
    _hidden_from(_asked(app, "hana")[0], app["ids"])  # hr no longer reads it


def test_anonymous_widget_readers_read_open_sources_only(app: dict[str, Any]) -> None:
    chain: QaChain = app["chain"]
    settings = chain.settings.updated(server={"anonymous_widget": True, "api_key": "qab_admin"})
    with TestClient(create_app(QaChain(chain.store, settings)), base_url="http://127.0.0.1") as c:
        secret = c.post("/api/ask", json={"question": ASKED})
        assert secret.status_code == 200 and secret.json()["refused"]
        _hidden_from(secret.text, app["ids"])
        chat = c.post("/api/chat", json={"question": ASKED})
        assert "event: answer" in chat.text
        _hidden_from(chat.text, app["ids"])
        assert c.get(f"/api/sources/{app['ids'][0]}").status_code == 404
        assert not c.post("/api/ask", json={"question": OPEN_QUESTION}).json()["refused"]


def test_the_chat_app_offers_restricting_to_admins_only(app: dict[str, Any]) -> None:
    from qa_bot.server.ui import build_ui

    demo = build_ui(app["chain"])
    names = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert {"chat", "restrict_source", "add_documents"} <= names
    client = TestClient(create_app(app["chain"], demo), base_url="http://127.0.0.1")
    info = client.get("/gradio_api/info", headers=_as(app, "otto")).json()
    assert "/restrict_source" in info["named_endpoints"]  # reachable: it checks for an admin
