"""The reader's base, measured before training one: the time one answer's reading and one
training step take with all-MiniLM-L6-v2 (the shipped reader) and with all-mpnet-base-v2 as the
encoder, run by PyTorch and by OpenVINO (as the answerer runs it).

    python -m bench.reader_base [--questions 60] [--threads 2]

Each held-out SQuAD question goes through the reader's network with ``READ`` sentences of its
article (from its paragraph on, each with the sentence before it) in one batch, as in an
answer. The mpnet network has the reader's heads untrained: its time, not its output, is
measured. The shipped whole answer is in docs/answer-quality.md (its p50 / p95 floor: 150 /
300 ms); a base whose reading alone passes that floor cannot be kept whatever it measures.
"""

from __future__ import annotations

import argparse
import inspect
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from qa_bot.answer.extractive import READ
from qa_bot.config import Settings
from qa_bot.reader.model import batch, encode
from qa_bot.reader.reader import WEIGHTS, load_net
from qa_bot.storage.encoders import trace
from qa_bot.storage.parts import MPNET, assembled
from qa_bot.text import sentence_spans, with_before
from training.data import load_articles, split

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared/benchmarks/squad2-dev-train.json"
console = Console()
Run = Callable[..., object]
"""A network called with the reader's input tensors by name."""
PAIRS = 32
"""Pairs in a training step (``training.train``'s batch)."""
STEPS = 3
"""Training steps timed."""


Asked = list[tuple[str, list[tuple[str, str]]]]
"""Questions, each with its candidates (sentence, sentence before it)."""


def readings(count: int) -> Asked:
    """``count`` held-out questions, each with ``READ`` sentences from its paragraph on (each
    with the sentence before it), as many as an answer reads."""
    found = []
    for article in split(load_articles(SQUAD))[1]:
        said = [
            (span.text, before)
            for paragraph in article["paragraphs"]
            for span, before in with_before(sentence_spans(paragraph["context"]))
        ]
        questions = [qa["question"] for p in article["paragraphs"] for qa in p["qas"][:1]]
        step = max(1, len(said) // max(1, len(questions)))
        found += [(q, said[i * step : i * step + READ]) for i, q in enumerate(questions)]
    return [(q, c) for q, c in found if len(c) == READ][:count]


class MpnetReader(torch.nn.Module):
    """all-mpnet-base-v2's encoder with heads the shape of the reader's (untrained)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(path)
        self.heads = torch.nn.Linear(self.encoder.config.hidden_size, 3)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The heads' logits of each token (mpnet has no segment ids)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        logits: torch.Tensor = self.heads(hidden.last_hidden_state)
        return logits


def mpnet_reader() -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    """The mpnet reader network and its tokenizer, assembled from the ``mpnet`` extra."""
    path = assembled(MPNET, Settings().store.encoder_cache)
    return MpnetReader(path).eval(), AutoTokenizer.from_pretrained(path)


def openvino(net: torch.nn.Module, tokenizer: PreTrainedTokenizerBase) -> Run:
    """``net`` converted for OpenVINO and compiled for this CPU, as the answerer runs the
    reader (``store.encoder`` "openvino", precision "auto")."""
    import openvino as ov

    example = inputs(tokenizer, ("Who?", [("A sentence.", ""), ("A longer one.", "Before.")]))
    names = inspect.signature(net.forward).parameters
    example = {name: tensor for name, tensor in example.items() if name in names}
    compiled = ov.Core().compile_model(trace(net, example), "CPU")
    return lambda **given: compiled({n: given[n].numpy() for n in example})


def inputs(
    tokenizer: PreTrainedTokenizerBase, asked: tuple[str, list[tuple[str, str]]]
) -> dict[str, torch.Tensor]:
    """One question's candidates as the reader's input tensors."""
    question, candidates = asked
    items = [encode(tokenizer, question, s, b) for s, b in candidates]  # type: ignore[arg-type]
    return batch(items, tokenizer.pad_token_id)


def timings(run: Run, tokenizer: PreTrainedTokenizerBase, asked: Asked) -> list[float]:
    """Milliseconds each question's reading takes (tokenising, one batch through ``run``)."""
    spent = []
    with torch.inference_mode():
        for one in asked:
            began = time.perf_counter()
            given = inputs(tokenizer, one)
            run(**given)
            spent.append((time.perf_counter() - began) * 1000)
    return spent


def step_seconds(net: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, asked: Asked) -> float:
    """Seconds one training step takes: forward and backward of ``PAIRS`` pairs under bf16
    autocast, and AdamW, as ``training.train`` runs it (the median of ``STEPS``)."""
    pairs = [c for _, candidates in asked for c in candidates][:PAIRS]
    given = inputs(tokenizer, (asked[0][0], pairs))
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-5)
    net.train()
    spent = []
    for _ in range(STEPS + 1):
        began = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = pytorch(net)(**given)
        loss = sum(o.float().mean() for o in (out if isinstance(out, tuple) else (out,)))
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
        spent.append(time.perf_counter() - began)
    net.eval()
    return statistics.median(spent[1:])


def pytorch(net: torch.nn.Module) -> Run:
    """``net`` called with the reader's inputs, those its ``forward`` takes."""
    names = inspect.signature(net.forward).parameters
    return lambda **given: net(**{n: t for n, t in given.items() if n in names})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    asked = readings(args.questions)
    minilm, minilm_tokens = load_net(WEIGHTS)
    bases = {
        "all-MiniLM-L6-v2 (shipped)": (minilm.eval(), minilm_tokens),
        "all-mpnet-base-v2": mpnet_reader(),
    }
    table = Table(title=f"One answer's reading ({READ} candidates, one batch) and a training step")
    for column in ("base", "parameters", "runtime", "p50 ms", "p95 ms", f"step of {PAIRS} s"):
        table.add_column(column)
    for name, (net, tokenizer) in bases.items():
        size = f"{sum(p.numel() for p in net.parameters()) / 1e6:.0f} M"
        step = f"{step_seconds(net, tokenizer, asked):.2f}"
        runs = {"PyTorch fp32": pytorch(net), "OpenVINO auto": openvino(net, tokenizer)}
        for runtime, run in runs.items():
            timings(run, tokenizer, asked[:5])  # warm up
            spent = sorted(timings(run, tokenizer, asked))
            p95 = spent[int(0.95 * (len(spent) - 1))]
            table.add_row(
                name, size, runtime, f"{statistics.median(spent):.0f}", f"{p95:.0f}", step
            )
    console.print(table)
    console.print(
        f"{len(asked)} held-out questions, {args.threads} threads, {platform.machine()}, "
        f"torch {torch.__version__}; command: python -m bench.reader_base --questions "
        f"{args.questions} --threads {args.threads}"
    )


if __name__ == "__main__":
    main()
