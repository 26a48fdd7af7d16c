"""Sources visible only to their groups, through the real server (uvicorn, the real model):
the source ``hr`` holds one fact no other document has and is restricted to the group hr.
Outsiders (a key in no group, a proxy user in another group, an anonymous widget reader) ask
for it through every face (/api/ask, /api/chat, /v1 with the official client, the Gradio
chat's API, the chat and the widget in Chromium, the viewer by chunk id, the document list,
/healthz) and get a refusal or a 404 with nothing of it; members (a key in hr, a proxy user
whose groups header names hr, an admin) get the answer. The CLI's `sources restrict` and
`keys add --groups` are in tests/test_cli_admin.py; the same rules in process, with the
sentence cache, in tests/unit/test_groups.py."""

from __future__ import annotations

import functools
import http.server
import json
import secrets
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client
from langchain_core.embeddings import Embeddings
from openai import OpenAI
from playwright.sync_api import Browser, Page, expect

from qa_bot.chain import QaChain
from qa_bot.config import Settings
from qa_bot.ingest import ingest
from qa_bot.server.app import create_app
from qa_bot.server.ui import build_ui
from qa_bot.storage.keys import KeyStore
from qa_bot.storage.store import Store
from tests.conftest import (
    ARTIFACTS,
    REPO,
    ask_widget,
    free_port,
    serve_app,
    widget_snippet,
    write_folder,
)

ZEPHYR = (
    "Project Zephyr replaces the payroll system of the company. "
    "The Zephyr budget is 4.2 million kroner. "
    "The board approved Project Zephyr in March after a long debate.\n"
)
ASKED = "What is the Zephyr budget?"
ANSWER = "4.2 million kroner"
DOCUMENT = "hr/zephyr.txt"
LEAKS = ("4.2 million", "kroner", DOCUMENT, "zephyr.txt", "payroll")
OPEN_QUESTION = "What did TSMC decide?"
REFUSAL = "The documents do not contain an answer to this question."
MISSING = "This source is no longer in the index (it was re-ingested or removed): ask again."


def _hidden(text: str, chunk_ids: list[str]) -> None:
    """Nothing of the restricted document in ``text``: its words, its name, its chunk ids."""
    for leak in (*LEAKS, *chunk_ids):
        assert leak not in text, leak


@pytest.fixture(scope="module")
def wiki_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def grouped(
    tmp_path_factory: pytest.TempPathFactory, embeddings: Embeddings, wiki_port: int
) -> Iterator[dict[str, Any]]:
    """The whole app over the default corpus and ``hr``, restricted by an admin over HTTP; keys
    hana (a reader in hr), otto (a reader in no group), boss (admin); a trusted proxy at
    127.0.0.1 whose admin is ceo; anonymous widget readers from the wiki's origin."""
    root = tmp_path_factory.mktemp("groups")
    shutil.copytree(REPO / "corpus", root / "corpus")
    wiki = f"http://127.0.0.1:{wiki_port}"
    settings = Settings().updated(
        store={"data_dir": root / "data"},
        server={
            "trusted_proxies": ["127.0.0.1"],
            "admins": ["ceo"],
            "anonymous_widget": True,
            "allowed_origins": [wiki],
            "rate_limit": 100_000,
        },
    )
    store = Store.open(settings, embeddings)
    ingest(store, root / "corpus")
    ingest(store, write_folder(root / "hr", {"zephyr.txt": ZEPHYR}))
    keys = KeyStore(settings.data_path / "keys.json")
    made = {
        "hana": keys.add("hana", "reader", frozenset({"hr"})),
        "otto": keys.add("otto", "reader"),
        "boss": keys.add("boss", "admin"),
    }
    chain = QaChain(store)
    url, server = serve_app(create_app(chain, build_ui(chain)))
    restricted = httpx.put(
        f"{url}/api/knowledge/hr/groups", json={"groups": ["hr"]}, headers=_bearer(made["boss"])
    )
    assert restricted.json() == {"source": "hr", "groups": ["hr"]}
    ids = [c.id or "" for c in store.chunks(DOCUMENT)]
    assert ids
    yield {"url": url, "keys": made, "chain": chain, "ids": ids, "wiki": wiki}
    server.should_exit = True


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _callers(grouped: dict[str, Any]) -> dict[str, dict[str, str]]:
    """How each caller is known: by key, by the proxy's headers, or as an anonymous widget
    reader (no credentials, the wiki's Origin)."""
    keys = grouped["keys"]
    return {
        "otto (key, no group)": _bearer(keys["otto"]),
        "ann (proxy, finance)": {"x-forwarded-user": "ann", "x-forwarded-groups": "finance"},
        "anonymous widget": {"origin": grouped["wiki"]},
        "hana (key, hr)": _bearer(keys["hana"]),
        "bea (proxy, HR and finance)": {
            "x-forwarded-user": "bea",
            "x-forwarded-groups": "Finance,HR",
        },
        "boss (admin key)": _bearer(keys["boss"]),
        "ceo (proxy admin)": {"x-forwarded-user": "ceo"},
    }


