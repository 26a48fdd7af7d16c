"""The Gradio app: a Chat tab that streams the chain's answer, lists its sources with links to
the source viewer and takes likes and dislikes (chats are kept in the browser across reloads),
a Documents tab listing what the caller may read, where admins add and delete documents and
restrict sources to groups, and, shown to admins only, a Questions tab: the question log,
filtered, and questions exported as eval cases."""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from qa_bot.chain import QaChain
from qa_bot.errors import QaBotError
from qa_bot.evaluation.dataset import Case, case_from_question, cases_jsonl
from qa_bot.followup import History, history_from_messages
from qa_bot.ingest.batch import IngestReport
from qa_bot.ingest.knowledge import KnowledgeBase
from qa_bot.records import Answer, Citation, Related
from qa_bot.registry import ANSWERERS, LOADERS
from qa_bot.server.access import EXPORTS, Principal, check_answerer, readable_groups
from qa_bot.server.feedback import record
from qa_bot.storage.catalog import UPLOADS
from qa_bot.storage.feedback import Feedback, FeedbackStore, Rating
from qa_bot.storage.questions import MAX_TEXT, LoggedQuestion, QuestionFilter
from qa_bot.storage.restrictions import parse_groups

EXAMPLES = [
    "What did TSMC decide?",
    "What is Project Crystal Land?",
    "How would the industrial parks be funded?",
]
REMEMBERED = 500  # answers kept for the like / dislike buttons
EXPORT_SECONDS = 3600
"""How long an export stays to be downloaded (one a session: the next replaces it)."""
MAX_EXPORTS = 20
"""Most exports kept at once, whatever the sessions; the oldest go first."""


def _escape(text: str) -> str:
    """Document text shown as text: HTML escaped and Markdown syntax neutralised. Quotes stay
    as they are (the text never lands in an attribute; escaped, the chat showed ``&#x27;``)."""
    return re.sub(r"([\\`*_{}\[\]#|~])", r"\\\1", html.escape(text, quote=False))


def _code(text: str) -> str:
    """Text shown in a code span: taken literally by Markdown (entities would show as typed),
    so only backticks, which would end the span, are removed."""
    return "`" + text.replace("`", "'") + "`"


def source_link(chunk_id: str, offset: int, quote: str) -> str:
    """The source viewer's address for a citation (by chunk id and offsets only)."""
    return f"/sources/{chunk_id}?start={offset}&end={offset + len(quote)}"


def is_web_address(url: str) -> bool:
    """Only http(s) addresses are ever links (a web source holds no other)."""
    return url.lower().startswith(("http://", "https://"))


def _href(url: str) -> str:
    """An address as a Markdown link target: what would end it, or split it, encoded."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C")


def render(answer: Answer) -> str:
    """The short answer in bold, the answer, its numbered sources (each marked verified or not,
    with a link to the source viewer, and to the page itself for a web page), a refusal's
    related passages and, folded away, any sentence no source supports, as Markdown."""
    short = f"**{_escape(answer.short_answer)}** — " if answer.short_answer else ""
    lines = [short + _escape(answer.answer)]
    if answer.citations:
        lines += ["", "**Sources**"]
    for c in answer.citations:
        mark = "✓ verified" if c.verified else "⚠️ does not support the sentence citing it"
        lines += [
            "",
            f"**\\[{c.n}\\]** {_escape(c.title)} · {_place(c)} · {mark} · {_links(c, c.quote)}",
            f"> {_escape(c.quote)}",
        ]
    lines += _related_lines(answer.related)
    if answer.unsupported:
        what = "Withheld: no document supports" if answer.withheld() else "Not supported"
        lines += ["", f"<details><summary>⚠️ {what} ({len(answer.unsupported)})</summary>", ""]
        lines += [f"- {_escape(sentence)}" for sentence in answer.unsupported]
        lines += ["", "</details>"]
    return "\n".join(lines)


def _related_lines(related: list[Related]) -> list[str]:
    """A refusal's related passages as Markdown: marked as not an answer, unnumbered, each
    with its place, a link to the source viewer (and to a web page) and its excerpt."""
    if not related:
        return []
    lines = ["", "**Related passages** (not an answer: where to read on)"]
    for r in related:
        lines += ["", f"- {_escape(r.title)} · {_place(r)} · {_links(r, r.excerpt)}"]
        lines += [f"  > {_escape(r.excerpt)}"]
    return lines


def _place(passage: Citation | Related) -> str:
    """A passage's document and place in it: "`corpus/deck.pptx` · slide 2"."""
    where = f" · {_escape(passage.location)}" if passage.location else ""
    return _code(passage.source) + where


