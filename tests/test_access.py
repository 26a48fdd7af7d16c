"""One access policy over every face: API keys with roles, the chat login, a trusted proxy's
user header, the rate limit, the question log for admins only; over real HTTP, through
gradio_client and in real Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from langchain_core.embeddings import Embeddings
from playwright.sync_api import Browser, Page, expect

from qa_bot.chain import QaChain
from qa_bot.config import Settings
from qa_bot.evaluation.dataset import load_jsonl
from qa_bot.ingest import ingest
from qa_bot.server.app import create_app
from qa_bot.server.ui import build_ui
from qa_bot.storage.keys import KeyStore
from qa_bot.storage.store import Store
from tests.conftest import ARTIFACTS, REPO, serve_app

QUESTION = "What did TSMC decide?"
UNANSWERABLE = "What did Samsung decide?"
HOSTILE = "<img src=x onerror=\"document.title='pwned'\"> **Who** runs SoftBank?"
ADMINS_ONLY = "Only an admin may do this: ask an admin of this qa-bot."


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, embeddings: Embeddings
) -> Iterator[dict[str, Any]]:
    """The whole app with a reader key and an admin key, proxies at 10.0.0.0/8 only."""
    root = tmp_path_factory.mktemp("secured")
    shutil.copytree(REPO / "corpus", root / "corpus")
    settings = Settings().updated(
        store={"data_dir": root / "data"},
        server={"trusted_proxies": ["10.0.0.0/8"], "rate_limit": 10_000},
    )
    store = Store.open(settings, embeddings)
    ingest(store, root / "corpus")
    keys = KeyStore(settings.data_path / "keys.json")
    reader, admin = keys.add("alice", "reader"), keys.add("boss", "admin")
    chain = QaChain(store)
    url, server = serve_app(create_app(chain, build_ui(chain)))
    yield {"url": url, "reader": reader, "admin": admin, "chain": chain, "root": root}
    server.should_exit = True


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_keys_are_stored_hashed(secured: dict[str, Any]) -> None:
    stored = (secured["root"] / "data" / "keys.json").read_text()
    assert secured["reader"] not in stored and secured["admin"] not in stored
    assert (secured["root"] / "data" / "keys.json").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/ask"),
        ("POST", "/api/chat"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("GET", "/api/sources/anything"),
        ("GET", "/sources/anything"),
        ("POST", "/api/feedback"),
        ("GET", "/api/documents"),
        ("POST", "/gradio_api/process_recording"),
        ("POST", "/gradio_api/call/chat"),
        ("POST", "/gradio_api/upload"),
        ("GET", "/gradio_api/info"),
        ("GET", "/config"),
        ("GET", "/metrics"),
        ("GET", "/api/questions"),
        ("POST", "/api/questions/export"),
    ],
)
def test_anonymous_callers_are_refused_everywhere(
    secured: dict[str, Any], method: str, path: str
) -> None:
    response = httpx.request(method, secured["url"] + path, json={}, timeout=60)
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Sign in first: send 'Authorization: Bearer")


def test_a_wrong_key_is_refused(secured: dict[str, Any]) -> None:
    response = httpx.post(
        f"{secured['url']}/api/ask", json={"question": QUESTION}, headers=bearer("qab_nope")
    )
    assert response.status_code == 401


def test_open_routes_say_nothing_about_the_index(secured: dict[str, Any]) -> None:
    assert httpx.get(f"{secured['url']}/healthz").json() == {"status": "ok"}
    detailed = httpx.get(f"{secured['url']}/healthz", headers=bearer(secured["reader"])).json()
    assert detailed["chunks"] > 0
    page = httpx.get(f"{secured['url']}/", headers={"accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/"


def test_a_reader_asks_but_cannot_change_documents(secured: dict[str, Any]) -> None:
    url, headers = secured["url"], bearer(secured["reader"])
    answer = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, headers=headers, timeout=60)
    assert answer.status_code == 200 and "TSMC" in answer.json()["citations"][0]["quote"]
    files = {"files": ("note.txt", b"The vault opens at noon.", "text/plain")}
    listed = httpx.get(f"{url}/api/documents", headers=headers)  # readers see what they search
    assert listed.status_code == 200 and listed.json()[0]["chunks"] > 0
    for response in (
        httpx.post(f"{url}/api/documents", files=files, headers=headers),
        httpx.delete(f"{url}/api/documents/uploads/note.txt", headers=headers),
        httpx.post(f"{url}/api/knowledge/resync", headers=headers),
        httpx.post(f"{url}/api/knowledge/cancel", headers=headers),
        httpx.get(f"{url}/api/feedback", headers=headers),
        httpx.get(f"{url}/metrics", headers=headers),
        httpx.get(f"{url}/api/questions", headers=headers),
        httpx.post(f"{url}/api/questions/export", json={"cases": []}, headers=headers),
    ):
        assert response.status_code == 403
        assert response.json()["detail"] == ADMINS_ONLY


@pytest.mark.parametrize(
    ("path", "extra"),
    [("/api/ask", {}), ("/api/chat", {}), ("/v1/chat/completions", {"messages": []})],
)
def test_only_admins_choose_the_answerer_on_every_route(
    secured: dict[str, Any], path: str, extra: dict[str, Any]
) -> None:
    url = secured["url"]
    body: dict[str, Any] = {"question": QUESTION, "answerer": "openai", **extra}
    if "messages" in extra:
        body = {"messages": [{"role": "user", "content": QUESTION}], "answerer": "openai"}
    refused = httpx.post(f"{url}{path}", json=body, headers=bearer(secured["reader"]))
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "Only an admin may choose the answerer: leave it unset for the default."
    )
    as_admin = httpx.post(
        f"{url}{path}", json={**body, "answerer": "nowhere"}, headers=bearer(secured["admin"])
    )
    assert as_admin.status_code == 400 and as_admin.json()["detail"].startswith(
        "Unknown answerer 'nowhere': use one of extractive"
    )
    default = httpx.post(
        f"{url}{path}", json={**body, "answerer": "extractive"}, headers=bearer(secured["reader"])
    )
    assert default.status_code == 200


def test_gradio_api_follows_the_same_policy(secured: dict[str, Any], tmp_path: Path) -> None:
    note = tmp_path / "vault.txt"
    note.write_text("The vault opens at noon.")
    reader = Client(secured["url"], headers=bearer(secured["reader"]), verbose=False)
    assert "opted out" in reader.predict(QUESTION, 5, "extractive", api_name="/chat")
    assert reader.predict(QUESTION, 5, "openai", api_name="/chat") == (
        "⚠️ Only an admin may choose the answerer: leave it unset for the default."
    )
    with pytest.raises(
        AppError, match="greater than maximum value"
    ):  # Gradio checks the slider's bounds
        reader.predict(QUESTION, 99, "extractive", api_name="/chat")
    with pytest.raises(httpx.HTTPStatusError, match="403 Forbidden"):
        reader.predict([handle_file(str(note))], api_name="/add_documents")
    assert reader.predict("https://wiki.example.internal/", api_name="/add_web_source") == (
        "⚠️ Only an admin may change the documents: ask an admin of this qa-bot."
    )
    assert reader.predict(api_name="/cancel_ingestion") == (
        "⚠️ Only an admin may cancel an ingestion: ask an admin of this qa-bot."
    )
    admin = Client(secured["url"], headers=bearer(secured["admin"]), verbose=False)
    assert admin.predict("https://wiki.example.internal/", api_name="/add_web_source").startswith(
        "⚠️ Web sources are off: list the wiki's host in web.allowed\\_hosts"  # Markdown-escaped
    )
    assert admin.predict(api_name="/cancel_ingestion") == (
        "⚠️ No ingestion is running on this index: there is nothing to cancel."
    )
    done = admin.predict([handle_file(str(note))], api_name="/add_documents")
    assert done == "Added uploads/vault.txt (1 new chunks): ask away."
    removed = admin.predict("uploads/vault.txt", True, api_name="/delete_document")
    assert removed == "Deleted uploads/vault.txt (1 chunks)."
    blob = tmp_path / "blob.txt"
    blob.write_bytes(bytes(range(256)) * 16)
    refused = admin.predict([handle_file(str(blob))], api_name="/add_documents")
    assert refused == ("⚠️ Could not read uploads/blob.txt: it looks like a binary file, not text.")


def test_admin_uploads_are_named_safely_and_never_overwrite(secured: dict[str, Any]) -> None:
    url, headers = secured["url"], bearer(secured["admin"])
    chain: QaChain = secured["chain"]

    def upload(name: str, body: bytes) -> httpx.Response:
        return httpx.post(
            f"{url}/api/documents", files={"files": (name, body)}, headers=headers, timeout=60
        )

    first = upload("../../etc/menu.txt", b"The canteen serves lentil soup on Thursday.")
    assert first.json()["stored"] == ["uploads/menu.txt"]
    second = upload("menu.txt", b"The canteen serves bean stew on Friday.")
    assert second.json()["stored"] == ["uploads/menu (2).txt"]
    assert {"uploads/menu.txt", "uploads/menu (2).txt"} <= chain.store.documents()
    refused = upload("tool.exe", b"MZ\x90\x00")
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("tool.exe: this file type is not supported")
    hidden = upload(".env.txt", b"The lift is serviced on Mondays.")
    assert hidden.json()["stored"] == ["uploads/env.txt"]
    corpus_doc = httpx.delete(
        f"{url}/api/documents/corpus/softbank-trump-industrial-parks.txt", headers=headers
    )
    assert corpus_doc.status_code == 409 and "delete the file there" in corpus_doc.json()["detail"]
    for name in ("uploads/menu.txt", "uploads/menu (2).txt", "uploads/env.txt"):
        assert httpx.delete(f"{url}/api/documents/{name}", headers=headers).status_code == 200
    assert not any(d.startswith("uploads/") for d in chain.store.documents())


def test_chat_login_sets_a_safe_cookie_and_stops_cross_site_posts(
    secured: dict[str, Any],
) -> None:
    url = secured["url"]
    with httpx.Client(base_url=url) as client:
        wrong = client.post("/login", data={"key": "nope", "next": "/"})
        assert wrong.status_code == 401 and "That key is not valid" in wrong.text
        done = client.post("/login", data={"key": secured["reader"], "next": "//evil.example"})
        assert done.status_code == 303 and done.headers["location"] == "/"
        cookie = done.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        body = {"question": QUESTION}
        same = client.post("/api/ask", json=body, headers={"origin": url}, timeout=60)
        assert same.status_code == 200
        foreign = client.post("/api/ask", json=body, headers={"origin": "http://evil.example"})
        assert foreign.status_code == 403
        assert foreign.json()["detail"].startswith("Cross-site request refused")
        assert client.get("/api/knowledge").status_code == 403  # still a reader
    forged = httpx.get(f"{url}/v1/models", cookies={"qa_bot_session": "e30.00"})
    assert forged.status_code == 401


def test_a_forged_proxy_header_from_elsewhere_is_ignored(secured: dict[str, Any]) -> None:
    response = httpx.post(
        f"{secured['url']}/api/ask",
        json={"question": QUESTION},
        headers={"x-forwarded-user": "boss", "x-forwarded-email": "boss@example.com"},
    )
    assert response.status_code == 401


@pytest.fixture(scope="module")
def behind_proxy(secured: dict[str, Any]) -> Iterator[Callable[..., httpx.Response]]:
    """The same index served as if behind a reverse proxy at 127.0.0.1 with SSO."""
    chain: QaChain = secured["chain"]
    settings = chain.settings.updated(
        server={"trusted_proxies": ["127.0.0.1"], "admins": ["ceo@example.com"], "rate_limit": 3}
    )
    url, server = serve_app(create_app(QaChain(chain.store, settings)))

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, url + path, timeout=60, **kwargs)

    yield call
    server.should_exit = True


def test_trusted_proxy_users_get_their_role(behind_proxy: Callable[..., httpx.Response]) -> None:
    """Each call from another client (X-Forwarded-For), so none is rate-limited."""
    reader = {"x-forwarded-user": "ann"}
    ceo = {"x-forwarded-user": "ceo@example.com"}
    assert (
        behind_proxy(
            "GET", "/api/knowledge", headers={**reader, "x-forwarded-for": "10.1.0.1"}
        ).status_code
        == 403
    )
    assert (
        behind_proxy(
            "GET", "/api/knowledge", headers={**ceo, "x-forwarded-for": "10.1.0.2"}
        ).status_code
        == 200
    )
    forged = {"x-forwarded-user": "ann", "x-forwarded-email": "ceo@example.com"}
    assert (
        behind_proxy(
            "GET", "/api/knowledge", headers={**forged, "x-forwarded-for": "10.1.0.4"}
        ).status_code
        == 403
    )
    by_email = {"x-forwarded-email": "ceo@example.com"}  # a proxy that only sends the email
    assert (
        behind_proxy(
            "GET", "/api/knowledge", headers={**by_email, "x-forwarded-for": "10.1.0.5"}
        ).status_code
        == 200
    )
    assert (
        behind_proxy("GET", "/api/knowledge", headers={"x-forwarded-for": "10.1.0.3"}).status_code
        == 401
    )  # the proxy named nobody


def test_rate_limit_counts_the_forwarded_client_only_behind_the_proxy(
    behind_proxy: Callable[..., httpx.Response], secured: dict[str, Any]
) -> None:
    headers = {"x-forwarded-user": "ann", "x-forwarded-for": "203.0.113.7"}
    codes = [behind_proxy("GET", "/v1/models", headers=headers).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    other = {"x-forwarded-user": "bob", "x-forwarded-for": "203.0.113.8"}
    assert behind_proxy("GET", "/v1/models", headers=other).status_code == 200


def test_x_forwarded_for_does_not_bypass_the_limit_elsewhere(secured: dict[str, Any]) -> None:
    chain: QaChain = secured["chain"]
    settings = chain.settings.updated(server={"rate_limit": 2})
    url, server = serve_app(create_app(QaChain(chain.store, settings)))
    try:
        codes = [
            httpx.get(
                f"{url}/v1/models",
                headers={**bearer(secured["reader"]), "x-forwarded-for": f"198.51.100.{n}"},
            ).status_code
            for n in range(3)
        ]
        assert codes == [200, 200, 429]
    finally:
        server.should_exit = True


def _signed_in(browser: Browser, url: str, key: str) -> Page:
    """A new page of the chat, signed in with ``key`` at /login."""
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    page.goto(url)
    expect(page).to_have_url(f"{url}/login?next=/")
    page.get_by_label("Access key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("tab", name="Documents")).to_be_visible(timeout=30_000)
    return page


def test_login_then_chat_in_chromium_and_reader_cannot_upload(
    secured: dict[str, Any], browser: Browser, tmp_path: Path
) -> None:
    note = tmp_path / "secret-plan.txt"
    note.write_text("The secret plan is to open on Sunday.")
    chain: QaChain = secured["chain"]
    before = chain.store.documents()
    page = _signed_in(browser, secured["url"], secured["reader"])
    box = page.get_by_role("textbox").first
    box.fill(QUESTION)
    box.press("Enter")
    bot = page.locator('[aria-label^="bot\'s message"]').last
    expect(bot).to_contain_text("opted out", timeout=30_000)
    page.get_by_role("tab", name="Documents").click()
    page.locator('#add-documents input[type="file"]').set_input_files([str(note)])
    page.get_by_role("button", name="Add to the knowledge base").click()
    expect(page.get_by_text("Only an admin may change the documents")).to_be_visible(timeout=30_000)
    assert chain.store.documents() == before
    page.close()


def test_the_chat_page_drops_chats_saved_for_someone_else(secured: dict[str, Any]) -> None:
    """Gradio saves chats in the browser: the chat page tells a browser to clear its storage
    (Clear-Site-Data) when they were saved for another person, and stamps whose they are now;
    a logout clears them too."""
    url = secured["url"]
    with httpx.Client(base_url=url) as alice, httpx.Client(base_url=url) as boss:
        for client, key in ((alice, secured["reader"]), (boss, secured["admin"])):
            assert client.post("/login", data={"key": key}).status_code == 303
        first = alice.get("/")
        assert first.status_code == 200 and first.headers["clear-site-data"] == '"storage"'
        assert "HttpOnly" in first.headers["set-cookie"]
        stamp = alice.cookies["qa_bot_chats"]
        again = alice.get("/")  # the same person: her chats stay
        assert again.status_code == 200 and "clear-site-data" not in again.headers
        boss.cookies.set("qa_bot_chats", stamp)  # a browser holding alice's chats: cleared
        other = boss.get("/")
        assert other.headers["clear-site-data"] == '"storage"'
        assert other.cookies["qa_bot_chats"] not in (stamp, "")  # boss's stamp now
        assert "clear-site-data" not in alice.get("/healthz").headers  # the chat page only
        out = alice.get("/logout")
        assert out.status_code == 303 and out.headers["clear-site-data"] == '"storage"'


def test_revoking_a_key_ends_its_logins(secured: dict[str, Any]) -> None:
    keys = KeyStore(secured["root"] / "data" / "keys.json")
    temporary = keys.add("temp-admin", "admin")
    with httpx.Client(base_url=secured["url"]) as client:
        assert client.post("/login", data={"key": temporary}).status_code == 303
        assert client.get("/api/knowledge").status_code == 200
        keys.remove("temp-admin")
        assert client.get("/api/knowledge").status_code == 401


def test_login_from_another_site_is_refused(secured: dict[str, Any]) -> None:
    response = httpx.post(
        f"{secured['url']}/login",
        data={"key": secured["reader"]},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403 and "set-cookie" not in response.headers


def test_key_guesses_and_gradio_calls_count_against_the_limit(
    secured: dict[str, Any],
) -> None:
    chain: QaChain = secured["chain"]
    settings = chain.settings.updated(server={"rate_limit": 3})
    url, server = serve_app(create_app(QaChain(chain.store, settings)))
    try:
        guesses = [
            httpx.get(f"{url}/v1/models", headers=bearer(f"qab_guess{n}")).status_code
            for n in range(4)
        ]
        assert guesses == [401, 401, 401, 429]
    finally:
        server.should_exit = True
    url, server = serve_app(create_app(QaChain(chain.store, settings), build_ui(chain)))
    try:
        body = {"data": [QUESTION, [], 5, "extractive"]}
        calls = [
            httpx.post(
                f"{url}/gradio_api/api/chat", json=body, headers=bearer(secured["reader"])
            ).status_code
            for _ in range(4)
        ]
        assert calls[-1] == 429 and 429 not in calls[:3]
    finally:
        server.should_exit = True


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("nul\x00.txt", "The file name holds control or text-direction characters"),
        ("new\nline.txt", "The file name holds control or text-direction characters"),
        ("report\u202etxt.exe.txt", "The file name holds control or text-direction characters"),
        ("a." + "x" * 150, "The file name is too long"),
    ],
)
def test_upload_names_with_control_characters_are_refused(
    secured: dict[str, Any], name: str, detail: str
) -> None:
    raw = (  # by hand: HTTP clients escape such names, an attacker's need not
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: text/plain\r\n\r\nThe lift is serviced on Mondays.\r\n--b--\r\n'
    )
    response = httpx.post(
        f"{secured['url']}/api/documents",
        content=raw,
        headers={**bearer(secured["admin"]), "content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 400 and response.json()["detail"].startswith(detail)


def test_long_upload_names_keep_their_extension(secured: dict[str, Any]) -> None:
    url, headers = secured["url"], bearer(secured["admin"])
    response = httpx.post(
        f"{url}/api/documents",
        files={"files": ("é" * 150 + ".txt", b"The lift is serviced on Mondays.")},
        headers=headers,
        timeout=60,
    )
    [stored] = response.json()["stored"]
    assert stored.endswith(".txt") and len(stored.split("/", 1)[1].encode()) <= 200
    assert httpx.delete(f"{url}/api/documents/{stored}", headers=headers).status_code == 200


def test_widget_readers_may_be_anonymous_when_allowed(secured: dict[str, Any]) -> None:
    chain: QaChain = secured["chain"]
    wiki = "https://wiki.example.com"
    settings = chain.settings.updated(
        server={"anonymous_widget": True, "allowed_origins": [wiki], "rate_limit": 1000}
    )
    url, server = serve_app(create_app(QaChain(chain.store, settings)))
    body = {"question": QUESTION}
    try:
        from_wiki = httpx.post(f"{url}/api/chat", json=body, headers={"origin": wiki})
        assert from_wiki.status_code == 200 and "event: answer" in from_wiki.text
        elsewhere = httpx.post(f"{url}/api/chat", json=body, headers={"origin": "https://x.io"})
        assert elsewhere.status_code == 401
        beyond = httpx.post(f"{url}/v1/chat/completions", headers={"origin": wiki}, json={})
        assert beyond.status_code == 401  # only the widget's routes
        upload = httpx.post(f"{url}/api/documents", headers={"origin": wiki}, files={"f": b""})
        assert upload.status_code == 401  # anonymous only on the widget's routes
        log = httpx.get(f"{url}/api/questions", headers={"origin": wiki})
        assert log.status_code == 401 and UNANSWERABLE not in log.text
    finally:
        server.should_exit = True


def test_unreadable_or_oversize_uploads_leave_nothing(secured: dict[str, Any]) -> None:
    chain: QaChain = secured["chain"]
    uploads = secured["root"] / "data" / "uploads"
    headers = bearer(secured["admin"])
    binary = httpx.post(
        f"{secured['url']}/api/documents",
        files={"files": ("blob.txt", bytes(range(256)) * 64)},
        headers=headers,
        timeout=60,
    ).json()
    assert (
        binary["stored"] == []
        and "looks like a binary file" in binary["failed"]["uploads/blob.txt"]
    )
    assert not (uploads / "blob.txt").exists()
    settings = chain.settings.updated(ingest={"max_file_mb": 1}, server={"rate_limit": 1000})
    url, server = serve_app(create_app(QaChain(chain.store, settings)))
    try:
        big = httpx.post(
            f"{url}/api/documents",
            files={"files": ("big.txt", b"word " * 400_000)},
            headers=headers,
            timeout=60,
        )
        assert big.status_code == 413 and big.json()["detail"].startswith(
            "The request is too large"
        )
    finally:
        server.should_exit = True
    assert not (uploads / "big.txt").exists()
    assert not any(d.startswith("uploads/") for d in chain.store.documents())


def test_the_question_log_is_for_admins_over_gradio_too(secured: dict[str, Any]) -> None:
    url = secured["url"]
    asked = httpx.post(
        f"{url}/api/ask", json={"question": UNANSWERABLE}, headers=bearer(secured["reader"])
    ).json()
    assert asked["refused"] and asked["question_id"]
    reader = Client(url, headers=bearer(secured["reader"]), verbose=False)
    refused = "⚠️ Only an admin may read the question log: ask an admin of this qa-bot."
    assert reader.predict(True, False, "", "", api_name="/questions")[-1] == refused
    assert reader.predict([], "", api_name="/add_to_export")[-1] == refused
    with pytest.raises(AppError, match="not in the list of choices"):  # none were listed
        reader.predict([asked["question_id"]], "", api_name="/add_to_export")
    assert reader.predict(api_name="/export_questions") == (None, refused)
    admin = Client(url, headers=bearer(secured["admin"]), verbose=False)
    table, _, said = admin.predict(True, False, "1h", "", api_name="/questions")
    assert said.endswith(", newest first.") and UNANSWERABLE in str(table)
    bad = admin.predict(True, False, "last week", "", api_name="/questions")[-1]
    assert bad.startswith("⚠️ since must be a date such as 2025-01-31")


def test_admins_see_the_questions_tab_and_export_a_question_readers_do_not(
    secured: dict[str, Any], browser: Browser, tmp_path: Path
) -> None:
    url = secured["url"]
    httpx.post(f"{url}/api/ask", json={"question": HOSTILE}, headers=bearer(secured["reader"]))
    reader = _signed_in(browser, url, secured["reader"])
    reader.get_by_role("textbox").first.fill(UNANSWERABLE)
    reader.get_by_role("textbox").first.press("Enter")
    bot = reader.locator('[aria-label^="bot\'s message"]').last
    expect(bot).to_contain_text("do not contain", timeout=30_000)
    expect(reader.get_by_role("tab", name="Questions")).to_have_count(0)
    reader.close()
    page = _signed_in(browser, url, secured["admin"])
    page.get_by_role("tab", name="Questions").click()
    table = page.get_by_role("grid", name="Questions, newest first")
    expect(table).to_contain_text(HOSTILE, timeout=30_000)  # shown as text, never run
    assert page.title() == "qa-bot"
    page.get_by_label("Refused only").check()
    page.get_by_role("button", name="Show").click()
    expect(table).to_contain_text(UNANSWERABLE, timeout=30_000)
    expect(table).to_contain_text("alice")  # asked in the chat by the reader's key
    page.get_by_label("Questions to export").click()
    page.get_by_role("option", name=UNANSWERABLE).first.click()
    page.get_by_role("button", name="Add to the export").click()
    expect(page.get_by_text("1 case to export.")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Export .jsonl").click()
    link = page.locator("a[download='qa-bot-questions.jsonl']")
    with page.expect_download() as download:
        link.click()
    download.value.save_as(tmp_path / "cases.jsonl")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "questions.png", full_page=True)
    [case] = load_jsonl(tmp_path / "cases.jsonl")
    assert (case.question, case.answerable) == (UNANSWERABLE, False)
    assert case.id.startswith("log-")
    page.close()
