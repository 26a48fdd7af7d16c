"""Web sources: the pages under one address, fetched within the rules an admin sets (``web.*``
settings; docs/security.md): only http(s) addresses on the allow-list, redirects checked hop by
hop, robots.txt obeyed, a rate, a time and a size limit on every request, content types
checked, credentials from settings only and only to the origins listed. Pages are found from the
sitemap when there is one, else by following links; each page's main text is extracted with
trafilatura (menus, sidebars and footers dropped). Every request, and reading what it brought,
runs in a worker process (``workers.py``): ``Crawl`` only keeps the crawl's state."""

from __future__ import annotations

import hashlib
import html
import math
import ssl
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from email.message import Message
from fractions import Fraction
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx
import trafilatura
from bs4 import BeautifulSoup
from langchain_core.documents import Document

from qa_bot.config import IngestSettings, WebSettings, split_host
from qa_bot.errors import CorpusError
from qa_bot.ingest.loaders import LoadError, decode_text, html_text
from qa_bot.ingest.split import split_documents
from qa_bot.ingest.workers import Limits, ReadFailed, run
from qa_bot.storage.catalog import WebPage

T = TypeVar("T")
MB = 1024 * 1024
SCHEMES = {"http": 80, "https": 443}
"""The schemes fetched, with their default ports."""
PAGE_TYPES = ("text/html", "application/xhtml+xml")
SITEMAP_TYPES = ("application/xml", "text/xml")
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
MAX_SITEMAPS = 10
"""Sitemaps read from a sitemap index, at most."""
SITEMAP_URLS = 50_000
"""Addresses read from one sitemap, at most, unless told (the sitemap protocol's limit)."""
MAX_URL = 2048
"""Longest sitemap entry read, in bytes (the sitemap protocol's limit)."""
MAX_LINKS = 2000
"""Links read from one page, at most."""
ROBOTS_BYTES = 512 * 1024
"""Largest robots.txt read (what Google reads)."""
GONE = (404, 410)
"""Answers that mean a page was deleted: its document is removed."""


class WebError(CorpusError):
    """A web address, or a server's answer, that qa-bot refuses. ``reason`` says why in a few
    words ("it is image/png, not a web page"); ``str()`` is the sentence for the user."""

    def __init__(self, url: str, reason: str, sentence: str | None = None) -> None:
        super().__init__(sentence or f"Refused {shown(url)}: {reason}.")
        self.url, self.reason = url, reason

    def __reduce__(self) -> tuple[type[WebError], tuple[str, str, str]]:
        """Pickled whole: raised in a worker process, re-raised here."""
        return WebError, (self.url, self.reason, str(self))


def shown(url: str) -> str:
    """An address as messages show it: without any user name or password, without control
    characters, at most 200 characters."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        pass
    clean = "".join(ch for ch in url if ch.isprintable())
    return clean if len(clean) <= 200 else clean[:199] + "…"


# ---- addresses ------------------------------------------------------------------------------


def _without_dots(path: str) -> str:
    """``path`` with its ``.`` and ``..`` segments resolved (RFC 3986, 5.2.4)."""
    out: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if path.endswith(("/.", "/..")):
        out.append("")
    return "/" + "/".join(out)


def normalize(url: str) -> str:
    """One spelling per address: scheme and host in lower case, no default port, no
    fragment, dot segments resolved, ``/`` for an empty path."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port != SCHEMES.get(scheme):
        netloc += f":{parts.port}"
    return urlunsplit((scheme, netloc, _without_dots(parts.path or "/"), parts.query, ""))


def _host_port(url: str) -> tuple[str, int, int]:
    """The host of ``url`` (normalized), its port, and its scheme's default port."""
    parts = urlsplit(url)
    name, port = split_host(parts.netloc.rpartition("@")[2])
    default = SCHEMES.get(parts.scheme, -1)
    return name, default if port is None else port, default


def host_allowed(url: str, allowed: list[str]) -> bool:
    """Whether the host of ``url`` (normalized) is on the allow-list: an entry without a port
    allows the host on any port, one with a port only that port."""
    name, port, _ = _host_port(url)
    return any(split_host(entry) in ((name, None), (name, port)) for entry in allowed)


def origin_listed(url: str, allowed: list[str]) -> bool:
    """Whether the allow-list names the origin of ``url`` exactly, where credentials may go:
    its host with its port, an entry without a port standing for the scheme's default one."""
    name, port, default = _host_port(url)
    listed = (split_host(entry) for entry in allowed)
    return any(host == name and (default if at is None else at) == port for host, at in listed)


