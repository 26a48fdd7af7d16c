"""Questions about Python's documentation for the reader to train on, beside SQuAD's Wikipedia.

The paragraphs are prose from Python's language reference (``pydoc_data.topics``) and from
standard-library docstrings, away from the pages the python-docs eval set asks about (sorting,
venv, secrets, errors, logging). The local instruct model writes three questions a user would
ask about each paragraph, with the words that answer them; a question is kept when its answer
is copied from the paragraph or restates one of its sentences. The result is a SQuAD 2.0 file,
one article per source, with every ``HELD_OUT``-th source held out for validation (a source
the file already had keeps its side when the file is written again):

    python -m training.documentation --paragraphs 400   # about 9 s a paragraph on 2 cores
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import random
import re
from pathlib import Path
from typing import Any

from rich.progress import track

from qa_bot.text import sentence_spans, stems

QUESTIONS = Path(__file__).with_name("documentation.json")
"""The questions the shipped reader was trained on (``--documentation``)."""
HELD_OUT = 6
"""Every this-many-th source (sorted by name) is held out for validation."""
EXCLUDED_TOPICS = frozenset({"exceptions", "raise", "try", "typesseq", "typesseq-mutable"})
"""Reference topics the python-docs eval pages speak of (errors, list.sort)."""
MODULES = """json csv argparse pathlib collections itertools datetime textwrap string shutil
subprocess tempfile zipfile tarfile gzip sqlite3 urllib.parse heapq bisect decimal fractions
statistics unittest doctest inspect typing dataclasses enum contextlib threading queue asyncio
socket ssl hashlib hmac base64 struct pickle copy pprint difflib re glob fnmatch configparser
calendar time locale gettext codecs uuid ipaddress xml.etree.ElementTree html.parser mimetypes
smtplib shlex cmd timeit pdb abc math weakref types io selectors signal platform importlib pkgutil
ast tokenize zlib email.message http.client http.server concurrent.futures multiprocessing os sched
trace tracemalloc gc array numbers functools""".split()
"""Standard-library modules whose docstrings are read (none the eval pages document)."""
INSTRUCTIONS = (
    "You write questions that a programmer would ask about a passage of Python documentation, "
    "the way they would ask a chatbot: in their own words, not copying the passage's wording "
    '("How do I...", "What happens if...", "Why does...", "What is the default...", '
    '"Which function..."). Each question must be answered by one sentence of the passage. '
    "For each question give the answer: the shortest exact words copied from the passage that "
    'answer it. Reply with JSON: {"questions": [{"question": "...", "answer": "..."}, ...]} '
    "with 3 questions."
)
_CODE = (">>>", "...", "$", "|", "+--", "::")
_QUOTES = frozenset("\"'`“”‘’")
RESTATED = 0.6
"""Share of a restated answer's words one sentence must hold for the question to be kept."""


def prose(text: str) -> list[str]:
    """The paragraphs of ``text`` that are prose of 30–170 words (no code, no signatures)."""
    found = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines()]
        if any(line.startswith(_CODE) for line in lines):
            continue
        paragraph = re.sub(r"\s+", " ", " ".join(lines)).strip()
        size = len(paragraph.split())
        statement = ". " in paragraph and paragraph[-1] in ".:)" and "(self" not in paragraph
        if 30 <= size <= 170 and statement:
            found.append(paragraph)
    return found


def _documented(name: str) -> list[str]:
    """The docstrings of module ``name`` and of its own functions and classes."""
    module = importlib.import_module(name)
    members = [
        member
        for _, member in inspect.getmembers(module)
        if (inspect.isfunction(member) or inspect.isclass(member))
        and getattr(member, "__module__", "") == name
    ]
    docs = [module.__doc__, *(m.__doc__ for m in members)]
    return [inspect.cleandoc(d) for d in docs if isinstance(d, str)]


def paragraphs() -> list[tuple[str, str]]:
    """(source, paragraph) for every prose paragraph, sources ``topic:<name>`` and
    ``module:<name>``, shuffled (seeded) so that any number of them spans the sources."""
    from pydoc_data.topics import topics

    texts = [(f"topic:{k}", [v]) for k, v in topics.items() if k not in EXCLUDED_TOPICS]
    texts += [(f"module:{name}", _documented(name)) for name in MODULES]
    found = [
        (source, _plain(p))
        for source, docs in texts
        for p in sorted({p for doc in docs for p in prose(doc)})
    ]
    random.Random(0).shuffle(found)
    first: dict[str, str] = {}  # a paragraph two topics share is kept under the first one
    for source, paragraph in found:
        first.setdefault(paragraph, source)
    return [(source, paragraph) for paragraph, source in first.items()]


def _plain(paragraph: str) -> str:
    """Without reStructuredText's backticks and a list item's bullet."""
    return re.sub(r"^[-*] ", "", paragraph.replace("``", "").replace("`", ""))


