"""A small generated wiki served by a real HTTP server on 127.0.0.1, for the web-source tests and
``bench/web_extraction.py``: 24 pages in four sections under ``/space/``, each with a header
menu, a sidebar, a footer and one fact of its own; a sitemap, a robots.txt rule, a redirect,
ETag / Last-Modified / neither by page; and faults a test switches on per path (slow, huge,
a gzip bomb, redirects off the allow-list, wrong content types, …); and a raw server that
sends its whole answer, status line and headers included, a byte at a time."""

from __future__ import annotations

import gzip
import hashlib
import html
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

SECTIONS = {
    "facilities": [
        (
            "badge-office",
            "Badge office",
            "The badge office on floor 2 opens at 8:15 and closes at 16:30.",
        ),
        (
            "parking-garage",
            "Parking garage",
            "The parking garage under building C has 340 "
            "spaces, of which 12 have chargers for electric cars.",
        ),
        (
            "bike-storage",
            "Bike storage",
            "Bicycles are kept in the locked shed behind the "
            "north entrance, which opens with a staff badge.",
        ),
        (
            "mail-room",
            "Mail room",
            "Parcels for staff are held in the mail room for ten "
            "working days before they go back to the sender.",
        ),
        (
            "cafeteria-menu",
            "Cafeteria menu",
            "On Tuesdays the cafeteria serves mushroom lasagna as its hot dish.",
        ),
        (
            "fax-machine",
            "Fax machine",
            "The last fax machine stands in room 4.17 and sends only to numbers in the country.",
        ),
    ],
    "it": [
        (
            "vpn-access",
            "VPN access",
            "Staff connect to the VPN with the Tunnelblick profile "
            "that the IT portal issues for each laptop.",
        ),
        (
            "printer-fleet",
            "Printer fleet",
            "The printer fleet counts 48 Kyocera machines, and "
            "toner is ordered through ticket queue PRN.",
        ),
        (
            "laptop-refresh",
            "Laptop refresh",
            "Laptops are replaced every four years, in the month the warranty ends.",
        ),
        (
            "helpdesk",
            "IT helpdesk",
            "The IT helpdesk answers on extension 4357 from 7:00 to 19:00 on working days.",
        ),
        (
            "password-policy",
            "Password policy",
            "Passwords need at least 14 characters and are "
            "never changed on a schedule, only after a suspected leak.",
        ),
        (
            "handbook",
            "IT handbook",
            "The IT handbook is reviewed by the security team every March.",
        ),
    ],
    "people": [
        (
            "expense-claims",
            "Expense claims",
            "Expense claims are paid with the salary of the month after they are approved.",
        ),
        (
            "travel-booking",
            "Travel booking",
            "Train is the rule for trips under 600 kilometres; flights need a manager's approval.",
        ),
        (
            "holiday-calendar",
            "Holiday calendar",
            "The office closes between Christmas and New "
            "Year, and those days do not count as leave.",
        ),
        (
            "onboarding",
            "Onboarding",
            "Every newcomer is given a buddy from another team for the first six weeks.",
        ),
        (
            "parental-leave",
            "Parental leave",
            "Parents receive 20 weeks of paid leave, to be taken within two years of the birth.",
        ),
        ("gym", "Gym", "The staff gym in the basement is free and open from 6:00 to 22:00."),
    ],
    "safety": [
        (
            "fire-drills",
            "Fire drills",
            "Fire drills take place on the first Wednesday of April and October at 10:30.",
        ),
        (
            "first-aid",
            "First aid",
            "First-aid kits hang next to every lift, and the trained "
            "first aiders wear green lanyards.",
        ),
        (
            "visitor-policy",
            "Visitor policy",
            "Visitors sign in at reception and are escorted by their host at all times.",
        ),
        (
            "security-training",
            "Security training",
            "The yearly security training takes 45 minutes and is due by the end of June.",
        ),
        (
            "lab-access",
            "Lab access",
            "The chemistry lab opens only to staff who passed the hazardous materials course.",
        ),
        (
            "recycling",
            "Recycling",
            "Batteries go in the red bins by the mail room, never in the paper recycling.",
        ),
    ],
}
"""Section -> pages (slug, title, fact): 24 pages, each with one fact no other page holds."""

FILLER = (
    "This page is kept by the {section} team. "
    "Ask in the team channel when something here is out of date."
)
CHANGED = {
    "cafeteria-menu": "On Tuesdays the cafeteria now serves vegetable ramen as its hot dish."
}
NAV = "Home · All spaces · Search the wiki · Log out"
SIDEBAR = "Recently changed: Gym, Badge office, VPN access"
FOOTER = "Copyright 2025 Example Corp. Privacy notice. Powered by WikiEngine 4.2."
BOILERPLATE = [NAV, SIDEBAR, FOOTER, "Edit this page", "Page history"]
"""Text every page shows around its content: none of it may reach the index."""
RECENT = ["gym", "badge-office", "vpn-access"]
DATE = "Wed, 01 Jan 2025 10:00:00 GMT"