def _links(passage: Citation | Related, text: str) -> str:
    """Links to a passage showing ``text``: the source viewer, and a web page itself."""
    link = source_link(passage.chunk_id, passage.offset, text)
    url = passage.url
    page = f" · [open page]({_href(url)})" if url and is_web_address(url) else ""
    return f"[open source]({link}){page}"


def _text(content: object) -> str:
    """The text of a Gradio message content (a string, a typed part, or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", ""))
    if isinstance(content, list):
        return " ".join(_text(p) for p in content)
    return ""


_MARK = re.compile(r"\s*<!-- question ([0-9a-f]{1,64}) -->\s*\Z")


def marked(shown: str, question_id: str | None) -> str:
    """An answer as the chat shows it, ending with its question's id in an HTML comment
    (not shown): a like or dislike names the logged question by it, whatever its text."""
    return f"{shown}\n\n<!-- question {question_id} -->" if question_id else shown


def question_id_of(shown: str) -> str | None:
    """The question id a shown answer ends with, if any."""
    found = _MARK.search(shown)
    return found[1] if found else None


def to_history(messages: list[dict[str, Any]]) -> History:
    """Gradio's chat messages as (user, assistant) turns (without their question ids)."""
    return history_from_messages(
        (str(m.get("role")), _MARK.sub("", _text(m.get("content")))) for m in messages
    )


def _principal(request: gr.Request | None) -> Principal | None:
    """Who is asking, as the access middleware told Gradio (its "username")."""
    return Principal.from_tag(request.username if request else None)


def _is_admin(request: gr.Request | None) -> bool:
    principal = _principal(request)
    return principal is not None and principal.role == "admin"


def _require_admin(request: gr.Request | None, action: str = "change the documents") -> None:
    if not _is_admin(request):
        raise QaBotError(f"Only an admin may {action}: ask an admin of this qa-bot.")


def _uploaded(payload: list[dict[str, Any]]) -> list[tuple[Path, str]]:
    """The files this browser uploaded, as (path, client file name), from the raw file
    payload: only paths inside Gradio's upload folder pass (the access middleware has
    already refused requests naming any other path)."""
    folder = Path(get_upload_folder()).resolve()
    files = []
    for item in payload:
        path = Path(str(item.get("path", "") if isinstance(item, dict) else ""))
        resolved = path.resolve()
        if path.is_symlink() or not resolved.is_relative_to(folder) or not resolved.is_file():
            raise QaBotError("Refused: that file was not uploaded through this page.")
        files.append((resolved, str(item.get("orig_name") or path.name)))
    return files


def _documents_table(chain: QaChain, request: gr.Request | None) -> list[list[Any]]:
    """The documents the caller may read."""
    readable = chain.readable(readable_groups(_principal(request)))
    return [
        [d.name, d.title, d.pages or "", d.chunks, d.ingested_at or ""]
        for d in KnowledgeBase(chain.store).documents(readable)
    ]


def _read_in_part(name: str, why: str) -> str:
    """The Documents tab's sentence for a file indexed only in part."""
    return f"⚠️ Read in part {_escape(name)}: {_escape(why)}."


def _fetched(report: IngestReport) -> str:
    """What fetching a web source changed, as the Documents tab says it."""
    lines = [f"⚠️ Skipped {_escape(name)}: {_escape(why)}." for name, why in report.failed]
    lines += [_read_in_part(name, why) for name, why in report.cut]
    lines.append(
        f"Added {_counted(len(report.added), 'page')}, updated {len(report.updated)}, kept "
        f"{len(report.unchanged)} and removed {len(report.deleted)} in "
        f"{_escape(report.source)} ({report.chunks_added} new chunks): ask away."
    )
    return " ".join(lines)


def _sources_table(chain: QaChain) -> list[list[Any]]:
    """Every source with its folder or address and groups (for admins)."""
    return [
        [s.name, s.url or str(s.path), ", ".join(s.groups) or "everyone"]
        for s in KnowledgeBase(chain.store).sources()
    ]