def check_url(url: str, web: WebSettings) -> str:
    """``url`` normalized, when qa-bot may fetch it: http or https, no user name or password,
    a host on ``web.allowed_hosts``, no encoded ``..``. Else a WebError saying why."""
    if not web.allowed_hosts:
        raise WebError(
            url,
            "web sources are off (web.allowed_hosts is empty)",
            "Web sources are off: list the wiki's host in web.allowed_hosts "
            f"(QA_BOT_WEB__ALLOWED_HOSTS='[\"wiki.example.internal\"]') to ingest {shown(url)}.",
        )
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise WebError(url, "it is not a valid web address") from None
    if parts.scheme.lower() not in SCHEMES:
        raise WebError(url, "qa-bot fetches only http:// and https:// addresses")
    if "@" in parts.netloc:
        raise WebError(
            url,
            "an address may not hold a user name or password (set web.auth_header or "
            "web.cookie instead)",
        )
    if not parts.hostname:
        raise WebError(url, "it names no host")
    target = normalize(url)
    if not host_allowed(target, web.allowed_hosts):
        host = urlsplit(target).netloc
        raise WebError(url, f"its host {host} is not in web.allowed_hosts")
    segments = unquote(urlsplit(target).path).replace("\\", "/").split("/")
    if ".." in segments or "." in segments:
        raise WebError(url, "its path climbs out of its folder with an encoded '..'")
    return target


def under(url: str, prefix: str) -> bool:
    """Whether ``url`` lies under ``prefix`` (both normalized): same scheme, host and port,
    and a path that is the prefix's or below it."""
    page, base = urlsplit(url), urlsplit(prefix)
    if (page.scheme, page.netloc) != (base.scheme, base.netloc):
        return False
    folder = base.path if base.path.endswith("/") else base.path + "/"
    return page.path == base.path or page.path.startswith(folder)


def document_name(source: str, prefix: str, url: str) -> str:
    """The name of the page at ``url`` in source ``source``: ``<source>/<path below the
    prefix>`` (``index`` for a folder's own page), its query string kept."""
    parts, base = urlsplit(url), urlsplit(prefix)
    folder = base.path if base.path.endswith("/") else base.path.rpartition("/")[0] + "/"
    rel = parts.path[len(folder) :] if parts.path.startswith(folder) else parts.path.lstrip("/")
    if not rel or rel.endswith("/"):
        rel += "index"
    return f"{source}/{rel}" + (f"?{parts.query}" if parts.query else "")


# ---- fetching -------------------------------------------------------------------------------


@dataclass
class Fetched:
    """A server's answer: its address after redirects, status, body (empty unless 200) and
    validators."""

    url: str
    status: int
    body: bytes = b""
    content_type: str = ""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None


class _Inflater:
    """A body's content encoding undone a piece at a time, never past a size limit (so a
    small gzip bomb cannot fill the memory)."""

    def __init__(self, url: str, encoding: str) -> None:
        encoding = encoding.strip().lower()
        self.packed = encoding not in ("", "identity")
        if not self.packed:
            self._zlib = None
        elif encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        else:
            raise WebError(url, f"it is sent in an encoding qa-bot does not read ({encoding})")
        self.url = url

    def feed(self, data: bytes, room: int) -> bytes:
        """``data`` decoded, at most ``room + 1`` bytes of it (one more means too large)."""
        if self._zlib is None:
            return data[: room + 1]
        try:
            return self._zlib.decompress(data, room + 1)
        except zlib.error:
            raise WebError(self.url, "its compressed body is damaged") from None


class _Deadline:
    """When the request under way must end (``Fetcher.get`` sets ``at``): every socket
    operation waits at most until then, so a server sending a byte at a time, headers
    included, cannot stretch a request past it."""

    def __init__(self) -> None:
        self.at = math.inf

    def left(self, timeout: float | None, error: type[Exception]) -> float:
        """``timeout`` cut to the time left; ``error`` once none is left."""
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise error("the request's deadline passed")
        return remaining if timeout is None else min(timeout, remaining)


