"""Train qa-bot's reader (``make train-reader``): on every usable question of the SQuAD files
named (SQuAD 1.1 train, SQuAD 2.0 dev less its held-out articles) and the documentation
questions, with made near misses; seeded, in bf16 on CPUs that have it, with progress. It
writes a checkpoint (weights, optimiser, schedule, data position, random state) every
``--checkpoint-minutes`` and on SIGTERM/SIGINT to ``--workdir``, and resumes from it when run
again with the same options. At the end of each epoch it validates, keeps the best epoch as fp16
weights, and writes the card (sha256, validation figures) and MODEL_CARD.md.

    python -m training.train --data ../shared/benchmarks/squad1-train.json \\
        --data ../shared/benchmarks/squad2-dev-train.json \\
        --documentation training/documentation.json \\
        --validate ../shared/benchmarks/squad1-dev-13.json
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch.nn import functional as F
from transformers import BertTokenizer

from qa_bot.reader.model import ReaderNet, batch, encode, sentence_mask
from qa_bot.reader.reader import WEIGHTS
from qa_bot.storage.digest import sha256
from training.data import VALIDATION
from training.examples import Pair, data_key, pairs
from training.run import WORKDIR, Plan, Run
from training.validation import SELECTIONS, card_of, write_card


def _span_tokens(item_offsets: list[tuple[int, int]], span: tuple[int, int]) -> tuple[int, int]:
    """The first and last sentence tokens covering the character span."""
    start, end = span
    first = next((i for i, (a, b) in enumerate(item_offsets) if b > start), 0)
    last = max((i for i, (a, _) in enumerate(item_offsets) if a < end), default=first)
    return first, max(first, last)


def _loss(
    net: torch.nn.Module, tokenizer: BertTokenizer, pairs: list[Pair], bf16: bool
) -> torch.Tensor:
    """Binary cross-entropy on "answers" plus half the span cross-entropy of the answering
    pairs; the forward pass in bf16 when asked."""
    items = [encode(tokenizer, p.question, p.sentence, p.before) for p in pairs]
    inputs = batch(items, tokenizer.pad_token_id)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    with autocast:
        logits, start, end = net(**inputs)
    logits, start, end = logits.float(), start.float(), end.float()
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


def _batches(drawn: list[Pair], size: int, seed: int) -> list[list[Pair]]:
    """Batches of pairs of similar length (less padding), in an order fixed by ``seed``."""
    ordered = sorted(drawn, key=lambda p: len(p.question) + len(p.sentence) + len(p.before))
    chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    random.Random(seed).shuffle(chunks)
    return chunks


class Stop:
    """When the loop saves a checkpoint and ends: on SIGTERM or SIGINT, or at step ``after``."""

    def __init__(self, after: int | None = None) -> None:
        self.asked = False
        self.after = after
        self._before: dict[int, Any] = {}

    def __enter__(self) -> Stop:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._before[sig] = signal.signal(sig, self._ask)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._before.items():
            signal.signal(sig, handler)

    def _ask(self, signum: int, frame: object) -> None:
        self.asked = True


def train(
    data: list[Path],
    epochs: int,
    batch_size: int,
    lr: float,
    out: Path,
    init: Path | None = None,
    first_epoch: int = 1,
    select: str = "overall",
    documentation: Path | None = None,
    validation: list[Path] | None = None,
    workdir: Path = WORKDIR,
    checkpoint_minutes: float = 15.0,
    bf16: bool | None = None,
    max_steps: int | None = None,
    part: tuple[int, int] = (1, 1),
    every_near_miss: bool = False,
) -> dict[str, Any]:
    """Train epochs ``first_epoch``..``epochs`` (from ``init``'s weights when given, which
    count as the epoch before), resuming from ``workdir``'s checkpoint; validate after each
    epoch and keep the epoch that validates best by ``select`` (``SELECTIONS``) as ``out``.
    With ``max_steps``, stop (checkpointed) after that many steps of this run."""
    plan = Plan(
        data=[str(p) for p in data],
        data_key=data_key(data),
        documentation=str(documentation) if documentation else None,
        documentation_key=sha256(documentation)[:8] if documentation else None,
        validation=[str(p) for p in validation or []],
        epochs=epochs,
        first_epoch=first_epoch,
        batch_size=batch_size,
        lr=lr,
        init_sha256=sha256(init) if init else None,
        bf16=bf16_supported() if bf16 is None else bf16,
        select=select,
        shard=part,
        every_near_miss=every_near_miss,
    )
    run = Run(plan, workdir, init)
    print(f"training questions: {json.dumps(dict(run.counts))}", flush=True)
    resumed = run.resume()
    if resumed:
        print(f"resumed: {json.dumps(asdict(run.progress) | {'total': run.total})}", flush=True)
    elif init is not None:
        run.progress.best = _figures_of(init, plan) or run.validate()
        run.progress.best |= {"epoch": first_epoch - 1}
        print(f"validation of {init.name}: {json.dumps(run.progress.best)}", flush=True)
        save_weights(run.net, out)
    written = card_of(out)
    card: dict[str, Any] = json.loads(written.read_text()) if resumed and written.is_file() else {}
    with Stop(None if max_steps is None else run.progress.step + max_steps) as stop:
        while run.progress.epoch <= epochs:
            if not _epoch(run, checkpoint_minutes, stop):
                run.save()
                raise SystemExit(
                    f"Stopped; the checkpoint is in {run.checkpoint}: run again to resume."
                )
            run.save()  # the epoch trained is kept while it validates (most of an hour)
            card = _end_epoch(run, out)
    return card


def _figures_of(init: Path, plan: Plan) -> dict[str, Any] | None:
    """The validation figures ``init``'s card already holds, when they are of these very
    weights on the same held-out files (saves an hour of validation); else None."""
    written = card_of(init)
    if not written.is_file():
        return None
    card = json.loads(written.read_text())
    same = (
        card.get("sha256") == plan.init_sha256
        and card.get("select") == plan.select
        and card.get("validation_files") == [Path(p).name for p in plan.validation]
    )
    if not same:
        return None
    keys = list(card)  # the card begins with the figures, up to the epoch they are of
    return {k: card[k] for k in keys[: keys.index("epoch")]}


def _epoch(run: Run, checkpoint_minutes: float, stop: Stop) -> bool:
    """Train the rest of the current epoch; False when stopped before its end."""
    plan, progress = run.plan, run.progress
    epoch = progress.epoch
    chunks = _batches(pairs(run.examples, plan.seed + epoch), plan.batch_size, plan.seed + epoch)
    run.net.train()
    began, saved, running = time.monotonic(), time.monotonic(), []
    seconds_before, resumed_at = progress.seconds, progress.step
    for chunk in chunks[progress.position :]:
        loss = _loss(run.net, run.tokenizer, chunk, plan.bf16)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(run.net.parameters(), 1.0)
        run.optimiser.step()
        run.schedule.step()
        run.optimiser.zero_grad()
        progress.step += 1
        progress.position += 1
        progress.seconds = seconds_before + time.monotonic() - began
        running.append(loss.item())
        if progress.step % 50 == 0:
            pace = (time.monotonic() - began) / (progress.step - resumed_at)
            _report(run, float(np.mean(running)), pace)
            running = []
        if stop.asked or stop.after == progress.step:
            return False
        if time.monotonic() - saved > checkpoint_minutes * 60:
            run.save()
            saved = time.monotonic()
    return True


def _report(run: Run, loss: float, pace: float) -> None:
    """One progress line: where the run is, its loss, and the time left at ``pace`` seconds a
    step (this run's, since it started or resumed)."""
    progress = run.progress
    left = pace * (run.total - progress.step)
    print(
        f"epoch {progress.epoch}/{run.plan.epochs} step {progress.step}/{run.total} "
        f"loss {loss:.3f} ({progress.seconds / 60:.1f} min, {left / 60:.0f} min left)",
        flush=True,
    )


def _end_epoch(run: Run, out: Path) -> dict[str, Any]:
    """Validate the epoch just trained, keep it when it is the best, write the card, and move
    the checkpoint to the next epoch."""
    progress = run.progress
    figures = run.validate() | {
        "epoch": progress.epoch,
        "minutes": round(progress.seconds / 60, 1),
    }
    print(f"validation after epoch {progress.epoch}: {json.dumps(figures)}", flush=True)
    if not progress.best or figures["score"] > progress.best["score"]:
        progress.best = figures
        save_weights(run.net, out)
    plan = run.plan
    card = {
        **progress.best,
        "sha256": sha256(out),
        "seed": plan.seed,
        "epochs_run": progress.epoch,
        "first_epoch": plan.first_epoch,
        "init_sha256": plan.init_sha256,
        "lr": plan.lr,
        "bf16": plan.bf16,
        "select": plan.select,
        "shard": list(plan.shard),
        "every_near_miss": plan.every_near_miss,
        "batch_size": plan.batch_size,
        "validation_articles": list(VALIDATION),
        "validation_files": [Path(p).name for p in plan.validation],
        "data": [Path(p).name for p in plan.data],
        "data_sha256": [sha256(Path(p)) for p in plan.data],
        "training_questions": run.training_questions,
        "examples": dict(run.counts),
        "documentation_sha256": sha256(Path(plan.documentation)) if plan.documentation else None,
        "wall_minutes": round(progress.seconds / 60, 1),
        "threads": torch.get_num_threads(),
    }
    write_card(card, out)
    progress.epoch += 1
    progress.position = 0
    run.save()
    return card


def bf16_supported() -> bool:
    """Whether this CPU computes in bf16 natively (AVX-512 BF16 or AMX): 5x faster there."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def save_weights(net: ReaderNet | torch.nn.Module, out: Path) -> None:
    """The weights in fp16, written whole or not at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    save_file({k: v.detach().half().contiguous() for k, v in net.state_dict().items()}, tmp)
    tmp.replace(out)


def _part(text: str) -> tuple[int, int]:
    """``K/N`` as (K, N), 1 <= K <= N."""
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise argparse.ArgumentTypeError(f"{text!r} is not a part K/N with 1 <= K <= N")
    return int(k), int(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--documentation", type=Path, help="documentation questions (SQuAD)")
    parser.add_argument(
        "--validate", type=Path, action="append", default=[], help="more held-out SQuAD files"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--first-epoch", type=int, default=1, help="the epoch --init begins")
    parser.add_argument("--init", type=Path, help="continue from these weights")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--checkpoint-minutes", type=float, default=15.0)
    parser.add_argument(
        "--part", type=_part, default=(1, 1), help="train on part K of N of the questions: K/N"
    )
    parser.add_argument(
        "--every-near-miss",
        action="store_true",
        help="with --part, train on the real near misses of every part",
    )
    parser.add_argument("--max-steps", type=int, help="stop (checkpointed) after these steps")
    parser.add_argument("--fp32", action="store_true", help="train in fp32 even where bf16 runs")
    parser.add_argument(
        "--select",
        choices=sorted(SELECTIONS),
        default="overall",
        help="the validation figures whose sum picks the epoch kept",
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
        args.select,
        args.documentation,
        args.validate,
        args.workdir,
        args.checkpoint_minutes,
        False if args.fp32 else None,
        args.max_steps,
        args.part,
        args.every_near_miss,
    )
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
