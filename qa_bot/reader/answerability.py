"""Whether a question is answered at all by its best candidate sentences, read together: a
logistic model over the reader's readings of them (how sure the best is, how far ahead of the
second, how sure its short answer is, how much of the reading mass it holds) and over what of
the question they state (its names and numbers, its content words). One sentence's
probability alone is a weak no-answer signal; a near miss that changes one name shows in the
names the candidates never state.

The model's weights, the features' scaling and the calibrated threshold are trained on held-out
articles (``training.answerability``) and kept in the reader's card.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa_bot.text import bare, key_terms, stems, words

FEATURES = ("best", "lead", "span", "mass", "names", "words")
"""best: the best reading's logit; lead: its logit less the second's; span: the best short
answer's start and end logits; mass: log of the readings' summed probability; names: share of the
question's names and numbers the best ``TOP`` candidates state; words: share of its content
words the best candidate states."""
TOP = 3
"""Candidates whose text counts for the question's names."""
_EPS = 1e-4


@dataclass
class Reading:
    """The reader's verdict on one sentence."""

    answers: float
    """Probability that the sentence answers the question."""
    span: tuple[int, int]
    """The short answer's characters in the sentence."""
    span_score: float = 0.0
    """The short answer's start and end logits, summed: how sure the reader is of it."""


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def features(
    question: str, candidates: list[tuple[str, str]], readings: list[Reading]
) -> np.ndarray:
    """The feature vector (``FEATURES``) of a question and its read candidates."""
    order = sorted(range(len(readings)), key=lambda i: -readings[i].answers)
    probs = [readings[i].answers for i in order]
    best, second = probs[0], probs[1] if len(probs) > 1 else 0.0
    top = [" ".join(candidates[i]) for i in order[:TOP]]
    names = key_terms(question)
    stated = {bare(w) for text in top for w in words(text)}
    wanted = stems(question)
    return np.array(
        [
            _logit(best),
            _logit(best) - _logit(second),
            readings[order[0]].span_score,
            math.log(sum(probs) + _EPS),
            len(names & stated) / len(names) if names else 1.0,
            len(wanted & stems(top[0])) / len(wanted) if wanted else 1.0,
        ]
    )


@dataclass
class Answerability:
    """A trained logistic model over ``features`` and its refusal threshold."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float
    """Below this probability the question is refused (calibrated on held-out articles)."""

    @classmethod
    def from_card(cls, facts: dict[str, Any]) -> Answerability:
        """The model kept in the reader's card."""
        return cls(
            np.array(facts["mean"]),
            np.array(facts["scale"]),
            np.array(facts["weights"]),
            float(facts["bias"]),
            float(facts["threshold"]),
        )

    def card(self) -> dict[str, Any]:
        """The model as the card keeps it."""
        return {
            "features": list(FEATURES),
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "weights": self.weights.round(6).tolist(),
            "bias": round(self.bias, 6),
            "threshold": round(self.threshold, 6),
        }

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Probability that each row's question is answered by its candidates."""
        z = ((x - self.mean) / self.scale) @ self.weights + self.bias
        out: np.ndarray = 1 / (1 + np.exp(-z))
        return out

    def answerable(
        self, question: str, candidates: list[tuple[str, str]], readings: list[Reading]
    ) -> float:
        """Probability that the candidates answer ``question``."""
        return float(self.probability(features(question, candidates, readings)[None, :])[0])