OUTSIDERS = ("otto (key, no group)", "ann (proxy, finance)", "anonymous widget")
MEMBERS = ("hana (key, hr)", "bea (proxy, HR and finance)", "boss (admin key)", "ceo (proxy admin)")


def _ask_everywhere(url: str, headers: dict[str, str], widget: bool) -> list[str]:
    """ASKED through /api/ask and /api/chat, and /v1 whole and streamed (not a widget route):
    each reply's text."""
    body = {"question": ASKED, "top_k": 20}
    replies = [
        httpx.post(f"{url}/api/ask", json=body, headers=headers, timeout=120),
        httpx.post(f"{url}/api/chat", json=body, headers=headers, timeout=120),
    ]
    if not widget:
        messages = {"messages": [{"role": "user", "content": ASKED}], "top_k": 20}
        for stream in (False, True):
            replies.append(
                httpx.post(
                    f"{url}/v1/chat/completions",
                    json=messages | {"stream": stream},
                    headers=headers,
                    timeout=120,
                )
            )
    assert [r.status_code for r in replies] == [200] * len(replies), replies[-1].text
    return [r.text for r in replies]


@pytest.mark.parametrize("who", OUTSIDERS)
def test_outsiders_are_refused_on_every_asking_face(grouped: dict[str, Any], who: str) -> None:
    headers = _callers(grouped)[who]
    for text in _ask_everywhere(grouped["url"], headers, who == "anonymous widget"):
        assert REFUSAL in text
        _hidden(text, grouped["ids"])
    opened = httpx.post(  # the open sources still answer them
        f"{grouped['url']}/api/ask", json={"question": OPEN_QUESTION}, headers=headers, timeout=120
    )
    assert "opted out" in opened.json()["answer"]


@pytest.mark.parametrize("who", MEMBERS)
def test_members_and_admins_get_the_answer(grouped: dict[str, Any], who: str) -> None:
    headers = _callers(grouped)[who]
    for text in _ask_everywhere(grouped["url"], headers, widget=False):
        assert ANSWER in text and DOCUMENT in text


def test_the_official_openai_client_sees_the_same(grouped: dict[str, Any]) -> None:
    messages = [{"role": "user", "content": ASKED}]
    for who, answered in (("otto", False), ("hana", True)):
        client = OpenAI(base_url=f"{grouped['url']}/v1", api_key=grouped["keys"][who])
        done = client.chat.completions.create(model="qa-bot", messages=messages)
        text = json.dumps(done.model_dump())
        assert (ANSWER in text) is answered
        if not answered:
            _hidden(text, grouped["ids"])


