"""Main-text extraction of web pages, measured on the generated wiki of the tests
(``tests/wiki_site.py``: 24 pages, each with a menu, a sidebar, page tools and a footer):
trafilatura (what web sources use) against the HTML loader of files (``html_text``).

    .venv/bin/python -m bench.web_extraction      # a second

Prints, per extractor, the content sentences kept, the boilerplate lines leaked and the time,
and writes them to bench/results/web-extraction.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from qa_bot.ingest.loaders import html_text
from qa_bot.ingest.web import page_text
from tests.wiki_site import BOILERPLATE, main_text, page_html, pages_by_slug

RESULTS = Path(__file__).parent / "results" / "web-extraction.json"
Extractor = Callable[[bytes, str], str]


def _trafilatura(body: bytes, url: str) -> str:
    return page_text(body, "utf-8", url)[0]


def _html_loader(body: bytes, url: str) -> str:
    return html_text(body.decode())[0]


def measure(extract: Extractor) -> dict[str, float]:
    """Content sentences kept and boilerplate lines leaked over every page of the wiki."""
    kept = content = leaked = 0
    started = time.perf_counter()
    for slug in pages_by_slug():
        text = extract(page_html(slug).encode(), f"http://wiki.test/space/{slug}")
        sentences = main_text(slug)
        kept += sum(sentence in text for sentence in sentences)
        content += len(sentences)
        leaked += sum(line in text for line in BOILERPLATE)
    return {
        "content_kept": kept,
        "content_sentences": content,
        "boilerplate_leaked": leaked,
        "boilerplate_lines": len(BOILERPLATE) * len(pages_by_slug()),
        "ms_per_page": round(1000 * (time.perf_counter() - started) / len(pages_by_slug()), 2),
    }


def main() -> None:
    results = {"trafilatura": measure(_trafilatura), "html loader": measure(_html_loader)}
    print("| extractor | content sentences kept | boilerplate lines leaked | ms per page |")
    print("| --- | --- | --- | --- |")
    for name, r in results.items():
        print(
            f"| {name} | {r['content_kept']}/{r['content_sentences']} | "
            f"{r['boilerplate_leaked']}/{r['boilerplate_lines']} | {r['ms_per_page']} |"
        )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
