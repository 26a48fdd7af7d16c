"""The trained reader, loaded once from the weights shipped in the package and checked."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertTokenizer

from qa_bot.errors import QaBotError
from qa_bot.reader.answerability import Answerability, Reading
from qa_bot.reader.model import MAX_SPAN, ReaderNet, base_model_path, batch, encode, sentence_mask
from qa_bot.storage.digest import sha256
from qa_bot.storage.encoders import Precision, compile_model, export, trace
from qa_bot.turns import Turns

if TYPE_CHECKING:
    from qa_bot.config import StoreSettings

WEIGHTS = Path(__file__).with_name("weights") / "reader.safetensors"
CARD = WEIGHTS.with_name("reader.json")
"""The weights' sha256, the validation figures and the answerer's calibrated veto."""
BATCH = 64
"""Pairs read in one forward pass."""
REMEMBERED = 8
"""Questions whose readings are kept: the reranker and the answerer read the same sentences."""


Network = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
"""The reader's network: input tensors by name in; "answers", start and end logits out."""


class Reader:
    """Scores (question, sentence) pairs in batches: does the sentence answer, and with
    which words. One call runs at a time (the model uses every core already)."""

    def __init__(
        self,
        net: Network,
        tokenizer: BertTokenizer,
        veto: float = 0.0,
        answerability: Answerability | None = None,
    ) -> None:
        self.net = net.eval() if isinstance(net, torch.nn.Module) else net
        self.tokenizer = tokenizer
        self.veto = veto
        """Below this probability the answerer does not quote a sentence (calibrated through
        the whole pipeline on held-out articles)."""
        self.answerability = answerability
        """Whether the best sentences read together answer at all (when it refuses better than
        the veto on held-out articles)."""
        self._turn = Turns()
        self._memo: OrderedDict[str, dict[tuple[str, str], Reading]] = OrderedDict()

    @torch.inference_mode()
    def read(self, question: str, candidates: list[tuple[str, str]]) -> list[Reading]:
        """Read each (sentence, sentence before it) candidate against ``question``; pairs read
        for one of the last ``REMEMBERED`` questions are not read again."""
        with self._turn:
            memo = self._memo.pop(question, {})
            self._memo[question] = memo
            while len(self._memo) > REMEMBERED:
                self._memo.popitem(last=False)
            new = list(dict.fromkeys(c for c in candidates if c not in memo))
            for at in range(0, len(new), BATCH):
                part = new[at : at + BATCH]
                memo.update(zip(part, self._read(question, part), strict=True))
            return [memo[c] for c in candidates]

    def _read(self, question: str, candidates: list[tuple[str, str]]) -> list[Reading]:
        items = [encode(self.tokenizer, question, s, b) for s, b in candidates]
        inputs = batch(items, self.tokenizer.pad_token_id)
        answers, start, end = self.net(**inputs)
        allowed = sentence_mask(items, inputs["input_ids"].shape[1])
        first, last = best_spans(start, end, allowed)
        probs = torch.sigmoid(answers).tolist()
        sure = (start.gather(1, first[:, None]) + end.gather(1, last[:, None])).squeeze(1)
        readings = []
        for item, p, i, j, s in zip(
            items, probs, first.tolist(), last.tolist(), sure.tolist(), strict=True
        ):
            offsets = item.offsets
            if not offsets:  # an empty sentence: no span to point at
                readings.append(Reading(p, (0, 0)))
                continue
            a, b = i - item.first, j - item.first
            readings.append(Reading(p, (offsets[a][0], offsets[b][1]), s))
        return readings