@pytest.mark.parametrize("who", [*OUTSIDERS, *MEMBERS])
def test_the_viewer_shows_a_restricted_chunk_to_members_only(
    grouped: dict[str, Any], who: str
) -> None:
    url, headers = grouped["url"], _callers(grouped)[who]
    missing = httpx.get(f"{url}/api/sources/no-such-chunk", headers=headers)
    assert (missing.status_code, missing.json()["detail"]) == (404, MISSING)
    for chunk_id in grouped["ids"]:
        for path in (f"/api/sources/{chunk_id}", f"/sources/{chunk_id}"):
            seen = httpx.get(url + path, headers=headers)
            if who in OUTSIDERS:
                assert (seen.status_code, seen.json()) == (404, missing.json())  # the same 404
                _hidden(seen.text, [])
            else:
                assert seen.status_code == 200 and ANSWER in seen.text


@pytest.mark.parametrize("who", [*OUTSIDERS[:2], *MEMBERS])
def test_the_document_list_and_healthz_show_what_the_caller_reads(
    grouped: dict[str, Any], who: str
) -> None:
    url, headers, store = grouped["url"], _callers(grouped)[who], grouped["chain"].store
    listed = httpx.get(f"{url}/api/documents", headers=headers)
    names = {d["name"] for d in listed.json()}
    health = httpx.get(f"{url}/healthz", headers=headers).json()
    if who in OUTSIDERS:
        assert names == store.documents() - {DOCUMENT} and names
        _hidden(listed.text, grouped["ids"])
        assert health["chunks"] == store.count() - len(grouped["ids"])
        assert health["documents"] == len(store.documents()) - 1
    else:
        assert names == store.documents()
        assert (health["chunks"], health["documents"]) == (store.count(), len(store.documents()))
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}  # nobody: liveness only


def test_the_gradio_chat_api_follows_the_callers_groups(grouped: dict[str, Any]) -> None:
    callers = _callers(grouped)
    for who in ("otto (key, no group)", "ann (proxy, finance)"):
        outsider = Client(grouped["url"], headers=callers[who], verbose=False)
        said = outsider.predict(ASKED, 20, "extractive", api_name="/chat")
        assert REFUSAL in said
        _hidden(said, grouped["ids"])
    for who in ("hana (key, hr)", "bea (proxy, HR and finance)"):
        member = Client(grouped["url"], headers=callers[who], verbose=False)
        assert ANSWER in member.predict(ASKED, 20, "extractive", api_name="/chat")
    reader = Client(grouped["url"], headers=callers["hana (key, hr)"], verbose=False)
    refused = reader.predict("hr", "", api_name="/restrict_source")
    assert refused[-1] == "⚠️ Only an admin may restrict sources: ask an admin of this qa-bot."


def test_the_question_log_keeps_no_restricted_citation_for_outsiders(
    grouped: dict[str, Any],
) -> None:
    url, keys = grouped["url"], grouped["keys"]
    asked = httpx.post(
        f"{url}/api/ask", json={"question": ASKED}, headers=_bearer(keys["otto"]), timeout=120
    ).json()
    httpx.post(
        f"{url}/api/ask", json={"question": ASKED}, headers=_bearer(keys["hana"]), timeout=120
    )
    log = httpx.get(f"{url}/api/questions", headers=_bearer(keys["boss"])).json()
    [logged] = [q for q in log if q["id"] == asked["question_id"]]
    assert logged["asker"] == "otto" and logged["refused"] and logged["citations"] == []
    _hidden(logged["answer"], grouped["ids"])
    members = [q for q in log if q["asker"] == "hana" and q["question"] == ASKED]
    assert members and all(c["source"] == DOCUMENT for q in members for c in q["citations"])
    assert httpx.get(f"{url}/api/questions", headers=_bearer(keys["hana"])).status_code == 403


