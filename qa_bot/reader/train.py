"""Train qa-bot's reader on SQuAD 2.0 (``make train-reader``): seeded, with progress; writes
the fp16 weights, the card (sha256, refusal threshold, validation figures) and MODEL_CARD.md.

    python -m qa_bot.reader.train --data ../shared/benchmarks/squad2-dev-train.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch.nn import functional as F
from transformers import BertTokenizer

from qa_bot.reader.data import (
    VALIDATION,
    Article,
    Pair,
    load_articles,
    questions,
    split,
    split_documentation,
    training_pairs,
)
from qa_bot.reader.model import batch, encode, sentence_mask
from qa_bot.reader.reader import WEIGHTS, Reader, load_net
from qa_bot.reader.validation import SELECTIONS, validate, write_card
from qa_bot.storage.digest import sha256

SEED = 13
NEGATIVES = 1
"""Random other sentences of the paragraph per question (besides the near miss and the
sentence of another paragraph)."""


def _span_tokens(item_offsets: list[tuple[int, int]], span: tuple[int, int]) -> tuple[int, int]:
    """The first and last sentence tokens covering the character span."""
    start, end = span
    first = next((i for i, (a, b) in enumerate(item_offsets) if b > start), 0)
    last = max((i for i, (a, _) in enumerate(item_offsets) if a < end), default=first)
    return first, max(first, last)


def _loss(net: torch.nn.Module, tokenizer: BertTokenizer, pairs: list[Pair]) -> torch.Tensor:
    items = [encode(tokenizer, p.question, p.sentence, p.before) for p in pairs]
    inputs = batch(items, tokenizer.pad_token_id)
    logits, start, end = net(**inputs)
    labels = torch.tensor([float(p.answers) for p in pairs])
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    spanned = [(r, p.span) for r, p in enumerate(pairs) if p.answers and p.span]
    if spanned:
        allowed = sentence_mask(items, inputs["input_ids"].shape[1])
        rows = torch.tensor([r for r, _ in spanned])
        tokens = [
            (items[r].first + a, items[r].first + b)
            for r, s in spanned
            for a, b in [_span_tokens(items[r].offsets, s)]
        ]
        starts, ends = torch.tensor(tokens).unbind(1)
        mask = ~allowed[rows]
        loss = loss + 0.5 * (
            F.cross_entropy(start[rows].masked_fill(mask, -1e4), starts)
            + F.cross_entropy(end[rows].masked_fill(mask, -1e4), ends)
        )
    return loss


def _batches(pairs: list[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Batches of pairs of similar length (less padding), in random order."""
    ordered = sorted(pairs, key=lambda p: len(p.question) + len(p.sentence) + len(p.before))
    chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    rng.shuffle(chunks)
    return chunks


def train(
    data: Path,
    epochs: int,
    batch_size: int,
    lr: float,
    out: Path,
    init: Path | None = None,
    first_epoch: int = 1,
    near_misses: bool = False,
    select: str = "overall",
    documentation: Path | None = None,
) -> dict[str, Any]:
    """Train epochs ``first_epoch``..``epochs`` (from ``init``'s weights when given, which
    count as the epoch before), validate after each, and keep the epoch that validates best
    by ``select`` (``SELECTIONS``). With ``near_misses``, each answerable question's near miss
    is trained on too; with ``documentation`` (``qa_bot.reader.documentation``), its questions
    too, less its held-out sources, which are validated on."""
    torch.manual_seed(SEED + first_epoch - 1)
    rng = random.Random(SEED + first_epoch - 1)
    train_articles, validation_articles = split(load_articles(data))
    held_out = questions(validation_articles)
    docs_train, docs_validation = split_documentation(documentation) if documentation else ([], [])
    docs_held_out = questions(docs_validation)
    trained = train_articles + docs_train
    net, tokenizer = load_net(init)
    best: dict[str, Any] = {}
    if init is not None:
        best = validate(Reader(net, tokenizer), held_out, select, docs_held_out) | {
            "epoch": first_epoch - 1
        }
        print(f"validation of {init.name}: {json.dumps(best)}", flush=True)
        _save(net, out)
    epochs_left = epochs - first_epoch + 1
    first = training_pairs(trained, SEED + first_epoch, NEGATIVES, near_misses)
    steps_per_epoch = math.ceil(len(first) / batch_size)
    total = steps_per_epoch * epochs_left
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, total // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / (total - warmup)))
    )
    began, step = time.monotonic(), 0
    for epoch in range(first_epoch, epochs + 1):
        pairs = (  # fresh each epoch
            first
            if epoch == first_epoch
            else training_pairs(trained, SEED + epoch, NEGATIVES, near_misses)
        )
        net.train()
        running = []
        for chunk in _batches(pairs, batch_size, rng):
            loss = _loss(net, tokenizer, chunk)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            step += 1
            running.append(loss.item())
            if step % 50 == 0:
                spent = time.monotonic() - began
                print(
                    f"epoch {epoch}/{epochs} step {step}/{total} loss {np.mean(running):.3f} "
                    f"({spent / 60:.1f} min, {spent / step * (total - step) / 60:.0f} min left)",
                    flush=True,
                )
                running = []
        figures = validate(Reader(net, tokenizer), held_out, select, docs_held_out)
        figures.update(epoch=epoch, minutes=round((time.monotonic() - began) / 60, 1))
        print(f"validation after epoch {epoch}: {json.dumps(figures)}", flush=True)
        if not best or figures["score"] > best["score"]:
            best = figures
            _save(net, out)
        card = {
            **best,
            "sha256": sha256(out),
            "seed": SEED,
            "epochs_run": epoch,
            "first_epoch": first_epoch,
            "init_sha256": sha256(init) if init else None,
            "lr": lr,
            "near_misses": near_misses,
            "select": select,
            "batch_size": batch_size,
            "validation_articles": list(VALIDATION),
            "training_questions": _count(train_articles),
            "data_sha256": sha256(data),
            "documentation_questions": _count(docs_train),
            "documentation_sha256": sha256(documentation) if documentation else None,
            "wall_minutes": round((time.monotonic() - began) / 60, 1),
        }
        write_card(card, out)  # after every epoch
    return card


def _count(articles: list[Article]) -> int:
    """The questions of ``articles``."""
    return sum(len(p["qas"]) for a in articles for p in a["paragraphs"])


def _save(net: torch.nn.Module, out: Path) -> None:
    """The weights in fp16, written whole or not at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    save_file({k: v.detach().half().contiguous() for k, v in net.state_dict().items()}, tmp)
    tmp.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/benchmarks/squad2-dev-train.json")
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--init", type=Path, help="continue from these weights")
    parser.add_argument("--first-epoch", type=int, default=1, help="the epoch --init begins")
    parser.add_argument(
        "--near-misses",
        action="store_true",
        help="also train on answerable questions with one name changed (near misses)",
    )
    parser.add_argument(
        "--select",
        choices=sorted(SELECTIONS),
        default="overall",
        help="the validation figures whose sum picks the epoch kept",
    )
    parser.add_argument(
        "--documentation",
        type=Path,
        help="also train on these questions about documentation (SQuAD format)",
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    if args.select == "documentation" and args.documentation is None:
        parser.error("--select documentation validates on --documentation: name the file")
    torch.set_num_threads(args.threads)
    card = train(
        args.data,
        args.epochs,
        args.batch_size,
        args.lr,
        args.out,
        args.init,
        args.first_epoch,
        args.near_misses,
        args.select,
        args.documentation,
    )
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
