"""Fit the answerability model (``qa_bot.reader.answerability``) on held-out readings, and
compare it with the reader's best probability alone by their refusal curves, cross-validated
across articles (fitted on all but one, measured on that one, for each)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch

from qa_bot.reader.answerability import FEATURES, Answerability

ANSWERED = 0.90
"""The operating point: share of the held-out answerable questions (that the scorer answers)
the threshold keeps answering."""
L2 = 1e-2
"""Weight decay of the logistic model (its features are standardised)."""
GAIN = 0.02
"""How many more of the unanswerable questions the model must refuse than the best reading
does to be used: less is within the noise of a few hundred questions."""


class Reading(Protocol):
    answerable: bool
    group: str
    best: float
    features: np.ndarray


def fit(x: np.ndarray, y: np.ndarray) -> Answerability:
    """A logistic model of ``y`` on standardised ``x`` (L-BFGS, L2), threshold at
    ``ANSWERED`` of the positives."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    inputs = torch.tensor((x - mean) / scale, dtype=torch.float64)
    labels = torch.tensor(y, dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(inputs @ w + b, labels)
        loss = loss + L2 * (w**2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    model = Answerability(mean, scale, w.detach().numpy(), float(b.item()), 0.0)
    model.threshold = threshold(model.probability(x)[y == 1])
    return model


def threshold(answerable: np.ndarray) -> float:
    """The highest score ``ANSWERED`` of the answerable questions reach."""
    return float(np.quantile(answerable, 1 - ANSWERED))


def auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = positives[:, None], negatives[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def refused(scores: np.ndarray, y: np.ndarray) -> float:
    """Share of the unanswerable questions refused at the threshold that keeps ``ANSWERED``
    of the answerable ones."""
    return float((scores[y == 0] < threshold(scores[y == 1])).mean())


def cross_validated(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each question's answerability from the model fitted without its group."""
    out = np.zeros(len(y))
    for group in np.unique(groups):
        held = groups == group
        out[held] = fit(x[~held], y[~held]).probability(x[held])
    return out


def fit_answerability(reads: Sequence[Reading]) -> dict[str, Any]:
    """The model fitted on every reading, with its cross-validated refusal figures beside the
    best probability's, and whether it refuses better (``used``)."""
    x = np.array([r.features for r in reads])
    y = np.array([int(r.answerable) for r in reads])
    groups = np.array([r.group for r in reads])
    if len(set(y.tolist())) < 2:
        return {"questions": len(reads), "unanswerable": int((y == 0).sum()), "used": False}
    best = np.array([r.best for r in reads])
    model = cross_validated(x, y, groups)
    refused_best, refused_model = round(refused(best, y), 4), round(refused(model, y), 4)
    figures = {
        "questions": len(reads),
        "unanswerable": int((y == 0).sum()),
        "groups": sorted(set(groups.tolist())),
        "auc_best": round(auc(best[y == 1], best[y == 0]), 4),
        "auc_model": round(auc(model[y == 1], model[y == 0]), 4),
        "refused_best": refused_best,
        "refused_model": refused_model,
        "answered": ANSWERED,
        "used": refused_model >= refused_best + GAIN,
    }
    return fit(x, y).card() | figures | {"features": list(FEATURES)}