def _ask_one_face(url: str, headers: dict[str, str], face: str, body: dict[str, Any]) -> str:
    """``body`` asked through one face (``ask``, ``chat``, ``v1``, ``v1-stream``): the reply."""
    if face.startswith("v1"):
        history = [
            {"role": role, "content": text or ""}
            for turn in body.get("history", [])
            for role, text in zip(("user", "assistant"), turn, strict=True)
        ]
        messages = [*history, {"role": "user", "content": body["question"]}]
        request = {"messages": messages, "top_k": body.get("top_k"), "stream": face == "v1-stream"}
        reply = httpx.post(f"{url}/v1/chat/completions", json=request, headers=headers, timeout=120)
    else:
        reply = httpx.post(f"{url}/api/{face}", json=body, headers=headers, timeout=120)
    assert reply.status_code == 200, reply.text
    return reply.text


def _faces(who: str) -> tuple[str, ...]:
    return ("ask", "chat") if who == "anonymous widget" else ("ask", "chat", "v1", "v1-stream")


@pytest.mark.parametrize("who", OUTSIDERS)
def test_an_outsider_asking_right_after_a_member_gets_no_cached_answer(
    grouped: dict[str, Any], who: str
) -> None:
    """The identical question a member was just answered (its chunks ranked, its sentences in
    the sentence cache and the reader's memory) is refused to an outsider, face by face."""
    url, callers = grouped["url"], _callers(grouped)
    body = {"question": ASKED, "top_k": 20}
    for face in _faces(who):
        member = _ask_one_face(url, callers["hana (key, hr)"], face, body)
        assert ANSWER in member and DOCUMENT in member
        outsider = _ask_one_face(url, callers[who], face, body)
        assert REFUSAL in outsider, face
        _hidden(outsider, grouped["ids"])
    if who != "anonymous widget":  # the Gradio chat's API, right after a member's
        member_chat = Client(url, headers=callers["hana (key, hr)"], verbose=False)
        assert ANSWER in member_chat.predict(ASKED, 20, "extractive", api_name="/chat")
        outsider_chat = Client(url, headers=callers[who], verbose=False)
        said = outsider_chat.predict(ASKED, 20, "extractive", api_name="/chat")
        assert REFUSAL in said
        _hidden(said, grouped["ids"])


@pytest.mark.parametrize("who", OUTSIDERS)
def test_an_outsiders_follow_up_is_searched_among_the_open_sources_only(
    grouped: dict[str, Any], who: str
) -> None:
    """A follow-up leaning on a history that names the restricted project (the outsider's own,
    or pasted from a member's chat) is rewritten and searched, and still refused; a member's
    identical follow-up is answered."""
    url, callers = grouped["url"], _callers(grouped)
    body = {
        "question": "What is its budget?",
        "history": [["Tell me about Project Zephyr.", "It replaces the payroll system."]],
        "top_k": 20,
    }
    for face in _faces(who):
        outsider = _ask_one_face(url, callers[who], face, body)
        assert REFUSAL in outsider, face
        _hidden(outsider.replace("payroll system", ""), grouped["ids"])  # minus its own history
        member = _ask_one_face(url, callers["hana (key, hr)"], face, body)
        assert ANSWER in member, face


@pytest.mark.parametrize("who", OUTSIDERS)
def test_only_naming_a_restricted_source_is_the_error_of_one_naming_nothing(
    grouped: dict[str, Any], who: str
) -> None:
    url, headers = grouped["url"], _callers(grouped)[who]
    replies = {
        pattern: httpx.post(
            f"{url}/api/ask",
            json={"question": ASKED, "only": [pattern]},
            headers=headers,
            timeout=120,
        )
        for pattern in ("hr", "hr/zephyr.txt", "zephyr.txt", "*.txt", "nowhere")
    }
    missing = replies.pop("nowhere")
    assert missing.status_code == 400
    for pattern, reply in replies.items():
        if pattern == "*.txt":  # matches open documents too: searched among them, refused
            assert reply.status_code == 200 and reply.json()["refused"]
            _hidden(reply.text, grouped["ids"])
            continue
        assert reply.status_code == 400
        assert reply.json()["detail"] == missing.json()["detail"].replace("nowhere", pattern)