def pages_by_slug() -> dict[str, tuple[str, str, str]]:
    """Every page: slug -> (section, title, fact)."""
    return {slug: (s, title, fact) for s, pages in SECTIONS.items() for slug, title, fact in pages}


def _layout(title: str, body: str) -> str:
    """A page of the wiki: menu, sidebar and footer around ``body``."""
    recent = "".join(
        f'<li><a href="/space/{slug}">{html.escape(pages_by_slug()[slug][1])}</a></li>'
        for slug in RECENT
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · Team wiki</title>
<link rel="stylesheet" href="/static/wiki.css"></head>
<body>
<header class="topbar"><nav class="menu">
<a href="/">Home</a> · <a href="/spaces">All spaces</a> · <a href="/search">Search the wiki</a>
· <a href="/logout">Log out</a></nav></header>
<div class="layout">
<aside class="sidebar"><p>Recently changed: Gym, Badge office, VPN access</p><ul>{recent}</ul>
</aside>
<main id="content">
<div class="page-tools"><a href="?action=edit" rel="nofollow">Edit this page</a>
<a href="?action=history">Page history</a></div>
{body}
</main>
</div>
<footer class="site-footer"><p>Copyright 2025 Example Corp. <a href="/privacy">Privacy notice</a>.
Powered by WikiEngine 4.2.</p></footer>
</body></html>
"""


def page_html(slug: str, fact: str | None = None) -> str:
    """One wiki page: its title, its fact, a filler paragraph and links to its section."""
    section, title, default = pages_by_slug()[slug]
    siblings = " · ".join(
        f'<a href="/space/{other}">{html.escape(name)}</a>'
        for other, name, _ in SECTIONS[section]
        if other != slug
    )
    body = (
        f"<article><h1>{html.escape(title)}</h1>\n<p>{html.escape(fact or default)}</p>\n"
        f"<p>{FILLER.format(section=section)}</p>\n"
        f'<p class="see-also">See also: <a href="/space/{section}/">{section}</a> · {siblings}'
        "</p></article>"
    )
    return _layout(title, body)


def section_html(section: str) -> str:
    """A section's page: links to its pages."""
    items = "".join(
        f'<li><a href="/space/{slug}">{html.escape(title)}</a></li>'
        for slug, title, _ in SECTIONS[section]
    )
    body = (
        f"<article><h1>The {section} section</h1><p>Pages of the {section} team.</p>"
        f"<ul>{items}</ul></article>"
    )
    return _layout(f"{section} section", body)


def index_html(port: int) -> str:
    """The space's home: links to the sections, a private page robots.txt disallows, the old
    name of a page that redirects, a page outside the space and one on a host not allowed."""
    sections = "".join(f'<li><a href="/space/{s}/">{s}</a></li>' for s in SECTIONS)
    body = (
        "<article><h1>Team space</h1><p>Welcome to the team space of Example Corp.</p>"
        f"<ul>{sections}</ul>"
        '<p><a href="/space/private/salaries">Salaries</a> · '
        '<a href="/space/old-handbook">Old IT handbook</a> · '
        '<a href="/other/">Another space</a> · '
        f'<a href="http://localhost:{port}/space/gym">Gym (by name)</a> · '
        '<a href="/space/../other/escape">Up</a> · '
        '<a href="/space/%2e%2e/other/encoded">Encoded up</a> · '
        '<a href="mailto:wiki@example.com">Mail us</a> · '
        '<a href="javascript:alert(1)">Script</a></p></article>'
    )
    return _layout("Team space", body)


def sitemap_xml(base: str) -> str:
    """The space's sitemap: home, sections, pages (and, like real ones, a URL off the space)."""
    urls = [f"{base}/space/"] + [f"{base}/space/{s}/" for s in SECTIONS]
    urls += [f"{base}/space/{slug}" for slug in pages_by_slug()]
    urls += [f"{base}/other/listed", "file:///etc/passwd"]
    locs = "".join(f"<url><loc>{html.escape(u)}</loc></url>" for u in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>\n'
    )


ROBOTS = """User-agent: *
Disallow: /space/private/
Disallow: /trap/private
Sitemap: {base}/space/sitemap.xml
"""


@dataclass
class Reply:
    """What the server answers for one path."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    drip: float = 0.0  # seconds between bytes (a body sent one byte at a time)


@dataclass
class Wiki:
    """The served wiki and what it was asked. Tests change ``facts`` (a page's fact),
    ``gone`` (pages answering 404), ``faults`` (path -> Reply) and ``sitemap``."""

    port: int = 0
    facts: dict[str, str] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    faults: dict[str, Reply] = field(default_factory=dict)
    sitemap: bool = True
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        """The paths asked for, in order."""
        with self.lock:
            return [path for path, _ in self.requests]

    def forget(self) -> None:
        with self.lock:
            self.requests.clear()

    def reply(self, path: str) -> Reply:
        """The answer to a GET of ``path`` (query string dropped)."""
        if path in self.faults:
            return self.faults[path]
        if path == "/robots.txt":
            return _text(ROBOTS.format(base=self.base), "text/plain")
        if path == "/space/sitemap.xml" and self.sitemap:
            return _text(sitemap_xml(self.base), "application/xml")
        if path == "/space/old-handbook":
            return Reply(301, headers={"Location": "/space/handbook"})
        if path == "/space/":
            return _page(index_html(self.port), 0)
        slug = path.removeprefix("/space/")
        if slug.rstrip("/") in SECTIONS and slug.endswith("/"):
            return _page(section_html(slug.rstrip("/")), 1)
        if path.startswith("/space/") and slug in pages_by_slug() and slug not in self.gone:
            number = list(pages_by_slug()).index(slug)
            return _page(page_html(slug, self.facts.get(slug)), number)
        if path.startswith("/other/"):
            return _text("<html><body><p>Another space.</p></body></html>", "text/html")
        return Reply(404, b"Not found", {"Content-Type": "text/plain"})


def _text(text: str, content_type: str) -> Reply:
    return Reply(200, text.encode(), {"Content-Type": f"{content_type}; charset=utf-8"})


def _page(text: str, number: int) -> Reply:
    """A page with an ETag (every third page), a Last-Modified date (the next) or neither."""
    reply = _text(text, "text/html")
    if number % 3 == 0:
        reply.headers["ETag"] = '"' + hashlib.sha256(reply.body).hexdigest()[:16] + '"'
    elif number % 3 == 1:
        reply.headers["Last-Modified"] = DATE if "now serves" not in text else "Thu, 02 Jan 2025"
    return reply


def gzip_bomb(megabytes: int) -> Reply:
    """``megabytes`` of zeros, gzipped to a few KB, served as a gzip-encoded page."""
    body = gzip.compress(b"<html><body><p>" + b"0" * (megabytes * 1024 * 1024), 9)
    headers = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    return Reply(200, body, headers)


class _Handler(http.server.BaseHTTPRequestHandler):
    wiki: Wiki
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with self.wiki.lock:
            self.wiki.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
        reply = self.wiki.reply(path)
        time.sleep(reply.delay)
        status, headers = reply.status, dict(reply.headers)
        etag, since = headers.get("ETag"), headers.get("Last-Modified")
        unchanged = (etag and self.headers.get("If-None-Match") == etag) or (
            not etag and since and self.headers.get("If-Modified-Since") == since
        )
        body = b"" if unchanged else reply.body
        self.send_response(304 if unchanged and status == 200 else status)
        chunked = reply.drip > 0 or headers.pop("Transfer-Encoding", "") == "chunked"
        for name, value in headers.items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self._send_body(body, chunked, reply.drip)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_body(self, body: bytes, chunked: bool, drip: float) -> None:
        if not chunked:
            self.wfile.write(body)
            return
        step = 1 if drip else 64 * 1024
        for start in range(0, len(body), step):
            piece = body[start : start + step]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            time.sleep(drip)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet


@contextmanager
def serve_wiki(wiki: Wiki | None = None) -> Iterator[Wiki]:
    """Serve ``wiki`` (a new one by default) on a free 127.0.0.1 port until the block ends."""
    wiki = wiki or Wiki()
    handler = type("Handler", (_Handler,), {"wiki": wiki})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    wiki.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield wiki
    finally:
        server.shutdown()
        server.server_close()


def main_text(slug: str) -> list[str]:
    """The sentences of a page's own content (what extraction must keep)."""
    section, title, fact = pages_by_slug()[slug]
    filler = FILLER.format(section=section).split(". ")
    return [title, fact, filler[0] + ".", filler[1]]


@contextmanager
def serve_drip(answer: bytes, every: float) -> Iterator[int]:
    """A raw server on a free 127.0.0.1 port that sends ``answer`` (status line, headers and
    body) to each connection one byte every ``every`` seconds, until the block ends; yields
    its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def drip(connection: socket.socket) -> None:
        with connection:
            for byte in answer:
                if stop.wait(every):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=drip, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()