def _sources_section(chain: QaChain, demo: gr.Blocks) -> None:
    """Admins only: every source with the groups that may read it, and a form to set them.
    Hidden from readers, and every function checks for an admin all the same."""
    with gr.Column(visible=False, elem_id="sources") as section:
        gr.Markdown("**Sources** (admins): who may read each one beside admins")
        sources = gr.Dataframe(
            headers=["source", "folder or address", "groups"],
            interactive=False,
            label="Sources",
            elem_id="sources-table",
        )
        with gr.Row():
            name = gr.Dropdown([], label="Source", allow_custom_value=True)
            groups = gr.Textbox(
                label="Groups",
                placeholder="hr,finance (empty: everyone)",
                max_length=2000,
            )
        restrict = gr.Button("Set the groups")
        said = gr.Markdown()

    def shown(request: gr.Request) -> tuple[Any, Any, Any]:
        if not _is_admin(request):
            return gr.Column(visible=False), [], gr.Dropdown(choices=[])
        names = [s.name for s in KnowledgeBase(chain.store).sources()]
        return gr.Column(visible=True), _sources_table(chain), gr.Dropdown(choices=names)

    def on_restrict(source: str | None, wanted: str, request: gr.Request) -> tuple[Any, str]:
        try:
            _require_admin(request, "restrict sources")
            if not source:
                return gr.skip(), "Choose a source first."
            set_to = KnowledgeBase(chain.store).restrict(source, parse_groups(wanted))
        except QaBotError as error:
            return gr.skip(), f"⚠️ {_escape(str(error))}"
        who = ", ".join(set_to) if set_to else "everyone"
        return _sources_table(chain), f"{_escape(source)} is now read by: {_escape(who)}."

    demo.load(shown, None, [section, sources, name], api_visibility="private")
    restrict.click(on_restrict, [name, groups], [sources, said], api_name="restrict_source")


def _documents_tab(chain: QaChain, demo: gr.Blocks) -> None:
    """The Documents tab: what the caller may read; admins add and delete uploaded documents,
    add web sources, cancel the ingestion under way and restrict sources to groups."""
    table = gr.Dataframe(
        headers=["document", "title", "pages", "chunks", "ingested at"],
        interactive=False,
        label="Indexed documents",
    )
    refresh = gr.Button("Refresh", size="sm")
    files = gr.File(  # the tab's one file picker; the tables' CSV drop zones are read-only
        file_count="multiple",
        file_types=LOADERS.names(),
        label="Add documents (admins)",
        elem_id="add-documents",
    )
    add = gr.Button("Add to the knowledge base", variant="primary")
    address = gr.Textbox(
        label="Add a web source (admins)",
        placeholder="https://wiki.example.internal/space/ (hosts in web.allowed_hosts)",
        max_length=2000,
    )
    fetch = gr.Button("Fetch the pages")
    doomed = gr.Dropdown([], label="Uploaded document to delete", allow_custom_value=True)
    sure = gr.Checkbox(label="Yes, delete it and its chunks")
    delete = gr.Button("Delete", variant="stop")
    status = gr.Markdown()
    cancel = gr.Button("Cancel the ingestion", size="sm", elem_id="cancel-ingestion")
    cancelling = gr.Markdown()

    def uploaded_names(request: gr.Request | None) -> gr.Dropdown:
        """The uploads an admin may delete (a reader is offered none)."""
        if not _is_admin(request):
            return gr.Dropdown(choices=[], value=None)
        names = [d.name for d in KnowledgeBase(chain.store).documents() if d.source == UPLOADS]
        return gr.Dropdown(choices=names, value=None)

    def on_add(
        payload: list[dict[str, Any]] | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio reports progress
    ) -> str:
        try:
            _require_admin(request)
            if not payload:
                return "Choose files first."
            staged = _uploaded(payload)
            progress(0, desc="Ingesting")
            try:
                result = KnowledgeBase(chain.store).add_uploads(
                    staged, lambda done, total, name: progress((done, total), desc=name)
                )
            finally:  # Gradio's copies are not kept once stored (or refused)
                for path, _ in staged:
                    path.unlink(missing_ok=True)
        except QaBotError as error:
            return f"⚠️ {_escape(str(error))}"
        lines = [
            f"⚠️ Could not read {_escape(n)}: {_escape(why)}." for n, why in result.failed.items()
        ]
        lines += [_read_in_part(name, why) for name, why in result.cut.items()]
        if result.stored:
            names = ", ".join(_escape(n) for n in result.stored)
            lines.append(f"Added {names} ({result.chunks_added} new chunks): ask away.")
        return " ".join(lines)

    def on_fetch(
        url: str,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio reports progress
    ) -> str:
        try:
            _require_admin(request)
            if not url.strip():
                return "Give the address of the pages first."
            progress(0, desc="Fetching")
            report = KnowledgeBase(chain.store).ingest_url(
                url.strip(), lambda done, total, name: progress((done, total), desc=name)
            )
        except QaBotError as error:
            return f"⚠️ {_escape(str(error))}"
        return _fetched(report)

    def on_delete(name: str | None, confirmed: bool, request: gr.Request) -> str:
        try:
            _require_admin(request)
            if not name or not confirmed:
                return "Choose an uploaded document and tick the box to confirm."
            removed = KnowledgeBase(chain.store).delete_document(name)
        except QaBotError as error:
            return f"⚠️ {_escape(str(error))}"
        return f"Deleted {_escape(name)} ({removed} chunks)."

    def on_cancel(request: gr.Request) -> str:
        try:
            _require_admin(request, "cancel an ingestion")
            return _escape(KnowledgeBase(chain.store).cancel())
        except QaBotError as error:
            return f"⚠️ {_escape(str(error))}"

    def relist(request: gr.Request) -> tuple[list[list[Any]], gr.Dropdown]:
        return _documents_table(chain, request), uploaded_names(request)

    demo.load(relist, None, [table, doomed], api_visibility="private")
    refresh.click(relist, None, [table, doomed], api_visibility="private")
    add.click(on_add, files, status, api_name="add_documents", preprocess=False).then(
        relist, None, [table, doomed], api_visibility="private"
    )
    fetch.click(on_fetch, address, status, api_name="add_web_source").then(
        relist, None, [table, doomed], api_visibility="private"
    )
    delete.click(on_delete, [doomed, sure], status, api_name="delete_document").then(
        relist, None, [table, doomed], api_visibility="private"
    )
    cancel.click(on_cancel, None, cancelling, api_name="cancel_ingestion")
    _sources_section(chain, demo)