def _gradio_call(url: str, headers: dict[str, str], fn_index: int, data: list[Any]) -> Any:
    """One call of the Gradio app's function ``fn_index`` through its queue, as the page makes
    it (any function, those kept out of the API docs too): its output, or Gradio's error when
    it refused the input."""
    session = secrets.token_hex(8)
    call = {"fn_index": fn_index, "data": data, "session_hash": session, "trigger_id": None}
    joined = httpx.post(f"{url}/gradio_api/queue/join", json=call, headers=headers, timeout=60)
    assert joined.status_code == 200, joined.text
    with httpx.stream(
        "GET",
        f"{url}/gradio_api/queue/data",
        params={"session_hash": session},
        headers=headers,
        timeout=120,
    ) as events:
        for line in events.iter_lines():
            if line.startswith("data:") and (msg := json.loads(line[5:]))["msg"] == (
                "process_completed"
            ):
                return msg["output"]["data"] if msg["success"] else msg["output"]["error"]
    raise AssertionError("the call never completed")


@pytest.mark.parametrize("who", OUTSIDERS[:2])
def test_every_gradio_function_keeps_the_restricted_source_from_an_outsider(
    grouped: dict[str, Any], who: str
) -> None:
    """Gradio's own API, called as the page does, by function index: the Documents tab's lists
    (also the functions kept out of the API docs), the Sources section, the question log and
    its export give an outsider nothing of the restricted source, whatever a member asked."""
    url, callers = grouped["url"], _callers(grouped)
    asked = httpx.post(  # a member's question in the log, with its id in hand
        f"{url}/api/ask", json={"question": ASKED}, headers=callers["hana (key, hr)"], timeout=120
    ).json()
    headers = callers[who]
    config = httpx.get(f"{url}/config", headers=headers)
    info = httpx.get(f"{url}/gradio_api/info", headers=headers)
    for page in (config, info):
        assert page.status_code == 200
        _hidden(page.text, grouped["ids"])
    functions = {d["api_name"]: d["id"] for d in config.json()["dependencies"]}
    calls = {
        "relist": [],  # the Documents tab's table and uploads when the page loads
        "relist_1": [],  # ... its Refresh button
        "shown": [],  # the Sources section
        "on_show": [False, False, "", ""],  # the Questions tab when it is selected
        "questions": [False, False, "", "hr"],
        "add_to_export": [[], "", []],
        "export_questions": [[], None],
    }
    outputs = {
        name: _gradio_call(url, headers, functions[name], data) for name, data in calls.items()
    }
    seen = json.dumps(outputs)
    _hidden(seen, grouped["ids"])
    assert ASKED not in seen and asked["question_id"] not in seen
    listed = {row[0] for row in outputs["relist"][0]["data"]}
    assert listed == grouped["chain"].store.documents() - {DOCUMENT} and listed
    assert outputs["shown"][0]["visible"] is False and outputs["shown"][1]["data"] == []
    for name in ("on_show", "questions", "add_to_export", "export_questions"):
        assert "Only an admin may read the question log" in json.dumps(outputs[name]), name
    picked = _gradio_call(  # the member's question by its id: not a choice offered to anyone
        url, headers, functions["add_to_export"], [[asked["question_id"]], "", []]
    )
    assert "is not in the list of choices" in picked
    _hidden(json.dumps(picked), grouped["ids"])
    widget = httpx.post(  # an anonymous widget reader does not reach Gradio at all
        f"{url}/gradio_api/queue/join",
        json={"fn_index": functions["relist"], "data": [], "session_hash": "x"},
        headers=callers["anonymous widget"],
    )
    assert widget.status_code == 401