class _Stream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._stream, self._deadline = stream, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.left(timeout, httpcore.ConnectTimeout)  # the whole handshake
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, left), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.SyncBackend):
    """Connections opened, and used, within the deadline."""

    def __init__(self, deadline: _Deadline) -> None:
        self.deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = self.deadline.left(timeout, httpcore.ConnectTimeout)
        stream = super().connect_tcp(host, port, left, local_address, socket_options)
        return _Stream(stream, self.deadline)


@contextmanager
def _as_httpx() -> Iterator[None]:
    """httpcore's network failures raised as httpx's, which the fetcher handles."""
    try:
        yield
    except httpcore.TimeoutException as error:
        raise httpx.TimeoutException(str(error)) from None
    except (httpcore.NetworkError, httpcore.ProtocolError) as error:
        raise httpx.TransportError(str(error)) from None


class _Body(httpx.SyncByteStream):
    """An answer's body as it arrives."""

    def __init__(self, answer: httpcore.Response) -> None:
        self._answer = answer

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx():
            yield from self._answer.iter_stream()

    def close(self) -> None:
        self._answer.close()


class _Transport(httpx.BaseTransport):
    """httpx's transport over httpcore's connection pool, with connections that end at the
    deadline (httpx's own transport takes no network backend, and its timeouts restart at
    every byte); certificates checked against certifi's list only."""

    def __init__(self, deadline: _Deadline) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_Backend(deadline),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        target = httpcore.URL(
            scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
        )
        with _as_httpx():
            answer = self._pool.handle_request(
                httpcore.Request(
                    request.method,
                    target,
                    headers=request.headers.raw,
                    extensions=request.extensions,
                )
            )
        return httpx.Response(answer.status, headers=answer.headers, stream=_Body(answer))

    def close(self) -> None:
        self._pool.close()


class Fetcher:
    """GET requests within the ``web`` rules: one at a time at most ``requests_per_second``,
    redirects followed by hand and each hop checked against the allow-list, every request
    done within ``timeout_seconds`` (connecting, headers and body) and ``max_page_mb``.
    Credentials from the settings go only to the origins listed; no proxy, ``.netrc`` or
    cookie from the environment or from an answer is used."""

    def __init__(self, web: WebSettings, interval: float | None = None, last: float = 0.0) -> None:
        self.web = web
        self.limit = int(web.max_page_mb * MB)
        self.interval = 1.0 / web.requests_per_second if interval is None else interval
        self.last = last  # when the last request started (time.monotonic: any process's)
        self.requests = 0
        self._deadline = _Deadline()
        self._timeout = httpx.Timeout(web.timeout_seconds).as_dict()
        self._transport = _Transport(self._deadline)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._transport.close()

    def get(
        self,
        url: str,
        accept: tuple[str, ...] | None,
        validators: dict[str, str] | None = None,
        limit: int | None = None,
    ) -> Fetched:
        """GET ``url`` (already checked), following redirects within the rules; the body of a
        200 answer whose type is in ``accept`` (any type when None), at most ``limit`` bytes
        unpacked (default ``max_page_mb``). A refusal is a WebError."""
        deadline = self._deadline.at = time.monotonic() + self.web.timeout_seconds
        for _ in range(MAX_REDIRECTS + 1):
            with self._send(url, validators) as response:
                location = response.headers.get("location")
                if response.status_code in REDIRECTS and location:
                    url = self._redirect(url, location)
                    continue
                return self._answer(url, response, accept, limit or self.limit, deadline)
        raise WebError(url, f"it redirects more than {MAX_REDIRECTS} times")

    def _headers(self, url: str, validators: dict[str, str] | None) -> dict[str, str]:
        """The request's headers: the user agent, the validators, and the credentials when
        the allow-list names the origin exactly (checked again here, whoever called)."""
        headers = {"User-Agent": self.web.user_agent, "Accept-Encoding": "gzip, deflate"}
        headers |= validators or {}
        if origin_listed(url, self.web.allowed_hosts):
            if (header := self.web.header()) is not None:
                headers[header[0]] = header[1]
            if self.web.cookie is not None:
                headers["Cookie"] = self.web.cookie.get_secret_value().strip()
        return headers

    def _send(self, url: str, validators: dict[str, str] | None) -> _Response:
        """Start one request, no sooner than the rate allows."""
        wait = self.last + self.interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.last = time.monotonic()
        self.requests += 1
        try:
            request = httpx.Request(
                "GET",
                url,
                headers=self._headers(url, validators),
                extensions={"timeout": self._timeout},
            )
        except httpx.InvalidURL:
            raise WebError(url, "it is not a valid web address") from None
        return _Response(self._transport, request, url, self.web.timeout_seconds)

    def _redirect(self, url: str, location: str) -> str:
        """Where a redirect leads, when the rules allow following it."""
        try:
            target = urljoin(url, location.strip())
        except ValueError:
            raise WebError(url, "it redirects to an address that is not valid") from None
        try:
            checked = check_url(target, self.web)
        except WebError as error:
            raise WebError(url, f"it redirects to {shown(target)}, and {error.reason}") from None
        if urlsplit(url).scheme == "https" and urlsplit(checked).scheme == "http":
            raise WebError(url, "it redirects from https to plain http")
        return checked

    def _answer(
        self,
        url: str,
        response: httpx.Response,
        accept: tuple[str, ...] | None,
        limit: int,
        deadline: float,
    ) -> Fetched:
        """The answer, its body read if it is a 200 of an accepted type."""
        headers = response.headers
        got = Fetched(url, response.status_code, etag=headers.get("etag"))
        got.last_modified = headers.get("last-modified")
        if response.status_code != 200:
            return got
        if stated := headers.get("content-type"):
            message = Message()
            message["content-type"] = stated
            got.content_type, got.charset = (
                message.get_content_type(),
                message.get_content_charset(),
            )
        if accept is not None and got.content_type not in accept:
            what = got.content_type or "of no stated type"
            raise WebError(url, f"it is {what}, not {' or '.join(accept)}")
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise WebError(url, f"it is {int(length) / MB:.1f} MB, {self._over(limit)}")
        got.body = self._read(url, response, limit, deadline)
        return got

    def _over(self, limit: int) -> str:
        return f"over the {limit / MB:g} MB limit (web.max_page_mb)"

    def _read(self, url: str, response: httpx.Response, limit: int, deadline: float) -> bytes:
        """The body, unpacked, refused past ``limit`` bytes or past the deadline."""
        inflater = _Inflater(url, response.headers.get("content-encoding", ""))
        body = bytearray()
        try:
            for piece in response.iter_raw():  # as it arrives (a size would buffer)
                body += inflater.feed(piece, limit - len(body))
                if len(body) > limit:
                    unpacked = " once unpacked" if inflater.packed else ""
                    raise WebError(url, f"it is {self._over(limit)}{unpacked}")
                if time.monotonic() > deadline:
                    raise WebError(url, self._slow())
        except httpx.TimeoutException:
            raise WebError(url, self._slow()) from None
        except httpx.TransportError:
            raise WebError(url, "the connection broke while it was read") from None
        return bytes(body)

    def _slow(self) -> str:
        return f"it took longer than {self.web.timeout_seconds:g} s (web.timeout_seconds)"


