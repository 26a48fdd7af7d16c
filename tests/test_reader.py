"""qa-bot's reader: the shipped weights, what it reads, its checks, and its training loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from random import Random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from langchain_core.documents import Document

from qa_bot.answer.grounding import parse
from qa_bot.errors import QaBotError
from qa_bot.ingest.loaders import load_html
from qa_bot.reader.answerability import FEATURES, features
from qa_bot.reader.model import MAX_SPAN
from qa_bot.reader.reader import CARD, WEIGHTS, Reader, best_spans, load_reader, shipped_reader
from qa_bot.retrieval.rerank import ReaderReranker
from qa_bot.text import words
from training.answerability import fit_answerability
from training.calibrate import calibrate
from training.data import VALIDATION, questions, split, split_documentation
from training.documentation import QUESTIONS, paragraphs, prose, squad
from training.examples import Example, pairs, prepare
from training.nearmiss import entity_swap, number_shift
from training.run import shard
from training.ship import ship
from training.train import train

BRIDGE = [
    ("The old bridge over the river was built in 1850 by the city's engineers.", ""),
    ("The river is about 200 kilometres long and flows into the sea.", ""),
    ("Many tourists visit the town in the summer months.", ""),
]


@pytest.fixture(scope="module")
def reader() -> Reader:
    return shipped_reader()


def test_the_answering_sentence_scores_highest_and_holds_the_short_answer(reader: Reader) -> None:
    readings = reader.read("When was the old bridge built?", BRIDGE)
    best = max(range(len(BRIDGE)), key=lambda i: readings[i].answers)
    assert best == 0 and readings[0].answers >= reader.veto
    a, b = readings[0].span
    assert "1850" in BRIDGE[0][0][a:b] and b - a < len(BRIDGE[0][0]) // 2


def test_a_sentence_about_something_else_is_below_the_veto(reader: Reader) -> None:
    readings = reader.read("What is the capital of France?", BRIDGE)
    assert max(r.answers for r in readings) < reader.veto


def test_readings_are_remembered_per_question(reader: Reader) -> None:
    first = reader.read("How long is the river?", BRIDGE)
    assert reader.read("How long is the river?", list(reversed(BRIDGE))) == first[::-1]


@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 1e-4), ("auto", 0.03)])
def test_openvino_reads_as_pytorch_does(
    reader: Reader, tmp_path_factory: pytest.TempPathFactory, precision: str, tolerance: float
) -> None:
    cache = tmp_path_factory.getbasetemp() / "reader-openvino"
    converted = shipped_reader("openvino", precision, cache)  # type: ignore[arg-type]
    assert not isinstance(converted.net, torch.nn.Module)  # OpenVINO's, not PyTorch's
    for question in ("When was the old bridge built?", "How long is the river?"):
        mine, theirs = converted.read(question, BRIDGE), reader.read(question, BRIDGE)
        for a, b in zip(mine, theirs, strict=True):
            assert abs(a.answers - b.answers) < tolerance
        best = max(range(len(BRIDGE)), key=lambda i: theirs[i].answers)
        assert mine[best].span == theirs[best].span


def test_spans_stay_in_the_sentence_and_are_short() -> None:
    start = torch.tensor([[9.0, 0.0, 1.0, 0.0, 0.0] + [0.0] * 40])
    end = torch.zeros_like(start)
    end[0, 44] = 9.0
    allowed = torch.zeros_like(start, dtype=torch.bool)
    allowed[0, 2:] = True
    first, last = best_spans(start, end, allowed)
    assert int(first) >= 2 and int(first) <= int(last) and int(last) - int(first) < MAX_SPAN


def test_weights_that_fail_their_checksum_are_refused(tmp_path: Path) -> None:
    weights, card = tmp_path / WEIGHTS.name, tmp_path / CARD.name
    shutil.copy(WEIGHTS, weights)
    shutil.copy(CARD, card)
    with weights.open("r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    with pytest.raises(QaBotError, match="do not match their checksum"):
        load_reader(weights, card)
    with pytest.raises(QaBotError, match="missing"):
        load_reader(tmp_path / "absent.safetensors", card)


def test_the_card_describes_the_shipped_weights() -> None:
    card = json.loads(CARD.read_text())
    assert card["validation_articles"] == list(VALIDATION)
    assert 0 < card["threshold"] < 1 and card["auc"] > 0.5
    assert 0 < card["veto"] < 1 and card["veto_questions"] > 100
    assert WEIGHTS.stat().st_size < 60 * 2**20
    assert (WEIGHTS.parent / "MODEL_CARD.md").read_text().count(card["sha256"]) == 1


def test_a_part_ships_with_every_part_it_was_trained_in(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    for name in ("part-1.safetensors", "part-1.json", "part-2.safetensors", "part-2.json"):
        shutil.copy(Path("training/weights") / name, parts / name)
    card = ship(parts / "part-2.safetensors", tmp_path / WEIGHTS.name)
    assert [p["shard"] for p in card["parts"]] == [[1, 4], [2, 4]]
    assert card["wall_minutes"] == round(sum(p["wall_minutes"] for p in card["parts"]), 1)
    shown = (tmp_path / "MODEL_CARD.md").read_text()
    assert "part 1, lr 8e-05" in shown and "part 2, lr 6e-05" in shown
    with pytest.raises(QaBotError, match="no calibrated veto"):  # shipped, not calibrated yet
        load_reader(tmp_path / WEIGHTS.name, tmp_path / CARD.name)
    (parts / "part-1.json").unlink()  # the part before it is unknown
    with pytest.raises(QaBotError, match="train the parts before it first"):
        ship(parts / "part-2.safetensors", tmp_path / WEIGHTS.name)


def test_a_name_no_candidate_states_shows_in_the_answerability_features(reader: Reader) -> None:
    named = "When was the bridge over the Danube built?"
    plain = "When was the old bridge built?"
    for question, share in ((named, 0.0), (plain, 1.0)):
        x = features(question, BRIDGE, reader.read(question, BRIDGE))
        assert x[FEATURES.index("names")] == share
    assert len(x) == len(FEATURES)


def test_the_answerability_model_is_used_only_where_it_refuses_more_than_the_best_reading() -> None:
    rng = np.random.default_rng(0)

    def reads(names_tell: bool) -> list[SimpleNamespace]:
        made = []
        for i in range(400):
            answerable = i % 2 == 0
            # either the names tell, or the best reading does
            best = rng.uniform(0.3, 0.9) + (0 if names_tell else 0.3 * answerable)
            names = float(answerable) if names_tell else rng.uniform()
            x = np.array([best, 0.0, 0.0, 0.0, names + rng.normal(0, 0.1), 0.5])
            made.append(
                SimpleNamespace(answerable=answerable, group=f"a{i % 3}", best=best, features=x)
            )
        return made

    told = fit_answerability(reads(True))
    assert told["used"] and told["refused_model"] > 0.9 > told["refused_best"]
    assert told["groups"] == ["a0", "a1", "a2"] and len(told["weights"]) == len(FEATURES)
    assert not fit_answerability(reads(False))["used"]


def test_the_reader_reranker_puts_the_answering_chunk_first(reader: Reader) -> None:
    docs = [
        Document(page_content=" ".join(s for s, _ in BRIDGE[1:]), id="a"),
        Document(page_content=BRIDGE[0][0], id="b"),
    ]
    ranked = ReaderReranker(reader).rerank("When was the old bridge built?", [], docs)
    assert [d.id for d in ranked] == ["b", "a"]
    assert ranked[0].metadata["rerank"] > ranked[1].metadata["rerank"]


def _article(title: str) -> dict:
    context = (
        "The harbour was dredged in 1921 by the port authority. "
        "Ships larger than ten thousand tonnes could then dock. "
        "The lighthouse was painted red and white."
    )
    return {
        "title": title,
        "paragraphs": [
            {
                "context": context,
                "qas": [
                    {
                        "id": f"{title}-dredged",
                        "question": "When was the harbour dredged?",
                        "answers": [{"text": "1921", "answer_start": context.index("1921")}],
                        "is_impossible": False,
                    },
                    {
                        "id": f"{title}-lighthouse",
                        "question": "When was the lighthouse dredged?",
                        "answers": [],
                        "plausible_answers": [
                            {"text": "1921", "answer_start": context.index("1921")}
                        ],
                        "is_impossible": True,
                    },
                ],
            }
        ]
        * 2,
    }


def test_training_pairs_hold_the_answer_span_the_plausible_and_the_made_near_misses() -> None:
    train_articles, held_out = split([_article("Harbour"), _article(VALIDATION[0])])
    assert [a["title"] for a in held_out] == [VALIDATION[0]]
    prepared = prepare(train_articles, seed=1)
    drawn = pairs(prepared.examples, seed=1)
    positives = [p for p in drawn if p.answers]
    assert positives and all(p.span for p in positives)
    assert {p.sentence[p.span[0] : p.span[1]] for p in positives if p.span} == {"1921"}
    plausible = [p for p in drawn if p.question.startswith("When was the lighthouse")]
    assert any("1921" in p.sentence for p in plausible)
    assert not any(p.answers for p in plausible)
    found = questions(held_out)
    assert [q.gold for q in found] == [0, None, 0, None]


def test_a_made_near_miss_is_trained_against_the_answering_sentence() -> None:
    article = _article("Harbour")
    context = article["paragraphs"][0]["context"]
    asked = {
        "id": "who",
        "question": "Who dredged the harbour in 1921?",
        "answers": [{"text": "the port authority", "answer_start": context.index("the port")}],
    }
    article["paragraphs"] = [{"context": context, "qas": [asked]}]
    prepared = prepare([article], seed=1)
    assert prepared.counts["near miss: number"] == 1
    made = [p for p in pairs(prepared.examples, seed=1) if p.question != asked["question"]]
    assert [p.answers for p in made] == [False]
    assert "1921" not in made[0].question and made[0].sentence.startswith("The harbour")


def test_an_answer_whose_text_is_in_two_sentences_is_dropped() -> None:
    context = "The bridge opened in 1850. A second bridge opened in 1850 too."
    answer = {"text": "1850", "answer_start": 21, "answer_starts_all": [21, 53]}
    same = {"text": "bridge", "answer_start": 4, "answer_starts_all": [4]}
    article = {
        "title": "Bridges",
        "paragraphs": [
            {
                "context": context,
                "qas": [
                    {"id": "a", "question": "When did the bridge open?", "answers": [answer]},
                    {"id": "b", "question": "What opened?", "answers": [same]},
                ],
            }
        ],
    }
    prepared = prepare([article], seed=1)
    assert [e.question for e in prepared.examples] == ["What opened?"]
    assert prepared.counts["dropped: answer text in several sentences"] == 1


def test_a_near_miss_changes_a_name_the_paragraph_states_to_one_it_does_not() -> None:
    paragraph = "The lighthouse at Kessock was built by Thomas Telford in 1921."
    names = {"PERSON": ["Robert Stevenson", "Thomas Telford"], "DATE": ["1921", "1887"]}
    changed = entity_swap(parse("Who built the lighthouse in 1921?"), paragraph, names, Random(3))
    assert changed is not None and changed.question == "Who built the lighthouse in 1887?"
    assert entity_swap(parse("Who built the lighthouse?"), paragraph, names, Random(3)) is None
    moved = number_shift("Who built it in 1921?", paragraph, Random(3))
    assert moved is not None and moved.changed not in paragraph and "1921" not in moved.question
    assert number_shift("Who built it in 1930?", paragraph, Random(3)) is None


def test_training_writes_weights_a_card_and_a_model_card(tmp_path: Path) -> None:
    data = tmp_path / "squad.json"
    training = _article("Harbour")
    training["paragraphs"] *= 3  # more answerable questions than the held-out articles hold
    articles = [training, _article(VALIDATION[0]), _article(VALIDATION[1])]
    data.write_text(json.dumps({"version": "v2.0", "data": articles}))
    documentation = tmp_path / "documentation.json"
    written = [
        {"source": s, "context": f"{PARAGRAPH} {more}", "questions": ASKED}
        for s, more in (("a", "It applies once."), ("b", "It applies to every call."))
    ]
    documentation.write_text(json.dumps(squad(written)))
    out = tmp_path / "weights" / "reader.safetensors"
    card = train([data], 1, 4, 5e-5, out, documentation=documentation, workdir=tmp_path / "work")
    assert card["epochs_run"] == 1 and card["questions"] == 8  # 2 held-out articles
    assert 0 <= card["docs_sentence_top1"] <= 1  # the held-out source "a"
    with pytest.raises(QaBotError, match="no calibrated veto"):
        load_reader(out, out.with_name(CARD.name))
    card = calibrate(data, out, documentation)  # each held-out set ingested and asked
    assert set(card["veto_by_set"]) == {"squad", "documentation"}
    assert card["veto"] == min(card["veto_by_set"].values()) and card["veto_questions"] >= 2
    held_out = split(articles)[1] + split_documentation(documentation)[1]
    answerable = sum(
        bool(q["answers"]) for a in held_out for p in a["paragraphs"] for q in p["qas"]
    )
    assert card["veto_questions"] == answerable  # asked the held-out questions, not the training
    for points in card["refusal_curve"].values():  # more refused and fewer answered as it rises
        answered = [a for _, a, _ in points]
        assert answered == sorted(answered, reverse=True) and card["veto"] in [
            v for v, _, _ in points
        ]
    assert load_reader(out, out.with_name(CARD.name)).veto == card["veto"]
    assert card["sha256"] in out.with_name("MODEL_CARD.md").read_text()
    assert "The answerer's veto" in out.with_name("MODEL_CARD.md").read_text()
    asked = sum(len(p["qas"]) for a in held_out for p in a["paragraphs"])
    assert 1 <= card["answerability"]["questions"] <= asked  # those the scorer answers


def test_the_parts_of_the_training_questions_share_none_and_cover_all() -> None:
    examples = list(range(10))
    parts = [shard(examples, k, 3, seed=5) for k in (1, 2, 3)]
    assert sorted(x for part in parts for x in part) == examples
    assert [len(p) for p in parts] == [4, 3, 3]
    assert parts[0] == shard(examples, 1, 3, seed=5) != shard(examples, 1, 3, seed=6)


def test_every_near_miss_adds_the_other_parts_unanswerable_questions() -> None:
    examples = [Example(f"q{i}", [("s", "")], 0, i % 3 != 0, None, None) for i in range(12)]
    part = shard(examples, 2, 4, seed=5)
    more = shard(examples, 2, 4, seed=5, every_near_miss=True)
    assert [e for e in more if e.answers] == [e for e in part if e.answers]
    assert [e for e in more if not e.answers] == [e for e in examples if not e.answers]
    assert len(more) > len(part)


def test_a_stopped_training_resumes_where_it_stood(tmp_path: Path) -> None:
    data = tmp_path / "squad.json"
    training = _article("Harbour")
    training["paragraphs"] *= 3
    data.write_text(json.dumps({"data": [training, _article(VALIDATION[0])]}))
    whole, resumed = (tmp_path / name / "reader.safetensors" for name in ("whole", "resumed"))
    train([data], 1, 2, 5e-5, whole, workdir=tmp_path / "a")
    with pytest.raises(SystemExit, match="run again to resume"):
        train([data], 1, 2, 5e-5, resumed, workdir=tmp_path / "b", max_steps=3)
    (folder,) = (tmp_path / "b").glob("run-*")
    assert json.loads((folder / "progress.json").read_text())["step"] == 3
    card = train([data], 1, 2, 5e-5, resumed, workdir=tmp_path / "b")
    assert whole.read_bytes() == resumed.read_bytes()
    assert train([data], 1, 2, 5e-5, resumed, workdir=tmp_path / "b") == card  # done: kept
    train([data], 1, 2, 1e-5, resumed, workdir=tmp_path / "b")  # other options: a run of its own
    assert len(list((tmp_path / "b").glob("run-*"))) == 2


PARAGRAPH = (
    "The ``timeout`` argument is passed to Popen.communicate(). If the timeout expires, the "
    'child process will be killed and waited for. The default is "None", which waits forever '
    "for the child to finish."
)
ASKED = [
    {"question": "What is the default timeout?", "answer": "the default is `None`"},
    {"question": "What happens when the timeout runs out?", "answer": "The child gets killed."},
    {"question": "What does a timeout do?", "answer": "The child process will be killed."},
    {"question": "Where does the timeout go", "answer": "Popen.communicate()"},
    {"question": "Who wrote subprocess?", "answer": "Peter Astrand wrote it."},
    {"question": ["not", "text"], "answer": "None"},
    {"question": "What is the default timeout?", "answer": "None"},  # asked twice: kept once
]


def test_written_questions_are_kept_when_the_paragraph_holds_their_answer() -> None:
    written = [{"source": s, "context": PARAGRAPH, "questions": ASKED} for s in ("module:a", "b")]
    data = squad(written)  # the paragraph is kept once, under its first source
    assert data["validation"] == ["module:a"]  # the first source of every HELD_OUT
    [article] = data["data"]
    qas = article["paragraphs"][0]["qas"]
    kept = {
        qa["question"]: (qa["answers"][0]["answer_start"], qa["answers"][0]["text"]) for qa in qas
    }
    assert len(qas) == len(kept)
    copied, restated = 'The default is "None"', "If the timeout expires, the child"
    assert kept == {  # copied: case and quote marks ignored; restated: the sentence
        "What is the default timeout?": (PARAGRAPH.index(copied), copied),
        "What happens when the timeout runs out?": (
            PARAGRAPH.index(restated),
            "If the timeout expires, the child process will be killed and waited for.",
        ),
        "What does a timeout do?": (
            PARAGRAPH.index("the child"),
            "the child process will be killed",
        ),
    }


def test_a_source_keeps_its_side_when_the_questions_are_written_again() -> None:
    written = [
        {"source": s, "context": f"{PARAGRAPH} {s}.", "questions": ASKED}
        for s in ("module:a", "module:b", "module:c")
    ]
    first = squad(written[:2])
    assert first["validation"] == ["module:a"]
    before = {"data": [{"title": "module:a"}, {"title": "module:b"}], "validation": ["module:b"]}
    assert squad(written, before)["validation"] == ["module:b", "module:c"]  # c: the first new
    assert squad(written, first)["validation"] == ["module:a", "module:c"]


def test_documentation_paragraphs_are_prose_away_from_the_eval_pages() -> None:
    code = "Example::\n\n>>> import subprocess\n>>> subprocess.run(['ls'])"
    assert prose(f"{PARAGRAPH}\n\n{code}\n\nToo short. Two sentences.") == [PARAGRAPH]
    found = paragraphs()
    sources = {source for source, _ in found}
    assert "topic:raise" not in sources and "module:logging" not in sources
    assert not any("``" in text for _, text in found)
    shipped = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    trained, held_out = split_documentation(QUESTIONS)
    assert {a["title"] for a in held_out} == set(shipped["validation"])
    assert trained and questions(held_out)
    contexts = [p["context"] for a in shipped["data"] for p in a["paragraphs"]]
    assert len(set(contexts)) == len(contexts)  # none both trained on and held out
    pages = [
        text
        for page in Path("evals/corpora/python-docs").glob("*.html")
        for text, _, _ in load_html(page)
    ]
    eval_runs = {run for text in pages for run in _runs(text)}
    assert len(eval_runs) > 1000
    assert not [c for c in contexts if _runs(c) & eval_runs]


def _runs(text: str, size: int = 10) -> set[tuple[str, ...]]:
    """Every run of ``size`` words of ``text`` (lower case)."""
    tokens = [w.lower() for w in words(text)]
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}
