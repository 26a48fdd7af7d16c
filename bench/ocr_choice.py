"""OCR engine for scanned PDFs and images (issue 37): Tesseract 5.3 against RapidOCR.

    .venv/bin/python bench/ocr_choice.py     # 35 min on one core, 19 of them the speckle pages

Renders pages of known text from corpus/ (A4, 11 pt, at 150 and 300 dpi), clean and "scanned"
(skew, blur, noise, JPEG), reads them with each engine on one thread, and measures the character
error rate and the seconds per page. On the scanned 300 dpi pages and on pages of pure speckle it
also collects Tesseract's word confidences. Writes bench/results/ocr-choice.json and
docs/ocr-choice.png and prints the table of docs/ocr-choice.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2  # RapidOCR's image processing
import matplotlib.pyplot as plt
import numpy as np
import pytesseract
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from rapidfuzz.distance import Levenshtein
from rapidocr_onnxruntime import RapidOCR
from rich.progress import track

ROOT = Path(__file__).resolve().parent.parent
RESULTS, CHART = ROOT / "bench/results/ocr-choice.json", ROOT / "docs/ocr-choice.png"
SEED, FONT_PT, CHARS_PER_PAGE, SKEW_DEGREES = 37, 11, 3000, 1.5
SETS = [(dpi, cond) for dpi in (150, 300) for cond in ("clean", "scanned")]
NOISE_DENSITIES = (0.005, 0.005, 0.01, 0.01, 0.02, 0.02)  # share of 3x3 px specks, speckle pages
ASCII = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
Word = tuple[tuple[int, int, int], str, float]  # (block, paragraph, line), text, confidence


def paragraphs() -> list[str]:
    """Every paragraph of corpus/*.md and corpus/*.txt, typographic quotes and dashes made ASCII."""
    files = sorted([*(ROOT / "corpus").glob("*.md"), *(ROOT / "corpus").glob("*.txt")])
    blocks = (b for f in files for b in f.read_text().translate(ASCII).split("\n\n"))
    return [" ".join(b.lstrip("# ").split()) for b in blocks if b.strip()]


def page_texts(n_pages: int) -> list[list[str]]:
    """Pages of whole paragraphs, up to CHARS_PER_PAGE each, from seeded shuffles of the corpus."""
    rng, stream, pages = random.Random(SEED), [], []
    for _ in range(n_pages):
        page: list[str] = []
        while True:
            stream = stream or rng.sample(paragraphs(), len(paragraphs()))
            if sum(map(len, page)) + len(stream[0]) > CHARS_PER_PAGE:
                break
            page.append(stream.pop(0))
        pages.append(page)
    return pages


def render(page: list[str], dpi: int) -> Image.Image:
    """An A4 page, 1 inch margins, the paragraphs in an 11 pt sans-serif, black on white."""
    font = ImageFont.load_default(size=round(FONT_PT * dpi / 72))
    image = Image.new("L", (round(8.27 * dpi), round(11.69 * dpi)), 255)
    draw, width, step = ImageDraw.Draw(image), image.width - 2 * dpi, round(1.25 * font.size)
    y = dpi
    for paragraph in page:
        line = ""
        for word in paragraph.split():
            if line and font.getlength(f"{line} {word}") > width:
                draw.text((dpi, y), line, font=font, fill=0)
                line, y = word, y + step
            else:
                line = f"{line} {word}".strip()
        draw.text((dpi, y), line, font=font, fill=0)
        y += round(1.75 * step)
    assert y < image.height - dpi // 2, "page overflows"
    return image


def scan(image: Image.Image, dpi: int, rng: np.random.Generator) -> Image.Image:
    """The page as if scanned: skewed, slightly blurred, Gaussian noise, JPEG at quality 60."""
    image = image.rotate(SKEW_DEGREES, resample=Image.Resampling.BICUBIC, fillcolor=255)
    pixels = np.asarray(image.filter(ImageFilter.GaussianBlur(dpi / 300)), dtype=np.float32)
    pixels = np.clip(pixels + rng.normal(0, 20, pixels.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=60)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def speckle(density: float, dpi: int, rng: np.random.Generator) -> Image.Image:
    """A page of random 3x3 px specks and no text, then "scanned"."""
    specks = rng.random((round(11.69 * dpi) // 3, round(8.27 * dpi) // 3)) < density
    pixels = np.where(specks, 0, 255).astype(np.uint8).repeat(3, 0).repeat(3, 1)
    return scan(Image.fromarray(pixels), dpi, rng)


def normalise(text: str, spaces: bool = True) -> str:
    return (" " if spaces else "").join(text.translate(ASCII).split())


def tesseract_text(image: Image.Image) -> str:
    return pytesseract.image_to_string(image, lang="eng", config="--psm 3")


def tesseract_words(image: Image.Image) -> list[Word]:
    """Every word Tesseract reads, with its line and its confidence (0-100)."""
    d = pytesseract.image_to_data(image, lang="eng", config="--psm 3", output_type="dict")
    keys = zip(d["block_num"], d["par_num"], d["line_num"], strict=True)
    return [
        (k, t, float(c))
        for k, t, c in zip(keys, d["text"], d["conf"], strict=True)
        if t.strip() and float(c) >= 0
    ]


def rapidocr(use_cls: bool) -> Callable[[Image.Image], str]:
    """RapidOCR with onnxruntime and OpenCV on one thread; its text lines, top to bottom."""
    cv2.setNumThreads(1)
    engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    return lambda image: "\n".join(
        r[1] for r in engine(np.asarray(image.convert("RGB")), use_cls=use_cls)[0] or []
    )


def line_confidences(words: list[Word], known: set[str]) -> list[dict[str, float]]:
    """Tesseract's lines: mean word confidence, words, and words not in the reference."""
    grouped = defaultdict(list)
    for key, text, conf in words:
        grouped[key].append((text.translate(ASCII) in known, conf))
    return [
        {
            "mean_conf": float(np.mean([c for _, c in ws])),
            "words": len(ws),
            "wrong": sum(not ok for ok, _ in ws),
        }
        for ws in grouped.values()
    ]


def summary(values: list[float]) -> dict[str, float]:
    """Count and percentiles (min, 5, 25, 50, 75, 95, max)."""
    if not values:
        return {"n": 0}
    qs = np.percentile(values, [0, 5, 25, 50, 75, 95, 100])
    names = ("min", "p5", "p25", "p50", "p75", "p95", "max")
    return {"n": len(values)} | {n: round(float(q), 1) for n, q in zip(names, qs, strict=True)}


def measure(n_pages: int) -> dict[str, Any]:
    """CER and s/page per engine, dpi and condition; Tesseract's confidences, text and speckle."""
    engines: dict[str, Callable[[Image.Image], Any]] = {
        "tesseract": tesseract_text,
        "tesseract image_to_data": tesseract_words,
        "rapidocr defaults": rapidocr(True),
        "rapidocr no angle classifier": rapidocr(False),
    }
    texts, rng = page_texts(n_pages), np.random.default_rng(SEED)
    for read in engines.values():
        read(render(texts[0][:1], 150))  # warm-up: no page pays for loading models
    runs: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    conf: dict[str, list[Any]] = defaultdict(list)
    jobs = [(dpi, cond, i) for dpi, cond in SETS for i in range(n_pages)]
    for dpi, cond, i in track(jobs, description="reading pages"):
        reference, image = normalise(" ".join(texts[i])), render(texts[i], dpi)
        image = scan(image, dpi, rng) if cond == "scanned" else image
        for name, read in engines.items():
            started = time.perf_counter()
            out = read(image)
            run = runs[f"{name}|{dpi}|{cond}"]
            run["seconds"].append(round(time.perf_counter() - started, 2))
            hypothesis = " ".join(w for _, w, _ in out) if isinstance(out, list) else out
            for key, spaces in (("edits", True), ("edits_no_spaces", False)):
                ref, hyp = normalise(reference, spaces), normalise(hypothesis, spaces)
                run[key].append(Levenshtein.distance(ref, hyp))
                run[key.replace("edits", "chars")].append(len(ref))
            if name == "tesseract image_to_data" and (dpi, cond) == (300, "scanned"):
                known = set(reference.split())
                for _, word, c in out:
                    conf["correct" if word.translate(ASCII) in known else "wrong"].append(c)
                conf["lines"] += line_confidences(out, known)
    for density in track(NOISE_DENSITIES, description="speckle pages"):
        started, words = time.perf_counter(), tesseract_words(speckle(density, 300, rng))
        conf["speckle_seconds"].append(round(time.perf_counter() - started, 1))
        conf["speckle"] += [c for _, _, c in words]
        conf["speckle_words"] += [w for _, w, _ in words]
        conf["speckle_lines"] += line_confidences(words, set())
    table = {
        key: {
            "cer": sum(r["edits"]) / sum(r["chars"]),
            "s_per_page": float(np.mean(r["seconds"])),
            "cer_no_spaces": sum(r["edits_no_spaces"]) / sum(r["chars_no_spaces"]),
            **r,
        }
        for key, r in sorted(runs.items())
    }
    return {"table": table, "confidence": conf}


def thresholds(conf: dict[str, list[Any]]) -> list[dict[str, float]]:
    """Per line mean-confidence threshold: text lines, words and wrong words kept; speckle kept."""
    text, noise = conf["lines"], conf["speckle_lines"]
    kept = [[ln for ln in text if ln["mean_conf"] >= t] for t in range(0, 101, 5)]
    return [
        {
            "threshold": t,
            "text_lines_kept": f"{len(k)}/{len(text)}",
            "wrong_words_kept": f"{sum(ln['wrong'] for ln in k)}/{sum(ln['words'] for ln in k)}",
            "speckle_lines_kept": f"{sum(ln['mean_conf'] >= t for ln in noise)}/{len(noise)}",
        }
        for t, k in zip(range(0, 101, 5), kept, strict=True)
    ]


def chart(table: dict[str, dict[str, Any]], conf: dict[str, list[Any]]) -> None:
    """CER and s/page per engine and page set; Tesseract's word confidences."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    names = ("tesseract", "rapidocr no angle classifier", "rapidocr defaults")
    for k, name in enumerate(names):
        x = np.arange(len(SETS)) + (k - 1) * 0.27
        for ax, metric in zip(axes[:2], ("cer", "s_per_page"), strict=True):
            ax.bar(x, [table[f"{name}|{d}|{c}"][metric] for d, c in SETS], 0.27, label=name)
            ax.set_xticks(range(len(SETS)), [f"{d} dpi\n{c}" for d, c in SETS])
    axes[0].set(title="character error rate (lower is better)", yscale="log", ylim=(1e-3, 4))
    axes[1].set_title("seconds per page, one thread")
    axes[0].legend(fontsize=8)
    for name in ("correct", "wrong", "speckle"):
        share = np.full(len(conf[name]), 1 / max(1, len(conf[name])))
        axes[2].hist(conf[name], np.arange(0, 101, 5), weights=share, histtype="step", lw=2)
    axes[2].set(title="Tesseract word confidence", ylabel="share of words", yscale="log")
    axes[2].legend(["correct words (scanned 300 dpi)", "wrong words", "speckle pages"], fontsize=8)
    fig.tight_layout()
    fig.savefig(CHART, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=12, help="pages per dpi and condition")
    os.environ["OMP_THREAD_LIMIT"] = "1"  # Tesseract, a subprocess, on one thread
    results = measure(parser.parse_args().pages)
    table, conf = results["table"], results["confidence"]
    results["confidence_summary"] = {k: summary(conf[k]) for k in ("correct", "wrong", "speckle")}
    for k in ("lines", "speckle_lines"):
        results["confidence_summary"][k] = summary([ln["mean_conf"] for ln in conf[k]])
    results["line_thresholds"] = thresholds(conf)
    version = pytesseract.get_tesseract_version()
    results["machine"] = {"cores": os.cpu_count(), "tesseract": str(version)}
    RESULTS.write_text(json.dumps(results, indent=1, default=float) + "\n")
    chart(table, conf)
    print(
        "| engine | dpi | condition | CER | CER, spaces ignored | s/page |\n" + "| --- " * 6 + "|"
    )
    for key, r in table.items():
        cells = [*key.split("|"), f"{r['cer']:.2%}", f"{r['cer_no_spaces']:.2%}"]
        print(f"| {' | '.join(cells)} | {r['s_per_page']:.2f} |")
    print(json.dumps(results["confidence_summary"], indent=1))


if __name__ == "__main__":
    main()