class _Response:
    """One streamed request as a context manager; network failures as WebErrors. No client
    handles it: nothing follows redirects or keeps cookies."""

    def __init__(
        self, transport: httpx.BaseTransport, request: httpx.Request, url: str, timeout: float
    ):
        self.transport, self.request, self.url, self.timeout = transport, request, url, timeout
        self.response: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        try:
            self.response = self.transport.handle_request(self.request)
        except httpx.TimeoutException:
            raise WebError(
                self.url, f"it took longer than {self.timeout:g} s (web.timeout_seconds)"
            ) from None
        except httpx.TransportError:
            raise WebError(self.url, "the server cannot be reached") from None
        return self.response

    def __exit__(self, *exc: object) -> None:
        if self.response is not None:
            self.response.close()


# ---- robots.txt and sitemaps ----------------------------------------------------------------


class Robots:
    """robots.txt of each host, read once per crawl (by ``read``, which fetches and parses one
    origin's: ``read_robots`` in a worker): what it disallows for ``web.user_agent``, its
    Crawl-delay, its sitemaps."""

    def __init__(self, web: WebSettings, read: Callable[[str], RobotFileParser]) -> None:
        self.web = web
        self.read = read
        self._rules: dict[str, RobotFileParser] = {}

    def rules(self, url: str) -> RobotFileParser:
        """The rules of ``url``'s host (``read_robots``)."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._rules:
            self._rules[origin] = self.read(origin)
        return self._rules[origin]

    def allows(self, url: str) -> bool:
        return self.rules(url).can_fetch(self.web.user_agent, url)

    def delay(self, url: str) -> float:
        """Seconds to wait between requests, as robots.txt asks (0 when it does not); a
        WebError when it asks for more than ``web.max_crawl_delay_seconds``."""
        rules = self.rules(url)
        agent = self.web.user_agent
        asked = Fraction(rules.crawl_delay(agent) or 0)  # exact: no overflow, however large
        rate = rules.request_rate(agent)
        if rate and rate.requests:
            asked = max(asked, Fraction(rate.seconds, rate.requests))
        most = self.web.max_crawl_delay_seconds
        if asked > most:
            raise WebError(
                url,
                f"its robots.txt asks for more than {most:g} s between requests, over "
                "web.max_crawl_delay_seconds (raise it to crawl this host)",
            )
        return float(asked)

    def sitemaps(self, url: str) -> list[str]:
        return list(self.rules(url).site_maps() or [])


def sitemap_entries(body: bytes, most: int = SITEMAP_URLS) -> tuple[list[str], bool]:
    """The addresses a sitemap lists, at most ``most``, and whether it is a sitemap index (of
    sitemaps). Read in one linear scan, not as XML, so no entity is ever expanded: each
    ``</loc>`` closes the last ``<loc>`` before it; an entry over ``MAX_URL`` bytes is
    skipped."""
    lower = body.lower()
    urls: list[str] = []
    start = 0
    while len(urls) < most and (end := lower.find(b"</loc>", start)) >= 0:
        opening = lower.rfind(b"<loc>", start, end)
        if opening >= 0 and end - opening <= MAX_URL + len(b"<loc>"):
            entry = body[opening + len(b"<loc>") : end].strip()
            urls.append(html.unescape(entry.decode("utf-8", "replace")))
        start = end + len(b"</loc>")
    return urls, b"<sitemapindex" in lower


# ---- pages ----------------------------------------------------------------------------------


def page_text(body: bytes, charset: str | None, url: str) -> tuple[str, str]:
    """A page's main text and its title (``_main_text``)."""
    return _main_text(_decoded(body, charset), url)


