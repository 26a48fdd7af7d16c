"""``qa-bot doctor``: is everything qa-bot needs here, and if not, how to fix it."""

from __future__ import annotations

import shutil
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from qa_bot.config import Settings
from qa_bot.errors import QaBotError

Status = Literal["ok", "warn", "fail"]
BROWSER = "/usr/bin/chromium"


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("Python", "ok", f"{version} at {sys.executable}")  # pip enforced >= 3.11


def _embedding_model(settings: Settings) -> Check:
    from qa_bot.storage.embeddings import bundled_models

    name = settings.store.embedding_model  # the settings checked it is a folder or registered
    if Path(name).expanduser().is_dir():
        return Check("Embedding model", "ok", f"the folder {name}")
    bundled = bundled_models()
    if name in bundled:
        return Check("Embedding model", "ok", f"{name} in {bundled[name]}")
    return Check("Embedding model", "ok", f"{name} (registered by a plugin)")


def _browser() -> Check:
    found = shutil.which("chromium") or (BROWSER if shutil.which(BROWSER) else None)
    if found:
        return Check("Browser (tests)", "ok", found)
    return Check(
        "Browser (tests)",
        "warn",
        "Chromium is missing: only the browser tests need it; `make test` installs it "
        "(sudo apt-get install chromium)",
    )


def _ocr(settings: Settings) -> Check:
    from qa_bot.ingest.ocr import tesseract_languages, tesseract_version

    if not settings.ingest.ocr:
        return Check("OCR", "ok", "off: scanned PDF pages and images are skipped")
    version = tesseract_version()
    if version is None:
        return Check(
            "OCR",
            "warn",
            "Tesseract is missing: scanned PDF pages and images are skipped "
            "(sudo apt-get install tesseract-ocr; `make test` installs it)",
        )
    languages = settings.ingest.ocr_language.split("+")
    missing = [name for name in languages if name not in tesseract_languages()]
    if missing:
        return Check(
            "OCR",
            "warn",
            f"Tesseract {version} lacks the language data {', '.join(missing)}: install it "
            f"(sudo apt-get install tesseract-ocr-{missing[0].replace('_', '-')}) or change "
            "QA_BOT_INGEST__OCR_LANGUAGE",
        )
    return Check("OCR", "ok", f"Tesseract {version}, language {settings.ingest.ocr_language}")


def _index(settings: Settings) -> Check:
    from qa_bot.storage.store import Store

    where = (
        f"Chroma server {settings.store.chroma_host}:{settings.store.chroma_port}"
        if settings.server_mode
        else str(settings.data_path)
    )
    try:
        count = Store.open(settings).count()
    except QaBotError as error:
        return Check("Index", "fail", str(error))
    if count == 0:
        return Check("Index", "warn", f"{where} is empty: run `qa-bot ingest`")
    return Check("Index", "ok", f"{count} chunks in {where}")


def _llm_server(settings: Settings) -> Check:
    if settings.answer.answerer != "openai":
        return Check("LLM server", "ok", f"not used (answerer {settings.answer.answerer})")
    url = settings.openai.base_url.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(url, timeout=5):
            pass
    except OSError as error:
        return Check(
            "LLM server",
            "fail",
            f"{url} does not answer ({error}): start the server or fix QA_BOT_OPENAI__BASE_URL",
        )
    return Check("LLM server", "ok", url)


def run_checks(settings: Settings) -> Iterator[Check]:
    """Every check, cheapest first."""
    checks: list[Callable[[], Check]] = [
        _python,
        _browser,
        lambda: _ocr(settings),
        lambda: _embedding_model(settings),
        lambda: _index(settings),
        lambda: _llm_server(settings),
    ]
    for check in checks:
        yield check()