def _located(paragraph: str, answer: str) -> tuple[int, str] | None:
    """Where ``answer`` is copied in ``paragraph`` (ignoring case and quote marks)."""
    kept = [i for i, ch in enumerate(paragraph) if ch not in _QUOTES]
    plain = "".join(paragraph[i] for i in kept).lower()
    wanted = re.sub(r"\s+", " ", "".join(ch for ch in answer if ch not in _QUOTES)).lower()
    wanted = wanted.strip(" .")
    at = plain.find(wanted) if len(wanted) > 1 else -1
    if at < 0:
        return None
    start, end = kept[at], kept[at + len(wanted) - 1] + 1
    while end < len(paragraph) and paragraph[end] in _QUOTES:  # a closing quote mark
        end += 1
    return start, paragraph[start:end]


def _restated(paragraph: str, answer: str) -> tuple[int, str] | None:
    """The sentence of ``paragraph`` that holds ``RESTATED`` of a restated answer's words."""
    wanted = stems(answer)
    if len(wanted) < 3:
        return None
    best = max(sentence_spans(paragraph), key=lambda s: len(wanted & stems(s.text)))
    if len(wanted & stems(best.text)) < RESTATED * len(wanted):
        return None
    return best.start, best.text


def squad(written: list[dict[str, Any]], before: dict[str, Any] | None = None) -> dict[str, Any]:
    """The written questions whose answers the paragraphs hold, as SQuAD 2.0 articles (one
    per source; each paragraph and question once, so none is both trained on and held out,
    nor trained on twice), and the titles held out (``validation``): a source of the file
    ``before`` stays on its side."""
    articles: dict[str, list[dict[str, Any]]] = {}
    contexts = set()  # a paragraph written twice is kept once, under its first source
    for item in written:
        if item["context"] in contexts:
            continue
        contexts.add(item["context"])
        qas: list[dict[str, Any]] = []
        for asked in item["questions"]:
            question = asked.get("question") if isinstance(asked, dict) else None
            answer = asked.get("answer") if isinstance(asked, dict) else None
            if not (isinstance(question, str) and isinstance(answer, str)):
                continue
            question = question.replace("`", "").strip()
            found = _located(item["context"], answer) or _restated(item["context"], answer)
            if found is None or not question.endswith("?"):
                continue
            key = hashlib.sha1(f"{item['context']}{question}".encode()).hexdigest()[:16]
            if any(qa["id"] == key for qa in qas):  # the same question asked twice
                continue
            answers = [{"text": found[1], "answer_start": found[0]}]
            qas.append(
                {"id": key, "question": question, "is_impossible": False, "answers": answers}
            )
        if qas:
            articles.setdefault(item["source"], []).append({"context": item["context"], "qas": qas})
    titles = sorted(articles)
    return {
        "version": "qa-bot documentation questions",
        "validation": _held_out(titles, before),
        "data": [{"title": t, "paragraphs": articles[t]} for t in titles],
    }


def _held_out(titles: list[str], before: dict[str, Any] | None) -> list[str]:
    """Every ``HELD_OUT``-th of the sources new since ``before``, and those it held out, so
    that weights trained on ``before`` never validate on what they trained on."""
    known = {a["title"] for a in before["data"]} if before else set()
    held = set([t for t in titles if t not in known][::HELD_OUT])
    held |= set(before["validation"]) if before else set()
    return [t for t in titles if t in held]


def _ask(llm: Any, paragraph: str) -> list[Any]:
    """The model's questions about ``paragraph`` (none when its reply is not the JSON asked)."""
    reply = llm.create_chat_completion(
        messages=[
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": f"Passage:\n{paragraph}"},
        ],
        response_format={"type": "json_object"},
        max_tokens=220,
        temperature=0.3,
    )
    try:
        questions = json.loads(reply["choices"][0]["message"]["content"])["questions"]
    except (ValueError, KeyError, TypeError):
        return []
    return [q for q in questions if isinstance(q, dict)] if isinstance(questions, list) else []


def write(count: int, raw: Path, out: Path = QUESTIONS) -> None:
    """Ask about the first ``count`` paragraphs (those already in ``raw``, one JSON line
    each, are not asked again) and write the SQuAD file ``out``."""
    from llama_cpp import Llama

    from qa_bot.config import Settings
    from qa_bot.models.shipped import model_file

    local = Settings().local
    raw.parent.mkdir(parents=True, exist_ok=True)
    lines = raw.read_text(encoding="utf-8").splitlines() if raw.exists() else []
    written = [json.loads(line) for line in lines]
    done = {item["context"] for item in written}
    todo = [(s, p) for s, p in paragraphs()[:count] if p not in done]
    if todo:
        path = model_file(local.model, local.cache_dir)
        llm = Llama(model_path=str(path), n_ctx=2048, n_threads=2, seed=0, verbose=False)
        with raw.open("a", encoding="utf-8") as log:
            for source, paragraph in track(todo, "writing questions"):
                item = {"source": source, "context": paragraph, "questions": _ask(llm, paragraph)}
                log.write(json.dumps(item) + "\n")
                written.append(item)
    before = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
    out.write_text(json.dumps(squad(written, before), indent=0) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=400)
    parser.add_argument("--raw", type=Path, default=Path("build/documentation-questions.jsonl"))
    parser.add_argument("--out", type=Path, default=QUESTIONS)
    args = parser.parse_args()
    write(args.paragraphs, args.raw, args.out)


if __name__ == "__main__":
    main()
