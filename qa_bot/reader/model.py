"""qa-bot's reader: a cross-encoder that reads a question and one sentence (with the sentence
before it as context) and gives the probability that the sentence answers the question, and
the short answer's span within it.

One 6-layer BERT encoder (all-MiniLM-L6-v2's, fine-tuned on SQuAD 2.0) with two heads: a
logit over the [CLS] token ("this sentence answers") and start/end logits over the sentence's
tokens. The input is ``[CLS] question [SEP] sentence [SEP] sentence-before [SEP]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertTokenizer

MAX_QUESTION = 32
"""Tokens kept of a question."""
MAX_SENTENCE = 64
"""Tokens kept of a candidate sentence (the short answer lies within them)."""
MAX_BEFORE = 24
"""Tokens kept of the sentence before it (the start, which names what it speaks of)."""
MAX_SPAN = 30
"""Most tokens in a short answer."""


class ReaderNet(nn.Module):
    """The encoder and its two heads."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.encoder = BertModel(config, add_pooling_layer=False)
        self.answers = nn.Linear(config.hidden_size, 1)
        self.span = nn.Linear(config.hidden_size, 2)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The "answers" logit of each pair, and the start and end logits of each token."""
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        start, end = self.span(hidden).unbind(-1)
        return self.answers(hidden[:, 0]).squeeze(-1), start, end


@dataclass
class Encoded:
    """One (question, sentence) pair as token ids, with where the sentence's tokens lie and
    the character span each of them covers in the sentence."""

    ids: list[int]
    first: int
    """Index of the sentence's first token."""
    offsets: list[tuple[int, int]]
    """Character span in the sentence of each of its tokens."""


def encode(tokenizer: BertTokenizer, question: str, sentence: str, before: str) -> Encoded:
    """The reader's input for one pair, each part cut to its budget."""
    q = tokenizer(question, add_special_tokens=False, truncation=True, max_length=MAX_QUESTION)
    s = tokenizer(
        sentence,
        add_special_tokens=False,
        truncation=True,
        max_length=MAX_SENTENCE,
        return_offsets_mapping=True,
    )
    b = tokenizer(before, add_special_tokens=False, truncation=True, max_length=MAX_BEFORE)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    ids = [cls, *q["input_ids"], sep, *s["input_ids"], sep, *b["input_ids"], sep]
    return Encoded(ids, len(q["input_ids"]) + 2, list(s["offset_mapping"]))


def batch(items: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad encoded pairs into the model's input tensors (the question is segment 0)."""
    width = max(len(e.ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    types = torch.zeros((len(items), width), dtype=torch.long)
    for row, item in enumerate(items):
        ids[row, : len(item.ids)] = torch.tensor(item.ids)
        mask[row, : len(item.ids)] = 1
        types[row, item.first : len(item.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def sentence_mask(items: list[Encoded], width: int) -> torch.Tensor:
    """True at the tokens of each pair's sentence: where a short answer may start or end."""
    mask = torch.zeros((len(items), width), dtype=torch.bool)
    for row, item in enumerate(items):
        mask[row, item.first : item.first + len(item.offsets)] = True
    return mask


def base_model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 folder: the encoder's configuration and tokenizer."""
    from qa_bot.storage.embeddings import bundled_models

    return bundled_models()["all-MiniLM-L6-v2"]