def _main_text(markup: str, url: str) -> tuple[str, str]:
    """A page's main text (trafilatura: menus, sidebars, footers and comments dropped) and its
    title; one paragraph per block. A page trafilatura finds no text in is read whole, without
    what surrounds content (the HTML loader's rules)."""
    found = trafilatura.bare_extraction(
        markup, url=url, include_comments=False, include_tables=True, with_metadata=True
    )
    text = getattr(found, "text", None) or ""
    title = getattr(found, "title", None) or ""
    if not text.strip():
        text, fallback = html_text(markup)
        title = title or fallback
    blocks = (line.strip() for line in text.splitlines())
    return "\n\n".join(block for block in blocks if block), title


def _decoded(body: bytes, charset: str | None) -> str:
    """The body as text: in its declared charset, else as detected; a LoadError for binary
    data (a NUL, or bytes no encoding reads)."""
    if charset:
        try:
            text = body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
        else:
            if "\x00" not in text:
                return text
    return decode_text(body)


def page_links(body: bytes, charset: str | None, url: str) -> list[str]:
    """The addresses a page links to (``_links``)."""
    return _links(_decoded(body, charset), url)


def _links(markup: str, url: str) -> list[str]:
    """The addresses a page links to (``<a href>``, resolved against its ``<base>``, except
    those marked ``rel="nofollow"``), at most ``MAX_LINKS``, fragments dropped; not yet
    checked."""
    soup = BeautifulSoup(markup, "html.parser")
    base_tag = soup.find("base", href=True)
    base = urljoin(url, str(base_tag["href"])) if base_tag else url
    links = []
    for anchor in soup.find_all("a", href=True, limit=MAX_LINKS):
        href = str(anchor["href"]).strip()
        if "nofollow" in anchor.get_attribute_list("rel"):
            continue  # what a wiki marks so: edit, history, log-in links
        if href and not href.startswith("#"):
            links.append(urljoin(base, href).split("#", 1)[0])
    return links


# ---- a crawl --------------------------------------------------------------------------------


@dataclass
class Visit:
    """What became of one address of a web source:

    - ``fetched``: new or changed, its ``chunks`` to index;
    - ``unchanged``: as indexed (304, or the same body);
    - ``gone``: 404 or 410, its document to be removed;
    - ``failed``: refused or failed, ``problem`` says why (its document, if any, is kept);
    - ``ignored``: not fetched (robots.txt disallows it), redirected outside the source, or
      the same page as another address.
    """

    url: str
    document: str
    kind: Literal["fetched", "unchanged", "gone", "failed", "ignored"]
    page: WebPage | None = None
    chunks: list[Document] = field(default_factory=list)
    problem: str | None = None


