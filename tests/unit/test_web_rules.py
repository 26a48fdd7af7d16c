"""The web fetcher's rules as plain functions: addresses, the allow-list, names, text fragments,
sitemaps, and where credentials go (no network: the served wiki is in tests/test_web.py)."""

from __future__ import annotations

import time

import pytest

from qa_bot.config import Settings, WebSettings
from qa_bot.ingest.web import (
    Fetcher,
    WebError,
    check_url,
    document_name,
    host_allowed,
    normalize,
    page_links,
    shown,
    sitemap_entries,
    under,
)
from qa_bot.records import text_fragment


def web(**values: object) -> WebSettings:
    settings = {"allowed_hosts": ["wiki.example.internal", "127.0.0.1:8080"], **values}
    return Settings().updated(web=settings).web


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Wiki.Example.Internal:80/space/a/../b/./c#top", "http://wiki.example.internal/space/b/c"),
        ("https://wiki.example.internal:443", "https://wiki.example.internal/"),
        ("http://wiki.example.internal./x?q=1", "http://wiki.example.internal/x?q=1"),
        ("http://127.0.0.1:8080/space/", "http://127.0.0.1:8080/space/"),
        ("http://[::1]:8080/", "http://[::1]:8080/"),
    ],
)  # fmt: skip
def test_one_spelling_per_address(url: str, expected: str) -> None:
    assert normalize(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "qa-bot fetches only http:// and https:// addresses"),
        ("gopher://wiki.example.internal/", "only http:// and https://"),
        ("javascript:alert(1)", "only http:// and https://"),
        ("//wiki.example.internal/space/", "only http:// and https://"),
        ("http://u:p@wiki.example.internal/", "may not hold a user name or password"),
        ("http://wiki.example.internal@evil.example/", "may not hold a user name"),
        ("http:///space/", "it names no host"),
        ("http://wiki.example.internal:http/", "it is not a valid web address"),
        ("http://evil.example/", "its host evil.example is not in web.allowed_hosts"),
        ("http://wiki.example.internal.evil.example/", "is not in web.allowed_hosts"),
        ("http://127.0.0.1:9090/", "its host 127.0.0.1:9090 is not in"),  # the port counts
        ("http://127.1:8080/", "its host 127.1:8080 is not in"),  # another spelling
        ("http://2130706433:8080/", "is not in web.allowed_hosts"),
        ("http://[::ffff:127.0.0.1]:8080/", "is not in web.allowed_hosts"),
        ("http://wiki.example.internal/space/%2e%2e/admin", "encoded '..'"),
        ("http://wiki.example.internal/space/..%5c..%5cadmin", "encoded '..'"),
    ],
)
def test_addresses_the_rules_refuse(url: str, reason: str) -> None:
    with pytest.raises(WebError) as refused:
        check_url(url, web())
    assert reason in refused.value.reason
    assert ":p@" not in str(refused.value)  # a password is never shown


def test_allowed_hosts_match_by_name_and_port() -> None:
    allowed = ["wiki.example.internal", "127.0.0.1:8080"]
    assert host_allowed("https://wiki.example.internal:8443/x", allowed)  # any port
    assert host_allowed("http://127.0.0.1:8080/x", allowed)
    assert not host_allowed("http://127.0.0.1/x", allowed)  # port 80
    assert check_url("http://WIKI.example.internal/space/", web()).startswith("http://wiki.")


def test_no_allowed_host_turns_web_sources_off() -> None:
    with pytest.raises(WebError) as refused:
        check_url("https://wiki.example.internal/", Settings().web)
    assert str(refused.value).startswith("Web sources are off: list the wiki's host in")


@pytest.mark.parametrize(
    "hosts", [["http://wiki"], ["wiki/space"], ["wiki:port"], ["user@wiki"], [""], ["wiki:0"]]
)
def test_the_allow_list_takes_host_names_only(hosts: list[str]) -> None:
    with pytest.raises(ValueError, match="is not a host name"):
        web(allowed_hosts=hosts)


