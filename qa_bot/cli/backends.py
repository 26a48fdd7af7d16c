"""Where a command does its work: in this process (``LocalBackend``: the chain and the
knowledge base) or through the qa-bot server that owns this index (``RemoteBackend``: its HTTP
API, as the local admin). ``backend()`` chooses once; every command has one body over either."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from qa_bot.config import Settings
from qa_bot.errors import QaBotError
from qa_bot.records import Answer

if TYPE_CHECKING:  # the heavy modules are imported when a backend is used
    import httpx

    from qa_bot.ingest.batch import IngestReport, Progress
    from qa_bot.ingest.knowledge import DocumentInfo, KnowledgeBase
    from qa_bot.server.local import LocalServer
    from qa_bot.storage.catalog import Source
    from qa_bot.storage.questions import LoggedQuestion, QuestionFilter
    from qa_bot.storage.restrictions import Groups


class Backend(Protocol):
    """What the commands ask of qa-bot, wherever it runs."""

    def stream(self, question: str, only: list[str] | None) -> Iterator[str | Answer]:
        """Pieces of the answer text, then the checked Answer."""
        ...

    def ingest(
        self, folders: list[Path], urls: list[str], rebuild: bool, progress: Progress
    ) -> list[IngestReport]:
        """Rebuild every source first when asked, then add or re-sync ``folders`` and the web
        sources under ``urls``."""
        ...

    def resync(self, name: str | None, progress: Progress) -> list[IngestReport]:
        """Re-sync one source or all; a vanished folder is reported and the others go on."""
        ...

    def remove(self, name: str) -> int:
        """Remove a source and its documents; the chunks removed."""
        ...

    def cancel(self) -> str:
        """Stop the running ingestion after the file or page it is reading; what it says."""
        ...

    def sources(self) -> list[Source]:
        """The folders and web sources in the knowledge base, with their groups."""
        ...

    def restrict(self, name: str, groups: Groups) -> list[str]:
        """Let only ``groups`` (and admins) read a source (none: everyone); the groups set."""
        ...

    def documents(self) -> list[DocumentInfo]:
        """Every indexed document."""
        ...

    def questions(self, wanted: QuestionFilter) -> list[LoggedQuestion]:
        """The logged questions ``wanted`` selects, newest first."""
        ...

    def export(self, picks: list[tuple[str, str | None]]) -> str:
        """Logged questions by id, each with its expected answer, as JSONL eval cases."""
        ...


class LocalBackend:
    """The work done here: the model and the index are opened on first use."""

    def __init__(self, settings: Settings, any_model: bool = False) -> None:
        self.settings = settings
        self.any_model = any_model  # a rebuild may change the embedding model

    @cached_property
    def knowledge(self) -> KnowledgeBase:
        from qa_bot.cli.common import open_store
        from qa_bot.ingest.knowledge import KnowledgeBase

        return KnowledgeBase(open_store(self.settings, any_model=self.any_model))

    def stream(self, question: str, only: list[str] | None) -> Iterator[str | Answer]:
        from qa_bot.chain import QaChain, check_question

        check_question(question, self.settings.answer.max_question_chars)  # before the model
        return QaChain(self.knowledge.store).stream(question, only=only or None)

    def ingest(
        self, folders: list[Path], urls: list[str], rebuild: bool, progress: Progress
    ) -> list[IngestReport]:
        reports = self.knowledge.rebuild(progress) if rebuild else []
        reports += [self.knowledge.ingest(folder, progress) for folder in folders]
        return reports + [self.knowledge.ingest_url(url, progress) for url in urls]

    def resync(self, name: str | None, progress: Progress) -> list[IngestReport]:
        return self.knowledge.resync(name, progress)

    def remove(self, name: str) -> int:
        return self.knowledge.remove(name)

    def cancel(self) -> str:
        from qa_bot.ingest.batch import cancel

        return cancel(self.settings.data_path)  # no model needed

    def sources(self) -> list[Source]:
        return self.knowledge.sources()

    def restrict(self, name: str, groups: Groups) -> list[str]:
        return self.knowledge.restrict(name, groups)

    def documents(self) -> list[DocumentInfo]:
        return self.knowledge.documents()

    def questions(self, wanted: QuestionFilter) -> list[LoggedQuestion]:
        from qa_bot.storage.questions import QuestionLog

        return QuestionLog.beside(self.settings).find(wanted)

    def export(self, picks: list[tuple[str, str | None]]) -> str:
        from qa_bot.evaluation.dataset import export_questions
        from qa_bot.storage.questions import QuestionLog

        return export_questions(QuestionLog.beside(self.settings), picks)


class RemoteBackend:
    """The work done by the running server (it owns the index), over its HTTP API."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; the server's error as a QaBotError."""
        import httpx

        url, headers = self.server.url + path, self.server.headers
        reply = httpx.request(method, url, headers=headers, timeout=None, **kwargs)
        if reply.status_code >= 400:
            raise QaBotError(
                reply.json().get("detail", f"The server answered {reply.status_code}.")
            )
        return reply

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call; its JSON reply."""
        return self._send(method, path, **kwargs).json()

    def _follow(self, path: str, progress: Progress, **kwargs: Any) -> list[IngestReport]:
        """A streamed ingestion: its progress, then its reports."""
        import httpx

        from qa_bot.cli.common import err
        from qa_bot.ingest.batch import IngestReport

        err.print(f"A qa-bot server runs on this index ({self.server.url}): working through it.")
        url, headers = self.server.url + path, self.server.headers
        with httpx.stream("POST", url, headers=headers, timeout=None, **kwargs) as reply:
            if reply.status_code != 200:
                raise QaBotError(json.loads(reply.read())["detail"])
            for line in reply.iter_lines():
                event = json.loads(line)
                if "progress" in event:
                    step = event["progress"]
                    progress(step["done"], step["total"], step["name"])
                elif "error" in event:
                    raise QaBotError(event["error"])
                else:
                    return [IngestReport.from_dict(r) for r in event["reports"]]
        raise QaBotError("The server stopped before the ingestion ended: run it again.")

    def stream(self, question: str, only: list[str] | None) -> Iterator[str | Answer]:
        import httpx

        body = {"question": question, "only": only or None}
        url, headers = f"{self.server.url}/api/chat", self.server.headers
        with httpx.stream("POST", url, json=body, headers=headers, timeout=None) as reply:
            if reply.status_code != 200:
                raise QaBotError(json.loads(reply.read())["detail"])
            event = ""
            for line in reply.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    data = line.split(":", 1)[1].strip()
                    if event == "token":
                        yield json.loads(data)["text"]
                    elif event == "answer":
                        yield Answer.model_validate_json(data)
                    elif event == "error":
                        raise QaBotError(json.loads(data)["message"])

    def ingest(
        self, folders: list[Path], urls: list[str], rebuild: bool, progress: Progress
    ) -> list[IngestReport]:
        body = {"folders": [str(f.resolve()) for f in folders], "urls": urls, "rebuild": rebuild}
        return self._follow("/api/knowledge/ingest", progress, json=body)

    def resync(self, name: str | None, progress: Progress) -> list[IngestReport]:
        params = {"name": name} if name else {}
        return self._follow("/api/knowledge/resync", progress, params=params)

    def remove(self, name: str) -> int:
        removed: int = self._call("DELETE", f"/api/knowledge/{quote(name, safe='')}")[
            "chunks_removed"
        ]
        return removed

    def cancel(self) -> str:
        message: str = self._call("POST", "/api/knowledge/cancel")["message"]
        return message

    def sources(self) -> list[Source]:
        from qa_bot.storage.catalog import Source

        return [Source(**s) for s in self._call("GET", "/api/knowledge")]

    def restrict(self, name: str, groups: Groups) -> list[str]:
        path = f"/api/knowledge/{quote(name, safe='')}/groups"
        set_to: list[str] = self._call("PUT", path, json={"groups": sorted(groups)})["groups"]
        return set_to

    def documents(self) -> list[DocumentInfo]:
        from qa_bot.ingest.knowledge import DocumentInfo

        return [DocumentInfo(**d) for d in self._call("GET", "/api/documents")]

    def questions(self, wanted: QuestionFilter) -> list[LoggedQuestion]:
        from qa_bot.storage.questions import LoggedQuestion

        listed = self._call("GET", "/api/questions", params=wanted.params())
        return [LoggedQuestion.model_validate(q) for q in listed]

    def export(self, picks: list[tuple[str, str | None]]) -> str:
        body = {"cases": [{"id": i, "expected": expected} for i, expected in picks]}
        return self._send("POST", "/api/questions/export", json=body).text


def backend(settings: Settings, local: bool = False, any_model: bool = False) -> Backend:
    """The running server on this index when there is one (unless ``local``), else this
    process."""
    from qa_bot.server.local import find

    server = None if local else find(settings)
    return RemoteBackend(server) if server else LocalBackend(settings, any_model)
