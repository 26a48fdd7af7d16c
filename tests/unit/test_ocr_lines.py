"""How Tesseract's words become text: lines by their mean confidence, paragraphs joined."""

from __future__ import annotations

from qa_bot.ingest.ocr import confident_text

Word = tuple[int, int, int, str, float]
"""(block, paragraph, line, word, confidence), as ``image_to_data`` lists them."""


def _data(words: list[Word]) -> dict[str, list[str | int | float]]:
    """``image_to_data``'s dictionary for these words (with the rows it gives for layout)."""
    rows: list[Word] = [(1, 0, 0, "", -1.0), *words]
    return {
        "block_num": [w[0] for w in rows],
        "par_num": [w[1] for w in rows],
        "line_num": [w[2] for w in rows],
        "text": [w[3] for w in rows],
        "conf": [w[4] for w in rows],
    }


def test_a_line_below_the_confidence_is_left_out_and_the_rest_kept() -> None:
    words: list[Word] = [
        (1, 1, 1, "The", 96.0),
        (1, 1, 1, "pier", 91.0),
        (1, 1, 1, "closes.", 93.0),
        (1, 1, 2, "~{l", 21.0),
        (1, 1, 2, "ii!", 35.0),
        (1, 1, 2, "pier", 88.0),
        (2, 1, 1, "Tickets", 90.0),
        (2, 1, 1, "cost", 59.0),
        (2, 1, 1, "12", 20.0),
    ]
    assert confident_text(_data(words), 60) == "The pier closes."


def test_lines_of_a_paragraph_join_and_a_hyphenated_word_is_mended() -> None:
    words: list[Word] = [
        (1, 1, 1, "The", 95.0),
        (1, 1, 1, "commit-", 90.0),
        (1, 1, 2, "tee", 90.0),
        (1, 1, 2, "met.", 90.0),
        (1, 2, 1, "It", 95.0),
        (1, 2, 1, "decided.", 95.0),
    ]
    assert confident_text(_data(words), 60) == "The committee met.\n\nIt decided."


def test_nothing_confident_is_nothing() -> None:
    assert confident_text(_data([(1, 1, 1, "#%", 10.0)]), 60) == ""
