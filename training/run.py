"""One training run of the reader: what defines it (``Plan``), where it stands
(``Progress``), and its data, network, optimiser and schedule with their checkpoint (``Run``)."""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from qa_bot.reader.reader import Reader, load_net
from training.data import Article, load_articles, questions, split, split_documentation
from training.examples import Example, cached, pairs
from training.validation import choice, validate

SEED = 13
WORKDIR = Path(".train/reader")
"""Where checkpoints and prepared examples live (ignored by git)."""


@dataclass
class Plan:
    """What defines a training run: a checkpoint resumes only the same plan."""

    data: list[str]
    data_key: str
    documentation: str | None
    documentation_key: str | None
    validation: list[str]
    epochs: int
    first_epoch: int
    batch_size: int
    lr: float
    init_sha256: str | None
    bf16: bool
    select: str
    shard: tuple[int, int] = (1, 1)
    """Which part of the training questions this run trains on (k of n): an epoch of all the
    data takes longer than a session, so ``make train-reader`` trains it in parts, each
    continuing from the weights of the one before."""
    seed: int = SEED
    every_near_miss: bool = False
    """Train on SQuAD 2.0's real near misses of every part, not only this part's: they are the
    refusal's scarcest examples (about 4,600 among 94,000 questions)."""


ADDED = {"every_near_miss": False}
"""Plan fields added after runs were checkpointed, with their defaults: a plan at a default
leaves the field out of its folder's key, so its earlier checkpoint still resumes."""


@dataclass
class Progress:
    """Where a run stands: saved in every checkpoint."""

    epoch: int
    position: int = 0
    """Batches of ``epoch`` already trained."""
    step: int = 0
    seconds: float = 0.0
    best: dict[str, Any] = field(default_factory=dict)


def shard(
    examples: list[Example], k: int, n: int, seed: int, every_near_miss: bool = False
) -> list[Example]:
    """Part ``k`` of ``n`` of the examples, drawn at random (the same for the same seed), and
    with ``every_near_miss`` the unanswerable examples of the other parts too."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    part = set(order[k - 1 :: n])
    return [e for i, e in enumerate(examples) if i in part or (every_near_miss and not e.answers)]


class Run:
    """One training run: the data, the network, its optimiser and schedule, and its
    checkpoint."""

    def __init__(self, plan: Plan, workdir: Path, init: Path | None) -> None:
        self.plan, self.workdir = plan, workdir
        torch.manual_seed(plan.seed + plan.first_epoch - 1)
        squad = [a for path in plan.data for a in load_articles(Path(path))]
        train_articles, validation_articles = split(squad)
        documentation = Path(plan.documentation) if plan.documentation else None
        docs_train, docs_validation = (
            split_documentation(documentation) if documentation else ([], [])
        )
        prepared = cached(
            train_articles + docs_train,
            f"{plan.data_key}-{plan.documentation_key}",
            workdir,
            plan.seed,
        )
        self.examples, self.counts = (
            shard(prepared.examples, *plan.shard, plan.seed, plan.every_near_miss),
            prepared.counts,
        )
        self.held_out = questions(validation_articles)
        self.docs_held_out = questions(docs_validation)
        self.extra_held_out = {
            Path(path).stem: questions(load_articles(Path(path))) for path in plan.validation
        }
        self.training_questions = _count(train_articles) + _count(docs_train)
        self.net, self.tokenizer = load_net(init)
        epochs = plan.epochs - plan.first_epoch + 1
        self.steps_per_epoch = math.ceil(len(pairs(self.examples, plan.seed)) / plan.batch_size)
        total = self.steps_per_epoch * epochs
        warmup = max(1, total // 16)
        self.optimiser = torch.optim.AdamW(self.net.parameters(), lr=plan.lr, weight_decay=0.01)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimiser,
            lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))),
        )
        self.total = total
        self.progress = Progress(plan.first_epoch)

    @property
    def folder(self) -> Path:
        """This plan's own folder: other options or data never resume its checkpoint."""
        fields = {k: v for k, v in asdict(self.plan).items() if ADDED.get(k, ...) != v}
        key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
        return self.workdir / f"run-{key[:12]}"

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint.pt"

    def resume(self) -> bool:
        """Load this plan's checkpoint, when there is one."""
        if not self.checkpoint.is_file():
            return False
        state = torch.load(self.checkpoint, weights_only=False)
        self.net.load_state_dict(state["net"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])
        self.progress = Progress(**state["progress"])
        return True

    def save(self) -> None:
        """The checkpoint, written whole or not at all."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint.with_suffix(".tmp")
        torch.save(
            {
                "plan": asdict(self.plan),
                "net": self.net.state_dict(),
                "optimiser": self.optimiser.state_dict(),
                "schedule": self.schedule.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "progress": asdict(self.progress),
            },
            tmp,
        )
        tmp.replace(self.checkpoint)
        status = asdict(self.progress) | {"total": self.total, "saved": time.time()}
        (self.folder / "progress.json").write_text(json.dumps(status, indent=2) + "\n")

    def validate(self) -> dict[str, Any]:
        """The held-out figures of the network as it is now."""
        reader = Reader(self.net, self.tokenizer)
        figures = validate(reader, self.held_out, self.plan.select, self.docs_held_out)
        for name, held_out in self.extra_held_out.items():
            figures |= {f"{name}_{k}": v for k, v in choice(reader, held_out).items()}
        self.net.train()
        return figures


def _count(articles: list[Article]) -> int:
    """The questions of ``articles``."""
    return sum(len(p["qas"]) for a in articles for p in a["paragraphs"])