# ---- what a worker process does for a crawl -------------------------------------------------


@dataclass(frozen=True)
class Job:
    """What every worker call of one crawl is given: the rules, the chunking settings, the
    source (name and address) and how far apart requests start."""

    web: WebSettings
    ingest: IngestSettings
    source: str
    prefix: str
    interval: float


@dataclass
class PageRead:
    """What a worker made of one address: the answer after redirects (``status`` 0: none,
    ``problem`` says why) and, for a 200 page, its digest, links under the source and chunks
    (``unreadable``: why it holds none to index)."""

    url: str
    status: int = 0
    etag: str | None = None
    last_modified: str | None = None
    digest: str = ""
    links: list[str] = field(default_factory=list)
    chunks: list[Document] = field(default_factory=list)
    problem: str | None = None
    unreadable: str | None = None


def read_robots(job: Job, origin: str, last: float) -> tuple[RobotFileParser, float]:
    """robots.txt of ``origin``, as read for the rules: everything allowed when it is missing
    (4xx); nothing when it is forbidden (401, 403) or the server fails (5xx). One that cannot be
    read within the rules is a WebError. With when its request started."""
    parser = RobotFileParser(origin + "/robots.txt")
    with Fetcher(job.web, job.interval, last) as fetcher:
        got = fetcher.get(origin + "/robots.txt", None, limit=ROBOTS_BYTES)
    if got.status == 200:
        lines = got.body.decode("utf-8", "replace").splitlines()
    elif got.status in (401, 403) or got.status >= 500:
        lines = ["User-agent: *", "Disallow: /"]
    else:
        lines = []
    try:
        parser.parse(lines)
    except ValueError:  # a number of over 4,300 digits, an address urllib refuses
        reason = "it holds a line qa-bot cannot read, so its rules are unknown"
        raise WebError(origin + "/robots.txt", reason) from None
    return parser, fetcher.last


def read_sitemap(job: Job, url: str, last: float) -> tuple[tuple[list[str], bool], float]:
    """The entries of the sitemap at ``url`` and whether it is a sitemap index (none when it
    cannot be read within the rules); with when its request started."""
    with Fetcher(job.web, job.interval, last) as fetcher:
        try:
            got = fetcher.get(url, SITEMAP_TYPES)
        except WebError:
            return ([], False), fetcher.last
    if got.status != 200:
        return ([], False), fetcher.last
    return sitemap_entries(got.body, job.web.max_sitemap_urls), fetcher.last


def read_page(
    job: Job, url: str, validators: dict[str, str] | None, same: str | None, last: float
) -> tuple[PageRead, float]:
    """Fetch one page (conditionally with ``validators``) and read it: links, main text in
    chunks (not when its body's digest is ``same``, as indexed); with when its last request
    started."""
    with Fetcher(job.web, job.interval, last) as fetcher:
        try:
            got = fetcher.get(url, PAGE_TYPES, validators)
        except WebError as error:
            return PageRead(url, problem=error.reason), fetcher.last
    read = PageRead(normalize(got.url), got.status, got.etag, got.last_modified)
    if got.status == 200:
        _read_body(job, got, read, same)
    elif got.status not in GONE and not (got.status == 304 and validators):
        read.problem = f"the server answered {got.status}" + _hint(got, job.web)
    return read, fetcher.last


def _read_body(job: Job, got: Fetched, read: PageRead, same: str | None) -> None:
    """A 200 page's digest, links and chunks, into ``read``."""
    read.digest = hashlib.sha256(got.body).hexdigest()
    try:
        markup = _decoded(got.body, got.charset)
    except LoadError:
        read.problem = f"it is labelled {got.content_type} but holds binary data, not text"
        return
    read.links = within(_links(markup, read.url), job.prefix, job.web)
    if read.digest == same:
        return
    text, title = _main_text(markup, read.url)
    read.unreadable = _text_problem(text, job.ingest.max_text_mb)
    if read.unreadable is None:
        document = document_name(job.source, job.prefix, read.url)
        metadata = {"source": document, "title": title or document, "url": read.url}
        chunks = [Document(page_content=text, metadata=metadata)]
        read.chunks = split_documents(chunks, job.ingest.chunk_size, job.ingest.chunk_overlap)