@pytest.mark.parametrize("who", OUTSIDERS)
def test_the_question_log_feedback_and_healthz_give_an_outsider_nothing(
    grouped: dict[str, Any], who: str
) -> None:
    url, callers = grouped["url"], _callers(grouped)
    httpx.post(  # a member was answered just before
        f"{url}/api/ask", json={"question": ASKED}, headers=callers["hana (key, hr)"], timeout=120
    )
    headers = callers[who]
    refused = 401 if who == "anonymous widget" else 403
    for method, path in (
        ("GET", "/api/questions"),
        ("GET", f"/api/questions?source={DOCUMENT}"),
        ("POST", "/api/questions/export"),
        ("GET", "/api/feedback"),
        ("GET", "/api/knowledge"),
    ):
        reply = httpx.request(
            method, url + path, headers=headers, json={} if method == "POST" else None
        )
        assert reply.status_code in (refused, 403), (path, reply.status_code)
        _hidden(reply.text, grouped["ids"])
    health = httpx.get(f"{url}/healthz", headers=headers)
    _hidden(health.text, grouped["ids"])
    if who == "anonymous widget":  # no role on /healthz: liveness only
        assert health.json() == {"status": "ok"}
    else:
        store = grouped["chain"].store
        assert health.json()["chunks"] == store.count() - len(grouped["ids"])


# ---- real browser -------------------------------------------------------------------------


