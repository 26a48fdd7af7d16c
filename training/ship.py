"""Ship a training part's weights as the reader the package loads, with a card that says
every part it was trained in: ``python -m training.ship training/weights/part-4.safetensors``
(then ``python -m training.calibrate`` sets the answerer's veto)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from qa_bot.errors import QaBotError
from qa_bot.reader.reader import WEIGHTS
from qa_bot.storage.digest import sha256
from training.validation import card_of, write_card

PART_FIELDS = ("shard", "first_epoch", "epochs_run", "lr", "wall_minutes", "threads", "sha256")
"""What the shipped card keeps of each part it was trained in."""


def lineage(weights: Path) -> list[dict[str, Any]]:
    """The cards of the parts ``weights`` was trained in, first to last: each part's
    ``init_sha256`` is the weights of a card beside it."""
    cards = {c["sha256"]: c for c in map(_card, weights.parent.glob("*.json"))}
    chain = [_card(weights)]
    while init := chain[0].get("init_sha256"):
        if init not in cards:
            raise QaBotError(
                f"The weights {weights.name} continue from weights (sha256 {init[:12]}) whose "
                f"card is not in {weights.parent}: train the parts before it first."
            )
        chain.insert(0, cards[init])
    return chain


def ship(weights: Path, to: Path = WEIGHTS) -> dict[str, Any]:
    """Copy ``weights`` to ``to`` and write its card there (the part's figures, and every part
    it was trained in); a file that does not match its card is refused."""
    chain = lineage(weights)
    card = dict(chain[-1])
    if sha256(weights) != card["sha256"]:
        raise QaBotError(f"{weights.name} does not match its card's sha256: train that part again.")
    card["parts"] = [{k: part[k] for k in PART_FIELDS if k in part} for part in chain]
    card["wall_minutes"] = round(sum(part["wall_minutes"] for part in chain), 1)
    shutil.copyfile(weights, to)
    write_card(card, to)
    return card


def _card(weights: Path) -> dict[str, Any]:
    """The card (JSON) of a part's weights, or the card itself when given one."""
    path = weights if weights.suffix == ".json" else card_of(weights)
    card: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return card


def main() -> None:
    """Ship the weights named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("weights", type=Path, help="a training part's .safetensors")
    args = parser.parse_args()
    card = ship(args.weights)
    print(
        f"shipped {args.weights} as {WEIGHTS} ({len(card['parts'])} parts, "
        f"{card['wall_minutes']} min of training)"
    )


if __name__ == "__main__":
    main()