QUESTION_COLUMNS = ["asked (UTC)", "by", "question", "answer", "refused", "rating", "cites", "ms"]
QUESTION_WIDTHS: list[str | int] = ["11%", "8%", "22%", "28%", "8%", "7%", "10%", "6%"]
SHOWN_ANSWER = 300  # characters of an answer in the table
READ_LOG = "read the question log"


def _counted(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def _question_rows(found: list[LoggedQuestion]) -> list[list[Any]]:
    return [
        [
            q.created[:19].replace("T", " "),
            q.asker,
            q.question,
            q.answer[:SHOWN_ANSWER],
            "yes" if q.refused else "",
            q.rating or "",
            ", ".join(q.sources),
            round(q.latency_ms),
        ]
        for q in found
    ]


def _case_rows(cases: list[Case]) -> list[list[Any]]:
    return [[c.id, c.question, c.reference or "(must be refused)"] for c in cases]


def exports_folder() -> Path:
    """Where the Questions tab writes its exports: a folder of Gradio's (which serves them to
    the admin's browser; only admins may fetch them, ``needed_role``)."""
    return Path(get_upload_folder()) / EXPORTS


def discard_export(path: str | None) -> None:
    """Delete one export (its folder), when it is one."""
    if not path:
        return
    folder = Path(path).parent
    if folder.parent == exports_folder() and not folder.is_symlink():
        shutil.rmtree(folder, ignore_errors=True)


def sweep_exports(now: float | None = None) -> None:
    """Delete the exports older than ``EXPORT_SECONDS``, and the oldest past the newest
    ``MAX_EXPORTS``: what an admin never downloaded, or whose session never ended."""
    folder = exports_folder()
    if not folder.is_dir():
        return
    made = []
    for export in folder.iterdir():
        try:
            made.append((export.lstat().st_mtime, export))
        except FileNotFoundError:  # deleted meanwhile
            continue
    made.sort(reverse=True)
    limit = (now or time.time()) - EXPORT_SECONDS
    for n, (when, export) in enumerate(made):
        if n >= MAX_EXPORTS - 1 or when < limit:  # room for the one about to be written
            if export.is_dir() and not export.is_symlink():
                shutil.rmtree(export, ignore_errors=True)
            else:
                export.unlink(missing_ok=True)


def _export_file(cases: list[Case], previous: str | None) -> str:
    """The cases in a new file of their own in the exports folder; this session's previous
    export is deleted, and so are the expired ones of any session."""
    discard_export(previous)
    sweep_exports()
    exports_folder().mkdir(mode=0o700, parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=exports_folder())) / "qa-bot-questions.jsonl"
    path.write_text(cases_jsonl(cases), encoding="utf-8")
    return str(path)