def _text_problem(text: str, max_text_mb: float) -> str | None:
    """Why a page's text is not indexed: none, or more than ``ingest.max_text_mb``."""
    if not text.strip():
        return "it holds no text"
    if len(text) > max_text_mb * MB:
        return (
            f"it holds more than {max_text_mb:g} MB of text (raise QA_BOT_INGEST__MAX_TEXT_MB "
            "to ingest it)"
        )
    return None


def within(urls: list[str], prefix: str, web: WebSettings) -> list[str]:
    """The addresses fetching may follow: allowed by the rules and under ``prefix``."""
    kept = []
    for url in urls:
        try:
            checked = check_url(url, web)
        except WebError:
            continue
        if under(checked, prefix):
            kept.append(checked)
    return list(dict.fromkeys(kept))


# ---- a crawl --------------------------------------------------------------------------------


@dataclass
class Crawl:
    """One pass over a web source: the pages under ``prefix``, from its sitemap or by
    following links from ``prefix`` (at most ``web.max_depth`` deep), and the pages
    ``known`` from the last pass (so deleted ones are found), at most ``web.max_pages``
    requests for pages. ``indexed`` are the documents in the index: only their pages are
    asked for conditionally (an index rebuilt from scratch fetches every page again). Every
    request, and reading what it brought, runs in a worker process within ``limits``
    (``workers.run``); this process only keeps the crawl's state."""

    source: str
    prefix: str
    web: WebSettings
    known: dict[str, WebPage]
    indexed: set[str]
    ingest: IngestSettings = field(default_factory=IngestSettings)
    limits: Limits = field(default_factory=Limits)
    notes: list[str] = field(default_factory=list)
    planned: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    """The body of each page read in this pass, by SHA-256: another address with the same
    body (``?action=history``, a second name) is the same page."""
    last: float = 0.0
    """When the last request started, in whichever worker (``time.monotonic``)."""

    def __post_init__(self) -> None:
        interval = 1.0 / self.web.requests_per_second
        self._job = Job(self.web, self.ingest, self.source, self.prefix, interval)

    def _run(self, function: Callable[..., tuple[T, float]], *args: Any) -> T:
        """``function(job, *args, last)`` in a worker; keeps when its last request started
        (now, when the worker was stopped)."""
        try:
            result, self.last = run(self.limits, function, self._job, *args, self.last)
        except ReadFailed:
            self.last = time.monotonic()
            raise
        return result

    def visits(self) -> Iterator[Visit]:
        """Each address's visit, in crawl order. A start address that robots.txt disallows,
        or a robots.txt that cannot be read, is a WebError (nothing is fetched); Stopped when
        the ingestion must stop (``Limits.check``), between pages or during one."""
        robots = Robots(self.web, self._robots)
        if not robots.allows(self.prefix):
            raise WebError(self.prefix, f"robots.txt of its host disallows {self.web.user_agent}")
        delay = robots.delay(self.prefix)
        self._job = replace(self._job, interval=max(self._job.interval, delay))
        mapped = self._sitemap(robots)
        queue: deque[tuple[str, int]] = deque([(self.prefix, 0)])
        queue += [(url, 0) for url in mapped or []]
        queue += [(url, page.depth) for url, page in self.known.items()]
        seen: set[str] = set()
        pages = 0
        while queue:
            url, depth = queue.popleft()
            if url in seen:
                continue
            seen.add(url)
            if pages >= self.web.max_pages:
                self.notes.append(
                    f"stopped after {pages} pages (web.max_pages): raise it to fetch more"
                )
                return
            self.planned = max(self.planned, pages + 1 + len(queue))
            if not robots.allows(url):
                yield self._disallowed(url)
                continue
            pages += 1
            visit = self._visit(url, depth, seen)
            yield visit
            if mapped is None and visit.page and depth < self.web.max_depth:
                queue += [(link, depth + 1) for link in visit.page.links]

    def _robots(self, origin: str) -> RobotFileParser:
        """robots.txt of ``origin``, read in a worker; a WebError when it took too long."""
        try:
            return self._run(read_robots, origin)
        except ReadFailed as error:
            raise WebError(origin + "/robots.txt", str(error)) from None

    def _sitemap(self, robots: Robots) -> list[str] | None:
        """The addresses under the prefix that the first readable sitemap lists (robots.txt's
        own, then ``<prefix>sitemap.xml``, then ``/sitemap.xml``); None without one."""
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.prefix))
        folder = self.prefix if self.prefix.endswith("/") else self.prefix.rpartition("/")[0]
        candidates = robots.sitemaps(self.prefix)
        candidates += [urljoin(folder.rstrip("/") + "/", "sitemap.xml"), origin + "/sitemap.xml"]
        for candidate in dict.fromkeys(candidates):
            found = self._read_sitemap(robots, candidate, nested=True)
            if found:
                return found
        return None

    def _read_sitemap(self, robots: Robots, url: str, nested: bool) -> list[str]:
        """The pages under the prefix a sitemap lists (a sitemap index's sitemaps read too,
        one level down); empty when it cannot be read within the rules."""
        try:
            url = check_url(url, self.web)
            if not robots.allows(url):
                return []
            entries, is_index = self._run(read_sitemap, url)
        except (WebError, ReadFailed):
            return []
        if is_index:
            if not nested:
                return []
            found = []
            for child in entries[:MAX_SITEMAPS]:
                found += self._read_sitemap(robots, child, nested=False)
            return found
        return within(entries, self.prefix, self.web)

    def _disallowed(self, url: str) -> Visit:
        """A page robots.txt disallows: never fetched; a page indexed before is kept and
        reported."""
        name = document_name(self.source, self.prefix, url)
        if url in self.known:
            return Visit(url, name, "failed", problem="robots.txt now disallows it")
        return Visit(url, name, "ignored")

    def _indexed(self, url: str) -> WebPage | None:
        """The record of the page at ``url`` when its document is in the index."""
        before = self.known.get(url)
        return before if before is not None and before.document in self.indexed else None

    def _visit(self, url: str, depth: int, seen: set[str]) -> Visit:
        """Fetch and read one page in a worker (conditionally, when it is indexed) and say
        what became of it."""
        name = document_name(self.source, self.prefix, url)
        before, indexed = self.known.get(url), self._indexed(url)
        validators = _validators(indexed) if indexed else None
        try:
            read = self._run(read_page, url, validators, indexed and indexed.digest)
        except ReadFailed as error:
            return Visit(url, name, "failed", page=before, problem=str(error))
        if read.status == 304 and indexed is not None:
            return Visit(url, name, "unchanged", page=indexed)
        if read.status in GONE:
            return Visit(url, name, "gone")
        if read.status != 200:
            return Visit(url, name, "failed", page=before, problem=read.problem)
        if read.url != url:
            if not under(read.url, self.prefix) or read.url in seen:
                return Visit(url, name, "ignored")
            seen.add(read.url)
            url, name = read.url, document_name(self.source, self.prefix, read.url)
            indexed = self._indexed(url)
        return self._read(read, name, depth, indexed)

    def _read(self, read: PageRead, name: str, depth: int, before: WebPage | None) -> Visit:
        """A page's record, and its chunks when it changed since ``before``."""
        url = read.url
        if self.digests.setdefault(read.digest, url) != url:
            return Visit(url, name, "ignored")
        if read.problem:
            return Visit(url, name, "failed", page=before, problem=read.problem)
        page = WebPage(
            url=url,
            source=self.source,
            document=name,
            etag=read.etag,
            last_modified=read.last_modified,
            digest=read.digest,
            links=read.links,
            depth=depth,
        )
        if before is not None and before.digest == read.digest:
            return Visit(url, name, "unchanged", page=page)
        if read.unreadable:
            return Visit(url, name, "failed", problem=read.unreadable)
        return Visit(url, name, "fetched", page=page, chunks=read.chunks)


def _validators(page: WebPage | None) -> dict[str, str]:
    """Headers that make a server answer 304 when a page has not changed."""
    headers = {}
    if page is not None and page.etag:
        headers["If-None-Match"] = page.etag
    if page is not None and page.last_modified:
        headers["If-Modified-Since"] = page.last_modified
    return headers


def _hint(got: Fetched, web: WebSettings) -> str:
    """What to do about an error status, when there is something to do."""
    if got.status not in (401, 403):
        return ""
    if (web.auth_header or web.cookie) and not origin_listed(got.url, web.allowed_hosts):
        return (
            ": the wiki wants credentials, which qa-bot sends only to a host and port "
            f"web.allowed_hosts names (add {urlsplit(got.url).netloc} to send them there)"
        )
    return ": the wiki wants credentials qa-bot lacks (set web.auth_header or web.cookie)"
