"""One typed settings object, nested per concern, read from ``QA_BOT_*`` env vars and an optional
``qa-bot.toml``. A key nobody knows (a typo in the file, an unknown variable) is an error."""

from __future__ import annotations

import logging
import os
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from qa_bot.errors import SettingsError
from qa_bot.registry import ANSWERERS, EMBEDDINGS, INDEXES, RERANKERS

log = logging.getLogger(__name__)
ENV_PREFIX = "QA_BOT_"
ENV_NESTING = "__"
CONFIG_FILE = "qa-bot.toml"
RENAMED = {("answer", "generator"): "answerer"}
"""Former setting names, (section, old key) -> new key: still read, with a line saying to
rename them, from the environment, ``qa-bot.toml``, arguments and ``Settings.updated``."""
OCR_MIN_CONFIDENCE = 75.0
"""Tesseract's mean word confidence below which a line is noise (docs/ocr-choice.md)."""
MIN_TOP_K, MAX_TOP_K = 1, 50
"""Bounds of the chunks handed to the answerer, in settings and per question."""


@cache
def _say_renamed(old: str, new: str) -> None:
    """One line, once per process, for a setting read under its former name."""
    log.warning("%s is now %s: rename it, the old name will go.", old, new)


class Section(BaseModel):
    """A group of settings; unknown keys are refused, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(Section):
    """Where the index lives and how chunks are embedded."""

    data_dir: Path = Field(Path(".qa-bot"), description="Where the index lives (one per data dir).")
    chroma_host: str | None = Field(None, description="Chroma server host; unset = embedded.")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    collection: str | None = Field(
        None, description="Chroma collection name; default derives from the data dir's id."
    )
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="A registered embedding model (the bundled all-MiniLM-L6-v2; "
        "all-mpnet-base-v2 with `pip install 'qa-bot[mpnet]'`) or a local sentence-transformers "
        "folder.",
    )
    embed_batch_size: int = Field(32, ge=1, description="Texts embedded per model call.")
    index: str = Field(
        "chroma",
        description="A registered vector index: 'chroma' (embedded, or the server chroma_host "
        "names).",
    )
    encoder: Literal["torch", "openvino"] = Field(
        "openvino",
        description="What runs the embedding model and the reader: PyTorch, or OpenVINO "
        "(converted once from "
        "the same weights into encoder_cache; faster on CPU). An index keeps the encoder it "
        "was built with: changing it needs `qa-bot ingest --rebuild`.",
    )
    precision: Literal["auto", "fp32", "int8"] = Field(
        "auto",
        description="OpenVINO's precision: auto (bf16 where the CPU has it, else fp32), fp32, "
        "or int8 (quantized); PyTorch runs fp32 (auto).",
    )
    encoder_cache: Path = Field(
        Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "qa-bot",
        description="Where the OpenVINO conversion of the embedding model is kept.",
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL for ingestion records and feedback, shared by replicas "
        "(postgresql+psycopg://user:password@host/db); unset = SQLite files in the data dir.",
    )
    follow_seconds: float = Field(
        2.0,
        ge=0,
        description="How often a process checks Chroma for documents another process changed.",
    )

    @field_validator("database_url")
    @classmethod
    def _usable_url(cls, value: SecretStr | None) -> SecretStr | None:
        """A SQLAlchemy URL whose driver is installed."""
        if value is not None:
            from sqlalchemy import make_url

            try:
                make_url(value.get_secret_value()).get_dialect()
            except Exception:
                raise ValueError(
                    "not a SQLAlchemy URL with an installed driver; for PostgreSQL write "
                    "postgresql+psycopg://user:password@host/db"
                ) from None
        return value

    @field_validator("index")
    @classmethod
    def _known_index(cls, value: str) -> str:
        return INDEXES.check(value)

    @field_validator("embedding_model")
    @classmethod
    def _known_embedding_model(cls, value: str) -> str:
        if Path(value).expanduser().is_dir():
            return value
        return EMBEDDINGS.check(value)

    @model_validator(mode="after")
    def _precision_of_encoder(self) -> StoreSettings:
        """PyTorch runs the model as it ships; only OpenVINO converts it."""
        if self.encoder == "torch" and self.precision != "auto":
            raise ValueError(
                f"precision {self.precision} needs encoder openvino (PyTorch runs fp32: "
                "leave precision at auto)"
            )
        return self

    @property
    def runner(self) -> str:
        """What runs the model, as an index records it: ``torch`` or ``openvino-<precision>``."""
        return "torch" if self.encoder == "torch" else f"openvino-{self.precision}"

    @property
    def shared(self) -> bool:
        """True when the collection is named, so other replicas may write to it too."""
        return self.collection is not None


class IngestSettings(Section):
    """What is ingested and how documents are cut into chunks."""

    corpus_dir: Path = Field(Path("corpus"), description="Folder `qa-bot ingest` reads by default.")
    chunk_size: int = Field(800, ge=100, description="Target chunk length in characters.")
    chunk_overlap: int = Field(200, ge=0, description="Characters of whole sentences repeated.")
    max_file_mb: float = Field(
        50, gt=0, description="Largest file ingested or uploaded, in MB (larger ones are skipped)."
    )
    max_unpacked_mb: float = Field(
        200,
        gt=0,
        description="Largest a .docx, .pptx or .xlsx may grow when unzipped, in MB (guards "
        "against zip bombs).",
    )
    max_part_mb: float = Field(
        50,
        gt=0,
        description="Largest one part of a .docx may grow when unzipped, in MB (counted as read).",
    )
    max_text_mb: float = Field(
        2,
        gt=0,
        description="Most text one file may hold, in MB: about what 2 cores embed in a few "
        "minutes (larger files are skipped).",
    )
    max_rows: int = Field(
        10_000,
        ge=1,
        description="Most rows read from one spreadsheet or CSV file, all sheets together: the "
        "rest is left out, and the ingestion report says so.",
    )
    max_cells: int = Field(
        200_000,
        ge=1,
        description="Most cells read from one spreadsheet, CSV file or slide deck's tables: the "
        "rest is left out, and the ingestion report says so.",
    )
    parse_timeout_seconds: float = Field(
        60,
        gt=0,
        le=3600,
        description="Longest one file may take to read, or one web page to fetch and read, in "
        "seconds: its reader process is then stopped and the file or page skipped.",
    )
    parse_memory_mb: float = Field(
        1024,
        ge=256,
        le=65536,
        description="Most memory (address space) the process reading one file or web page may "
        "use, in MB: past it the file or page is skipped.",
    )
    max_source_minutes: float = Field(
        120,
        gt=0,
        le=10080,
        description="Longest one source's ingestion may take, in minutes: past it the files or "
        "pages not yet read are left as they were, until the next resync.",
    )
    ocr: bool = Field(
        True,
        description="Read scanned PDF pages and images (.png, .jpg, .tif, .webp) with Tesseract "
        "OCR; off, they are skipped.",
    )
    ocr_language: str = Field(
        "eng",
        pattern=r"^[a-z_]{3,16}(\+[a-z_]{3,16}){0,4}$",
        description="Tesseract's language data to read with: 'eng', or several as 'eng+deu' "
        "(each installed, e.g. apt-get install tesseract-ocr-deu).",
    )
    ocr_dpi: int = Field(
        300, ge=72, le=600, description="Resolution a scanned PDF page is rendered at for OCR."
    )
    ocr_max_megapixels: float = Field(
        60,
        gt=0,
        le=1000,
        description="Largest image read by OCR, in millions of pixels (larger ones are skipped: "
        "a few bytes can claim a billion pixels).",
    )
    ocr_max_pages: int = Field(
        200, ge=1, description="Most pages (or image frames) of one file read by OCR."
    )
    ocr_page_seconds: float = Field(
        60, gt=0, le=3600, description="Longest OCR of one page may take, in seconds."
    )
    ocr_file_seconds: float = Field(
        900,
        gt=0,
        le=86400,
        description="Longest OCR of one file may take, in seconds, all pages together (a file "
        "over it is skipped); counted on top of parse_timeout_seconds.",
    )
    ocr_min_confidence: float = Field(
        OCR_MIN_CONFIDENCE,
        ge=0,
        le=100,
        description="Lines Tesseract reads with a lower mean word confidence (0-100) are left out: "
        "mostly noise, never quoted.",
    )


HOST_PATTERN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9-]+|\[[0-9a-f:.]+\]")
"""A host name, an IPv4 address, or an IPv6 address in brackets (lower case)."""
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
"""An HTTP header name (RFC 9110 token)."""


def split_host(entry: str) -> tuple[str, int | None]:
    """'host', 'host:port', '[v6]' or '[v6]:port' as (host, port or None); a port that is not a
    number is -1. A final dot of a host name is dropped (the same host in DNS)."""
    if entry.startswith("["):
        host, _, rest = entry.partition("]")
        host, port = host + "]", rest.removeprefix(":") if rest else None
        if rest and not rest.startswith(":"):
            port = "x"
    else:
        host, colon, port_text = entry.partition(":")
        port = port_text if colon else None
    number = None if port is None else int(port) if port.isdigit() else -1
    return host.rstrip("."), number


class WebSettings(Section):
    """Web sources (`qa-bot ingest https://…`): where qa-bot may fetch pages and how
    (docs/security.md). With no host allowed, web sources are refused."""

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts web sources may be fetched from: a name ('wiki.example.internal', "
        "any port; credentials only on the scheme's default port) or a name and port "
        "('127.0.0.1:8080'); empty = no web sources.",
    )
    max_pages: int = Field(500, ge=1, le=100_000, description="Most pages one web source holds.")
    max_depth: int = Field(
        5,
        ge=0,
        le=50,
        description="Most links followed from the source's address (without a sitemap).",
    )
    requests_per_second: float = Field(
        2.0,
        gt=0,
        le=100,
        description="Most requests a second to the wiki (robots.txt's "
        "Crawl-delay slows it further).",
    )
    timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Longest one request may take, answer included."
    )
    max_page_mb: float = Field(
        5, gt=0, le=100, description="Largest page, sitemap or robots.txt read, in MB (unpacked)."
    )
    max_sitemap_urls: int = Field(
        50_000,
        ge=1,
        le=1_000_000,
        description="Most addresses read from one sitemap (50,000 is the sitemap protocol's "
        "own limit).",
    )
    max_crawl_delay_seconds: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="Longest wait between requests robots.txt may ask for (Crawl-delay, "
        "Request-rate); a host asking for more is not crawled.",
    )
    user_agent: str = Field(
        "qa-bot",
        min_length=1,
        max_length=200,
        description="User-Agent sent, and the name robots.txt rules are read for.",
    )
    auth_header: SecretStr | None = Field(
        None,
        description="A header sent to the hosts web.allowed_hosts names, on the port listed "
        "(else the scheme's default port), 'Name: value' (e.g. 'Authorization: Bearer …'); "
        "never logged or shown.",
    )
    cookie: SecretStr | None = Field(
        None,
        description="A Cookie header sent where web.auth_header is ('session=…'); never "
        "logged or shown.",
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        """Lower-case host names, each with an optional port; no scheme, path or user."""
        checked = []
        for entry in hosts:
            host, port = split_host(entry.strip().lower())
            if not HOST_PATTERN.fullmatch(host) or not (port is None or 0 < port < 65536):
                raise ValueError(
                    f"'{entry[:100]}' is not a host name: write 'wiki.example.internal' or "
                    "'wiki.example.internal:8080', without http:// or a path"
                )
            checked.append(host if port is None else f"{host}:{port}")
        return checked

    @field_validator("user_agent")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("the user agent must be one line of printable text")
        return value

    @field_validator("auth_header")
    @classmethod
    def _header(cls, value: SecretStr | None) -> SecretStr | None:
        """'Name: value', one line (the value itself is never put in a message)."""
        if value is not None:
            name, colon, text = value.get_secret_value().partition(":")
            if not colon or not HEADER_NAME.fullmatch(name.strip()) or not text.strip():
                raise ValueError(
                    "write the header as 'Name: value', e.g. 'Authorization: Bearer …'"
                )
            if not (text.strip().isprintable() and text.isascii()):
                raise ValueError("the header's value must be one line of printable ASCII")
        return value

    @field_validator("cookie")
    @classmethod
    def _cookie(cls, value: SecretStr | None) -> SecretStr | None:
        text = value.get_secret_value().strip() if value is not None else ""
        if value is not None and not (text.isprintable() and text.isascii()):
            raise ValueError("the cookie must be one line of printable ASCII, 'name=value'")
        return value

    def header(self) -> tuple[str, str] | None:
        """The credential header as (name, value), when one is set."""
        if self.auth_header is None:
            return None
        name, _, value = self.auth_header.get_secret_value().partition(":")
        return name.strip(), value.strip()


class RetrievalSettings(Section):
    """How chunks are found and ranked for a question."""

    mode: Literal["dense", "bm25", "hybrid"] = Field(
        "hybrid", description="First-stage search: embeddings, BM25 keywords, or both fused (RRF)."
    )
    candidates: int = Field(
        20, ge=1, le=200, description="Chunks each first-stage search returns for reranking."
    )
    reranker: str = Field(
        "sentence",
        description="A registered reranker ('sentence', 'reader', 'none') or the folder of a local "
        "sentence-transformers cross-encoder.",
    )
    mmr_lambda: float | None = Field(
        None, ge=0, le=1, description="Set (e.g. 0.7) to diversify the top-k with MMR."
    )
    top_k: int = Field(5, ge=MIN_TOP_K, le=MAX_TOP_K, description="Chunks handed to the answerer.")

    @field_validator("reranker")
    @classmethod
    def _known_reranker(cls, value: str) -> str:
        if Path(value).expanduser().is_dir():
            return value
        return RERANKERS.check(value)


class AnswerSettings(Section):
    """How answers are written and which questions are accepted."""

    answerer: str = Field(
        "extractive",
        description="A registered answerer: 'extractive' quotes the documents (offline); "
        "'openai' asks an OpenAI-compatible chat endpoint; 'local' an instruct model in-process. "
        "(Formerly 'generator'.)",
    )
    min_support: float = Field(
        0.48,
        ge=0,
        le=1,
        description="Below this sentence score the extractive answerer refuses (without the "
        "reader).",
    )
    reader_min_support: float = Field(
        0.40,
        ge=0,
        le=1,
        description="With the reader, sentences scoring at least this are read, whatever kind "
        "of answer they hold: the reader judges which answers, and its veto refuses.",
    )
    reader: bool = Field(
        True,
        description="The extractive answerer reads its best sentences with qa-bot's reader "
        "(sentence choice, short answer, refusal).",
    )
    reader_veto: float | None = Field(
        None,
        ge=0,
        le=1,
        description="With the reader, a sentence it gives a lower probability of answering is "
        "not quoted; unset: the value calibrated on held-out training data (the reader's card).",
    )
    max_sentences: int = Field(2, ge=1, le=5, description="Sentences in an extractive answer.")
    unsupported: Literal["drop", "flag"] = Field(
        "drop",
        description="A generated sentence no source grounds is dropped from the answer (and "
        "listed apart), or kept and flagged as unsupported.",
    )
    max_question_chars: int = Field(2000, ge=10, description="Longest question accepted.")
    max_history_turns: int = Field(
        4, ge=0, le=20, description="Earlier turns a follow-up question may draw on."
    )

    @field_validator("answerer")
    @classmethod
    def _known_answerer(cls, value: str) -> str:
        return ANSWERERS.check(value)


class OpenAISettings(Section):
    """The OpenAI-compatible LLM endpoint the ``openai`` answerer talks to."""

    base_url: str = Field(
        "http://127.0.0.1:8080/v1", description="OpenAI-compatible endpoint, ending in /v1."
    )
    model: str = Field("default", description="Model name sent to the endpoint.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Env var holding the API key (local servers need none)."
    )
    timeout: float = Field(
        60.0, gt=0, description="Seconds to wait for the endpoint (connect, and each read)."
    )
    max_retries: int = Field(0, ge=0, le=5, description="Retries after a failed call.")
    max_tokens: int = Field(400, ge=16, description="Longest answer, in tokens.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")


class LocalSettings(Section):
    """The ``local`` answerer: an instruct model run in-process by llama.cpp (``.[local]``)."""

    model: str = Field(
        "qwen2.5-coder-1.5b",
        description="A model installed from PyPI by the local extra ('qwen2.5-coder-1.5b', or "
        "'qwen2.5-coder-0.5b' once its parts are installed), or the path of a GGUF file.",
    )
    cache_dir: Path = Field(
        Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "qa-bot",
        description="Where a model shipped in parts is assembled once.",
    )
    context_tokens: int = Field(4096, ge=512, description="The model's context window.")
    threads: int | None = Field(None, ge=1, description="CPU threads; default: all cores.")
    max_tokens: int = Field(200, ge=16, description="Longest answer, in tokens.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")


class ServerSettings(Section):
    """`qa-bot serve`: where it listens and who may use it (docs/security.md)."""

    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(7860, ge=1, le=65535, description="Port the server listens on.")
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1", "[::1]"],
        description="Host names the server answers to (blocks DNS rebinding); add your "
        "server's name when it is reached by name.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Other sites (e.g. https://wiki.example.com) that may call the API and "
        "frame the chat; empty = same origin only.",
    )
    api_key: SecretStr | None = Field(
        None, description="One admin API key (more keys, with roles: `qa-bot keys add`)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses (IPs or CIDRs) of reverse proxies whose user header and "
        "X-Forwarded-For are believed; empty = none.",
    )
    proxy_user_header: str = Field(
        "X-Forwarded-User", description="Header a trusted proxy names the signed-in user in."
    )
    proxy_email_header: str = Field(
        "X-Forwarded-Email", description="Header a trusted proxy gives the user's email in."
    )
    proxy_groups_header: str = Field(
        "X-Forwarded-Groups",
        description="Header a trusted proxy lists the user's groups in (comma-separated): "
        "they read the sources restricted to those groups.",
    )
    admins: list[str] = Field(
        default_factory=list, description="Proxy users or emails who are admins (others read)."
    )
    anonymous_widget: bool = Field(
        False, description="Let the widget on an allowed origin ask as an anonymous reader."
    )
    rate_limit: int = Field(
        60, ge=1, description="Requests per minute one client may make (API and chat)."
    )
    max_body_kb: int = Field(
        256, ge=1, description="Largest request body, in KB (uploads: ingest.max_file_mb)."
    )
    session_hours: float = Field(12, gt=0, description="How long a chat login lasts.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="qa-bot's log level; at info, one line per question."
    )
    metrics: bool = Field(True, description="Serve Prometheus metrics at /metrics, to admins.")
    question_log: bool = Field(
        True,
        description="Keep each question asked through the server (who by name, the answer, "
        "its citations, feedback, latency; never a key or cookie) for admins: the Questions "
        "tab, /api/questions, `qa-bot questions` (docs/question-log.md).",
    )
    question_log_days: int = Field(
        30, ge=1, le=3650, description="Days a logged question is kept; older ones are deleted."
    )
    warm_sentences: bool = Field(
        True,
        description="After each change of the index, embed every chunk's sentences in the "
        "background, so the first questions after an ingest do not pay for them.",
    )

    @property
    def loopback(self) -> bool:
        """True when the server only listens on this machine."""
        return self.host in ("127.0.0.1", "localhost", "::1")


class Settings(BaseSettings):
    """Everything qa-bot can be configured with; every default works offline.

    Env vars name a section and a key: ``QA_BOT_RETRIEVAL__TOP_K=8``; ``qa-bot.toml`` uses
    tables: ``[retrieval]`` then ``top_k = 8``. The environment wins over the file.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTING,
        toml_file=CONFIG_FILE,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,  # a wrong value may be a secret (web.cookie, a database URL)
    )

    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    answer: AnswerSettings = AnswerSettings()
    openai: OpenAISettings = OpenAISettings()
    local: LocalSettings = LocalSettings()
    server: ServerSettings = ServerSettings()
    web: WebSettings = WebSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: explicit arguments, then env vars, then ``qa-bot.toml``."""
        check_env_names(os.environ)
        legacy = LegacyApiKey(settings_cls)
        toml = RenamedToml(settings_cls)
        return (Renamed(init_settings), Renamed(env_settings), legacy, toml)

    def updated(self, **sections: dict[str, Any]) -> Settings:
        """A copy with some keys of some sections changed and validated:
        ``settings.updated(retrieval={"top_k": 3})``."""
        data = self.model_dump()
        for section, values in sections.items():
            if section not in data:
                raise SettingsError(f"Unknown settings section '{section}'.")
            data[section] |= _renamed({section: values})[section]  # before the old values
        return Settings(**data)

    @property
    def server_mode(self) -> bool:
        """True when a Chroma server is configured instead of the embedded store."""
        return self.store.chroma_host is not None

    @property
    def data_path(self) -> Path:
        """The data dir as an absolute path, created on first use."""
        path = self.store.data_dir.expanduser().resolve()
        if not path.exists():
            path.mkdir(parents=True, mode=0o700)  # keys, feedback, uploads: the owner's only
        return path


LEGACY_API_KEY = "QA_BOT_API_KEY"
"""The one admin key's variable from before settings had sections; still read."""