def _questions_tab(chain: QaChain, tab: gr.Tab) -> None:
    """The Questions tab (admins): the question log, filtered; questions picked, each with the
    answer it should give, exported as eval cases. Every function checks for an admin."""
    log = chain.question_log
    with gr.Row():
        refused = gr.Checkbox(label="Refused only")
        down = gr.Checkbox(label="Thumbs down only")
        since = gr.Textbox(label="Since", placeholder="7d, 12h or 2025-01-31", max_length=40)
        source = gr.Textbox(label="Cites", placeholder="a document or a folder", max_length=500)
    show = gr.Button("Show", size="sm")
    table = gr.Dataframe(
        headers=QUESTION_COLUMNS,
        column_widths=QUESTION_WIDTHS,
        interactive=False,
        wrap=True,
        label="Questions, newest first",
    )
    picked = gr.Dropdown([], multiselect=True, label="Questions to export")
    expected = gr.Textbox(
        label="Expected answer",
        lines=2,
        max_length=MAX_TEXT,
        placeholder="What a good answer says; empty: a refused question stays one to refuse",
    )
    add = gr.Button("Add to the export")
    basket = gr.State([])
    chosen = gr.Dataframe(
        headers=["case", "question", "expected answer"],
        interactive=False,
        wrap=True,
        label="Cases to export",
    )
    with gr.Row():
        export = gr.Button("Export .jsonl", variant="primary")
        clear = gr.Button("Start over")
    download = gr.File(label="Eval cases: add the file to evals/datasets/", interactive=False)
    exported = gr.State(  # this session's export: replaced by the next, deleted at its end
        None, time_to_live=EXPORT_SECONDS, delete_callback=discard_export
    )
    status = gr.Markdown()

    def on_show(
        only_refused: bool, only_down: bool, after: str, cites: str, request: gr.Request
    ) -> tuple[Any, Any, str]:
        try:
            _require_admin(request, READ_LOG)
            found = log.find(QuestionFilter.chosen(only_refused, only_down, after, cites))
        except QaBotError as error:  # the table stays as it was
            return gr.skip(), gr.skip(), f"⚠️ {_escape(str(error))}"
        choices = [(f"{q.question[:80]} · {q.id}", q.id) for q in found]
        shown = f"{_counted(len(found), 'question')}, newest first."
        return _question_rows(found), gr.Dropdown(choices=choices, value=[]), shown

    def on_add(
        ids: list[str] | None, answer: str, cases: list[Case], request: gr.Request
    ) -> tuple[list[Case], Any, Any, str]:
        try:
            _require_admin(request, READ_LOG)
            if not ids:
                return cases, gr.skip(), gr.skip(), "Pick questions to export first."
            new = [case_from_question(q, answer) for q in log.picked(ids)]
        except QaBotError as error:  # what was typed stays
            return cases, gr.skip(), gr.skip(), f"⚠️ {_escape(str(error))}"
        cases = list({c.id: c for c in [*cases, *new]}.values())  # picked again: replaced
        return cases, _case_rows(cases), "", f"{_counted(len(cases), 'case')} to export."

    def on_export(
        cases: list[Case], previous: str | None, request: gr.Request
    ) -> tuple[str | None, str, Any]:
        try:
            _require_admin(request, READ_LOG)
        except QaBotError as error:
            return None, f"⚠️ {_escape(str(error))}", gr.skip()
        if not cases:
            return None, "Add questions to the export first.", gr.skip()
        path = _export_file(cases, previous)
        return path, f"Exported {_counted(len(cases), 'case')}.", path

    def on_clear(previous: str | None) -> tuple[list[Case], list[list[Any]], None, str, None]:
        discard_export(previous)
        return [], [], None, "", None

    filters = [refused, down, since, source]
    tab.select(on_show, filters, [table, picked, status], api_visibility="private")
    show.click(on_show, filters, [table, picked, status], api_name="questions")
    add.click(
        on_add,
        [picked, expected, basket],
        [basket, chosen, expected, status],
        api_name="add_to_export",
    )
    export.click(
        on_export, [basket, exported], [download, status, exported], api_name="export_questions"
    )
    clear.click(
        on_clear, exported, [basket, chosen, download, status, exported], api_visibility="private"
    )