def _signed_in(browser: Browser, url: str, key: str) -> Page:
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    page.goto(url)
    page.get_by_label("Access key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("tab", name="Documents")).to_be_visible(timeout=30_000)
    return page


def _chat(page: Page, question: str) -> Any:
    box = page.get_by_role("textbox").first
    box.fill(question)
    box.press("Enter")
    return page.locator('[aria-label^="bot\'s message"]').last


def test_in_chromium_an_outsider_sees_nothing_of_the_restricted_source(
    grouped: dict[str, Any], browser: Browser
) -> None:
    url, ids = grouped["url"], grouped["ids"]
    page = _signed_in(browser, url, grouped["keys"]["otto"])
    bot = _chat(page, ASKED)
    expect(bot).to_contain_text(REFUSAL, timeout=60_000)
    _hidden(bot.inner_text(), ids)
    page.get_by_role("tab", name="Documents").click()
    table = page.get_by_role("grid", name="Indexed documents")
    expect(table).to_contain_text("corpus/", timeout=30_000)
    expect(page.get_by_role("button", name="Set the groups")).to_have_count(0)
    _hidden(page.content(), ids)
    page.goto(f"{url}/sources/{ids[0]}")  # the viewer by id, with the login cookie
    expect(page.locator("body")).to_contain_text("no longer in the index")
    _hidden(page.content(), [])
    page.close()


def test_in_chromium_a_member_reads_it_and_an_admin_sets_its_groups(
    grouped: dict[str, Any], browser: Browser
) -> None:
    url = grouped["url"]
    member = _signed_in(browser, url, grouped["keys"]["hana"])
    bot = _chat(member, ASKED)
    expect(bot).to_contain_text(ANSWER, timeout=60_000)
    with member.expect_popup() as popup:
        bot.get_by_role("link", name="open source").first.click()
    expect(popup.value.locator("mark#quote")).to_contain_text("Zephyr")
    member.get_by_role("tab", name="Documents").click()
    expect(member.get_by_role("grid", name="Indexed documents")).to_contain_text(
        DOCUMENT, timeout=30_000
    )
    member.close()
    admin = _signed_in(browser, url, grouped["keys"]["boss"])
    admin.get_by_role("tab", name="Documents").click()
    sources = admin.get_by_role("grid", name="Sources")
    expect(sources).to_contain_text("everyone", timeout=30_000)  # corpus
    admin.get_by_label("Source", exact=True).click()
    admin.get_by_role("option", name="hr", exact=True).click()
    admin.get_by_label("Groups", exact=True).fill("hr, finance")
    admin.get_by_role("button", name="Set the groups").click()
    expect(admin.get_by_text("hr is now read by: finance, hr.")).to_be_visible(timeout=30_000)
    expect(sources).to_contain_text("finance, hr")
    ARTIFACTS.mkdir(exist_ok=True)
    admin.screenshot(path=ARTIFACTS / "source-groups.png", full_page=True)
    finance = _callers(grouped)["ann (proxy, finance)"]
    opened = httpx.post(f"{url}/api/ask", json={"question": ASKED}, headers=finance, timeout=120)
    assert ANSWER in opened.json()["answer"]  # ann's group now reads it
    admin.get_by_label("Groups", exact=True).fill("hr")
    admin.get_by_role("button", name="Set the groups").click()
    expect(admin.get_by_text("hr is now read by: hr.")).to_be_visible(timeout=30_000)
    closed = httpx.post(f"{url}/api/ask", json={"question": ASKED}, headers=finance, timeout=120)
    assert closed.json()["refused"]
    admin.close()


@pytest.fixture
def wiki_page(grouped: dict[str, Any], wiki_port: int, tmp_path: Path) -> Iterator[str]:
    """A wiki page on the allowed origin carrying the widget snippet of docs/embedding.md."""
    snippet = widget_snippet(grouped["url"])
    (tmp_path / "index.html").write_text(f"<!doctype html><title>Wiki</title>{snippet}")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", wiki_port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{wiki_port}/"
    server.shutdown()
    server.server_close()


def test_in_chromium_anonymous_widget_readers_get_the_open_sources_only(
    grouped: dict[str, Any], browser: Browser, wiki_page: str
) -> None:
    page = browser.new_page()
    page.goto(wiki_page)
    ask_widget(page, OPEN_QUESTION)
    question = page.get_by_label("Question")
    expect(page.locator(".msg.bot").last).to_contain_text("opted out", timeout=60_000)
    question.fill(ASKED)
    question.press("Enter")
    answer = page.locator(".msg.bot").last
    expect(answer).to_contain_text("do not contain", timeout=60_000)
    _hidden(page.content(), grouped["ids"])
    page.close()


def _sign_in(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Access key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("tab", name="Documents")).to_be_visible(timeout=30_000)


def test_in_chromium_a_members_saved_chats_go_before_someone_else_signs_in(
    grouped: dict[str, Any], browser: Browser
) -> None:
    """Gradio keeps chats in the browser's local storage: on a shared browser the next person
    read a member's restricted answer in the saved chats. They go now when another person (or
    the same one with other groups) opens the chat page, and at logout; the same person keeps
    them across reloads."""
    url, keys, ids = grouped["url"], grouped["keys"], grouped["ids"]
    context = browser.new_context(viewport={"width": 1200, "height": 1400})
    page = context.new_page()
    _sign_in(page, url, keys["hana"])
    expect(_chat(page, ASKED)).to_contain_text(ANSWER, timeout=60_000)
    expect(page.get_by_text(ASKED)).to_have_count(2, timeout=30_000)  # the chat, once saved
    page.reload()  # hana's chat is kept for hana
    expect(page.get_by_text(ASKED).first).to_be_visible(timeout=30_000)
    _sign_in(page, url, keys["otto"])  # otto signs in over hana's session, without a logout
    expect(_chat(page, OPEN_QUESTION)).to_contain_text("opted out", timeout=60_000)
    expect(page.get_by_text(OPEN_QUESTION)).to_have_count(2, timeout=30_000)
    assert ASKED not in page.content()
    _hidden(page.content(), ids)
    page.reload()  # otto's own chat stays
    expect(page.get_by_text(OPEN_QUESTION).first).to_be_visible(timeout=30_000)
    _sign_in(page, url, keys["hana"])
    expect(_chat(page, ASKED)).to_contain_text(ANSWER, timeout=60_000)
    expect(page.get_by_text(ASKED)).to_have_count(2, timeout=30_000)
    page.goto(f"{url}/logout")  # a logout drops the saved chats
    assert page.evaluate("Object.keys(localStorage)") == []
    _sign_in(page, url, keys["otto"])
    page.wait_for_timeout(1_000)
    assert ASKED not in page.content()
    _hidden(page.content(), ids)
    context.close()