def _env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section}{ENV_NESTING}{key}".upper()


def _renamed(data: dict[str, Any]) -> dict[str, Any]:
    """One source's values with former names (``RENAMED``) read as the new ones; the new name
    wins within the source, and between sources the usual precedence holds."""
    for (section, old), new in RENAMED.items():
        values = data.get(section)
        if isinstance(values, dict) and old in values:
            _say_renamed(f"{section}.{old} ({_env_name(section, old)})", f"{section}.{new}")
            values = {new: values[old], **values}
            del values[old]
            data = {**data, section: values}
    return data


class Renamed(PydanticBaseSettingsSource):
    """Another source (arguments, the environment), former names renamed."""

    def __init__(self, source: PydanticBaseSettingsSource) -> None:
        super().__init__(source.settings_cls)
        self.source = source

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return _renamed(self.source())


class RenamedToml(TomlConfigSettingsSource):
    """``qa-bot.toml``, former names renamed."""

    def __call__(self) -> dict[str, Any]:
        return _renamed(super().__call__())


class LegacyApiKey(PydanticBaseSettingsSource):
    """``QA_BOT_API_KEY`` as ``server.api_key`` (``QA_BOT_SERVER__API_KEY`` wins)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        key = os.environ.get(LEGACY_API_KEY)
        return {"server": {"api_key": key}} if key else {}


def known_env_names() -> dict[str, tuple[str, str]]:
    """Every env var qa-bot reads, mapped to its (section, key)."""
    names = {}
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, Section)
        for key in model.model_fields:
            names[_env_name(section, key)] = (section, key)
    return names


def check_env_names(environ: os._Environ[str] | dict[str, str]) -> None:
    """Refuse a ``QA_BOT_*`` variable that names no setting (a typo would be silently ignored)."""
    former = {_env_name(section, old): (section, old) for section, old in RENAMED}
    known = {**known_env_names(), **former, LEGACY_API_KEY: ("server", "api_key")}
    for name in environ:
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            raise SettingsError(
                f"Unknown setting {name}: qa-bot reads variables such as "
                f"QA_BOT_RETRIEVAL__TOP_K (`qa-bot config` lists them all)."
            )


def setting_origins(settings: Settings) -> dict[tuple[str, str], str]:
    """Where each setting's value came from: 'env', the config file, or 'default'."""
    path = Path(CONFIG_FILE)
    in_file = tomllib.loads(path.read_text()) if path.is_file() else {}
    origins = {}
    former = {(section, new): old for (section, old), new in RENAMED.items()}
    for section, key in known_env_names().values():
        keys = {key, former.get((section, key), key)}  # its name, and its former one
        if any(_env_name(section, k) in os.environ for k in keys):
            origins[(section, key)] = "env"
        elif keys & set(in_file.get(section, {})):
            origins[(section, key)] = f"{CONFIG_FILE} [{section}]"
        else:
            origins[(section, key)] = "default"
    return origins