def _admins_see(request: gr.Request) -> gr.Tab:
    """A tab shown to admins only (its functions check for an admin all the same)."""
    return gr.Tab(visible=_is_admin(request))


def build_ui(chain: QaChain) -> gr.Blocks:
    """The chat app on top of ``chain``: a Chat tab (API endpoint ``/chat``), a Documents tab
    and, for admins, a Questions tab."""
    uploads = chain.settings.data_path / "gradio-uploads"  # not a /tmp folder others share
    uploads.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("GRADIO_TEMP_DIR", str(uploads))
    sweep_exports()  # a previous run's, once expired
    feedback = FeedbackStore.beside(chain.settings)
    answers: OrderedDict[tuple[str, str], tuple[str, Answer]] = OrderedDict()  # (who, shown)
    default_answerer = chain.settings.answer.answerer

    def respond(
        message: str,
        history: list[dict[str, Any]],
        top_k: int,
        answerer: str,
        request: gr.Request,
    ) -> Iterator[str]:
        try:
            principal = _principal(request)
            check_answerer(principal, answerer, default_answerer)
            asker = principal.name if principal else None
            streamed = ""  # Gradio has checked the slider's bounds
            pieces = chain.stream(
                _text(message),
                to_history(history),
                top_k=int(top_k),
                answerer=answerer,
                asker=asker,
                groups=readable_groups(principal),
            )
            for piece in pieces:
                if isinstance(piece, Answer):
                    shown = marked(render(piece), piece.question_id)
                    answers[(request.username or "", shown)] = (_text(message), piece)
                    while len(answers) > REMEMBERED:
                        answers.popitem(last=False)
                    yield shown
                else:
                    streamed += piece
                    yield _escape(streamed)
        except QaBotError as error:
            yield f"⚠️ {_escape(str(error))}"

    def on_like(data: gr.LikeData, request: gr.Request) -> None:
        """A verdict on a shown answer: on the logged question its id names (the asker's
        own only, even after a restart or from a chat saved in the browser), else on the
        answer this process remembers showing this caller (the log off)."""
        shown, principal = _text(data.value), _principal(request)
        rating: Rating = "up" if data.liked else "down"
        question_id = question_id_of(shown)
        logged = (
            chain.question_log.asked_by(question_id, principal.name)
            if question_id and principal
            else None
        )
        if logged is not None:
            verdict = Feedback(
                rating=rating,
                question=logged.question,
                answer=logged.answer,
                citations=logged.citations,
                question_id=logged.id,
            )
        elif (key := (request.username or "", shown)) in answers:
            question, answer = answers[key]
            verdict = Feedback(
                rating=rating, question=question, answer=answer.answer, citations=answer.citations
            )
        else:
            return
        record(feedback, chain.question_log, verdict, principal)

    settings = chain.settings
    with gr.Blocks(title="qa-bot", analytics_enabled=False) as demo:
        with gr.Tab("Chat"):
            chat = gr.ChatInterface(
                respond,
                textbox=gr.Textbox(placeholder="Ask about your documents", max_length=4000),
                title="qa-bot",
                description="Ask about your documents; every answer cites its sentence.",
                examples=[[e] for e in EXAMPLES],
                save_history=True,
                additional_inputs=[
                    gr.Slider(
                        1,
                        20,
                        value=settings.retrieval.top_k,
                        step=1,
                        label="Chunks to answer from",
                        render=False,
                    ),
                    gr.Dropdown(
                        ANSWERERS.names(),
                        value=settings.answer.answerer,
                        label="Answerer",
                        render=False,
                    ),
                ],
                additional_inputs_accordion="Settings",
                api_name="chat",
            )
            chat.chatbot.like(on_like, None, None)
            chat.new_chat_button.icon = None  # Gradio's, served by its install path in /config
        with gr.Tab("Documents"):
            _documents_tab(chain, demo)
        with gr.Tab("Questions", visible=False) as questions:
            _questions_tab(chain, questions)
        demo.load(_admins_see, None, questions, api_visibility="private")
    return demo  # type: ignore[no-any-return]  # gr.Blocks.__enter__ is untyped