def test_under_and_names() -> None:
    prefix = "http://wiki.example.internal/space/"
    assert under("http://wiki.example.internal/space/a/b", prefix)
    assert not under("http://wiki.example.internal/spaceship", prefix)
    assert not under("https://wiki.example.internal/space/a", prefix)  # another scheme
    assert not under("http://wiki.example.internal:81/space/a", prefix)
    assert under("http://h/space", "http://h/space") and not under(
        "http://h/spaces", "http://h/space"
    )
    assert document_name("w", prefix, prefix) == "w/index"
    assert document_name("w", prefix, prefix + "it/") == "w/it/index"
    assert document_name("w", prefix, prefix + "gym") == "w/gym"
    assert document_name("w", prefix, prefix + "view?id=7") == "w/view?id=7"


def test_text_fragments_name_the_quote() -> None:
    url = "http://wiki.example.internal/space/gym"
    short = text_fragment(url + "#old", "Open 6:00-22:00, free & quiet.")
    assert short == url + "#:~:text=Open%206%3A00%2D22%3A00%2C%20free%20%26%20quiet."
    long = text_fragment(url, "one two three four five six seven eight nine ten eleven")
    assert (
        long == url + "#:~:text=one%20two%20three%20four%20five,seven%20eight%20nine%20ten%20eleven"
    )


def test_sitemaps_are_read_without_expanding_entities() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<urlset><url><loc>http://h/a?x=1&amp;y=&lol2;</loc></url>"
        b"<url><loc> http://h/b </loc></url></urlset>"
    )
    started = time.monotonic()
    urls, is_index = sitemap_entries(bomb)
    assert urls == ["http://h/a?x=1&y=&lol2;", "http://h/b"] and not is_index
    assert time.monotonic() - started < 0.1
    assert sitemap_entries(b"<sitemapindex><sitemap><loc>http://h/s.xml</loc></sitemap>")[1]


def test_links_skip_nofollow_and_fragments() -> None:
    body = (
        b'<base href="/space/"><a href="gym#top">Gym</a><a href="#x">here</a>'
        b'<a href="edit" rel="nofollow">Edit</a><a href=" http://other/ ">Other</a>'
    )
    assert page_links(body, "utf-8", "http://h/space/it/") == [
        "http://h/space/gym",
        "http://other/",
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("auth_header", "no colon s3cret"),
        ("auth_header", "Bad Name: s3cret"),
        ("auth_header", "X-Token: s3cret\r\nX-Injected: yes"),
        ("auth_header", "X-Token: s3crét"),
        ("cookie", "sid=s3cret\nX-Injected: yes"),
        ("cookie", "sid=s3crét"),
    ],
)
def test_malformed_credentials_are_refused_unechoed(key: str, value: str) -> None:
    with pytest.raises(ValueError) as refused:
        web(**{key: value})
    assert "s3cr" not in str(refused.value) and f"web.{key}" in str(refused.value)


def test_credentials_go_only_to_allowed_hosts() -> None:
    rules = web(auth_header="Authorization: Bearer s3cret", cookie="sid=c00kie")
    with Fetcher(rules) as fetcher:
        wiki = fetcher._headers("http://wiki.example.internal/space/", None)
        other = fetcher._headers("http://evil.example/", {"If-None-Match": '"1"'})
    assert wiki["Authorization"] == "Bearer s3cret" and wiki["Cookie"] == "sid=c00kie"
    assert "Authorization" not in other and "Cookie" not in other
    assert other["If-None-Match"] == '"1"' and other["User-Agent"] == "qa-bot"
    assert "s3cret" not in repr(rules) and "c00kie" not in repr(rules)


def test_redirects_are_checked_hop_by_hop() -> None:
    with Fetcher(web()) as fetcher:
        assert (
            fetcher._redirect("http://wiki.example.internal/a", "/b")
            == "http://wiki.example.internal/b"
        )
        with pytest.raises(WebError, match="redirects from https to plain http"):
            fetcher._redirect("https://wiki.example.internal/a", "http://wiki.example.internal/a")
        with pytest.raises(WebError, match=r"its host evil\.example is not in"):
            fetcher._redirect("http://wiki.example.internal/a", "http://evil.example/")


def test_messages_show_no_password_or_control_characters() -> None:
    assert shown("http://user:pw@h/x\r\nSet-Cookie: a") == "http://h/xSet-Cookie: a"
    assert len(shown("http://h/" + "a" * 500)) == 200
