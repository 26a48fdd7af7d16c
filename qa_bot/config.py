"""One typed settings object, read from ``QA_BOT_*`` env vars and an optional ``qa-bot.toml``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Everything qa-bot can be configured with; every default works offline."""

    model_config = SettingsConfigDict(
        env_prefix="QA_BOT_", toml_file="qa-bot.toml", extra="ignore", frozen=True
    )

    corpus_dir: Path = Field(Path("corpus"), description="Folder of documents to ingest.")
    data_dir: Path = Field(Path(".qa-bot"), description="Where the index lives (one per corpus).")

    chroma_host: str | None = Field(None, description="Chroma server host; unset = embedded.")
    chroma_port: int = Field(8000, description="Chroma server port.")
    collection: str | None = Field(
        None, description="Chroma collection name; default derives from the data dir's id."
    )

    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="A bundled model name or a local sentence-transformers folder.",
    )
    embed_batch_size: int = Field(32, ge=1)

    chunk_size: int = Field(800, ge=100, description="Target chunk length in characters.")
    chunk_overlap: int = Field(200, ge=0, description="Characters of whole sentences repeated.")

    retrieval: Literal["dense", "bm25", "hybrid"] = Field(
        "hybrid", description="First-stage search: embeddings, BM25 keywords, or both fused (RRF)."
    )
    candidates: int = Field(
        20, ge=1, le=200, description="Chunks each first-stage search returns for reranking."
    )
    reranker: str = Field(
        "sentence",
        description="'sentence' (bundled model, best sentence + chunk + BM25), 'none' (fused "
        "order), or a local sentence-transformers cross-encoder folder.",
    )
    mmr_lambda: float | None = Field(
        None, ge=0, le=1, description="Set (e.g. 0.7) to diversify the top-k with MMR."
    )
    top_k: int = Field(5, ge=1, le=50, description="Chunks handed to the answerer.")
    generator: str = Field(
        "extractive",
        description="How answers are written: 'extractive' quotes the documents (offline); "
        "'openai' asks an OpenAI-compatible chat endpoint (vLLM, llama.cpp, Ollama, …).",
    )
    openai_base_url: str = Field(
        "http://127.0.0.1:8080/v1", description="OpenAI-compatible endpoint, ending in /v1."
    )
    openai_model: str = Field("default", description="Model name sent to the endpoint.")
    openai_api_key_env: str = Field(
        "OPENAI_API_KEY", description="Env var holding the API key (local servers need none)."
    )
    openai_timeout: float = Field(
        60.0, gt=0, description="Seconds to wait for the endpoint (connect, and each read)."
    )
    openai_max_retries: int = Field(0, ge=0, le=5, description="Retries after a failed call.")
    openai_max_tokens: int = Field(400, ge=16, description="Longest answer, in tokens.")
    openai_temperature: float = Field(0.0, ge=0, le=2)
    min_support: float = Field(
        0.48, description="Below this sentence score the extractive answerer refuses."
    )
    max_answer_sentences: int = Field(2, ge=1, le=5)
    max_question_chars: int = Field(2000, ge=10)
    max_history_turns: int = Field(
        4, ge=0, le=20, description="Earlier turns a follow-up question may draw on."
    )

    host: str = Field("127.0.0.1", description="Address the web UI listens on.")
    port: int = Field(7860, description="Port the web UI listens on.")
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Other sites (e.g. https://wiki.example.com) that may call the API and "
        "frame the chat; empty = same origin only.",
    )
    api_key: SecretStr | None = Field(
        None, description="When set, /api and /v1 require 'Authorization: Bearer <key>'."
    )
    rate_limit: int = Field(
        60, ge=1, description="Requests per minute one client may make to /api and /v1."
    )

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
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def server_mode(self) -> bool:
        """True when a Chroma server is configured instead of the embedded store."""
        return self.chroma_host is not None

    @property
    def data_path(self) -> Path:
        """The data dir as an absolute path, created on first use."""
        path = self.data_dir.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path