def best_spans(
    start: torch.Tensor, end: torch.Tensor, allowed: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row, the (start, end) token pair with the highest summed logits, start ≤ end,
    at most ``MAX_SPAN`` tokens, both within the allowed tokens."""
    width = start.shape[1]
    scores = start.unsqueeze(2) + end.unsqueeze(1)
    band = torch.ones(width, width, dtype=torch.bool).triu().tril(MAX_SPAN - 1)
    ok = band & allowed.unsqueeze(2) & allowed.unsqueeze(1)
    flat = scores.masked_fill(~ok, float("-inf")).flatten(1).argmax(1)
    return flat // width, flat % width


def load_net(weights: Path | None = None) -> tuple[ReaderNet, BertTokenizer]:
    """The network (fresh from all-MiniLM-L6-v2's encoder when ``weights`` is None) and the
    tokenizer."""
    base = base_model_path()
    net = ReaderNet(BertConfig.from_pretrained(base, local_files_only=True))
    if weights is None:
        from transformers import BertModel

        net.encoder = BertModel.from_pretrained(
            base, add_pooling_layer=False, local_files_only=True
        )
    else:
        net.load_state_dict({k: v.float() for k, v in load_file(weights).items()})
    return net, _tokenizer()


def _tokenizer() -> BertTokenizer:
    """The reader's tokenizer: all-MiniLM-L6-v2's."""
    tokenizer: BertTokenizer = BertTokenizer.from_pretrained(
        base_model_path(), local_files_only=True
    )
    return tokenizer


def checked_card(weights: Path, card: Path) -> dict[str, Any]:
    """The card of trained ``weights``, once they are checked against its sha256 and it holds
    the calibrated veto."""
    if not weights.is_file() or not card.is_file():
        raise QaBotError(
            f"The reader's weights are missing ({weights.name}): reinstall qa-bot, or run "
            "`make train-reader` to train them."
        )
    facts: dict[str, Any] = json.loads(card.read_text(encoding="utf-8"))
    if sha256(weights) != facts["sha256"]:
        raise QaBotError(
            f"The reader's weights ({weights.name}) do not match their checksum: reinstall "
            "qa-bot, or run `make train-reader` to train them again."
        )
    if "veto" not in facts:
        raise QaBotError(
            f"The reader's card ({card.name}) has no calibrated veto: run `python -m "
            "training.calibrate` (part of `make train-reader`)."
        )
    return facts


def refusal(facts: dict[str, Any]) -> tuple[float, Answerability | None]:
    """The card's veto, and its answerability model when calibration found it refuses better."""
    model = facts.get("answerability")
    used = Answerability.from_card(model) if model and model.get("used") else None
    return float(facts["veto"]), used


def load_reader(weights: Path, card: Path) -> Reader:
    """A trained reader run by PyTorch, its weights checked against the card's sha256."""
    veto, answerability = refusal(checked_card(weights, card))
    net, tokenizer = load_net(weights)
    return Reader(net, tokenizer, veto, answerability)


class OpenVinoNet:
    """The reader's network converted for OpenVINO (once, into the encoder cache), called as
    the PyTorch network is."""

    def __init__(self, weights: Path, cache_dir: Path, precision: Precision) -> None:
        xml = export(weights, cache_dir, "fp32", lambda: _converted(weights))
        self.model = compile_model(xml, precision)

    def __call__(self, **inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model({name: tensor.numpy() for name, tensor in inputs.items()})
        answers, start, end = (torch.from_numpy(out[i]) for i in range(3))
        return answers, start, end


def _converted(weights: Path) -> tuple[Any, list[str]]:
    """The reader's network as an OpenVINO model, and its input names."""
    net, tokenizer = load_net(weights)
    pairs = [
        ("Who?", "A sentence.", ""),
        ("Where is it?", "A longer sentence than that.", "Before."),
    ]
    example = batch([encode(tokenizer, *pair) for pair in pairs], tokenizer.pad_token_id)
    return trace(net.eval(), example), list(example)


@cache
def shipped_reader(
    encoder: str = "torch", precision: Precision = "auto", cache_dir: Path | None = None
) -> Reader:
    """The reader shipped with qa-bot, run by PyTorch or (``encoder="openvino"``) OpenVINO,
    loaded once per process."""
    if encoder != "openvino" or cache_dir is None:
        return load_reader(WEIGHTS, CARD)
    veto, answerability = refusal(checked_card(WEIGHTS, CARD))  # no PyTorch network built
    return Reader(OpenVinoNet(WEIGHTS, cache_dir, precision), _tokenizer(), veto, answerability)


def reader_for(store: StoreSettings) -> Reader:
    """The shipped reader, run as the store's encoder settings run the embedding model (int8
    is for the embedding model alone: the reader then runs as ``auto``)."""
    precision: Precision = "fp32" if store.precision == "fp32" else "auto"
    return shipped_reader(store.encoder, precision, store.encoder_cache)
