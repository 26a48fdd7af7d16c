"""Every loader works within a memory and time budget, whatever a file claims: hostile Word
files and pictures are loaded by the real loader in a process of their own, whose peak RSS (from
/proc) is measured around the load; every format loads in time linear in its size (ratios, not
seconds)."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from qa_bot.config import IngestSettings
from qa_bot.ingest.loaders import NO_TEXT, LoadError, load_file
from qa_bot.ingest.word import Budget, WordError, read_docx
from tests.conftest import REPO
from tests.test_ocr import HARBOUR, pdf_with_pages, png_claiming

MB = 1024 * 1024
PEAK_BOUND_MB = 64  # docs/security.md: what loading one hostile file may add to a process
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
HEADER_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"
HEADER_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/header"
WORDS = "harbour crane lifts forty tonnes ferry leaves at seven every morning from the pier".split()

PEAK = """
import json, sys
from pathlib import Path
from qa_bot.config import IngestSettings
from qa_bot.ingest.loaders import LoadError, load_file

def status(key):
    line = next(l for l in open("/proc/self/status") if l.startswith(key))
    return int(line.split()[1]) / 1024

limits = IngestSettings(**json.loads(sys.argv[2]))
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # the peak (VmHWM) starts again from the resident size now
before = status("VmRSS")
try:
    outcome = "loaded %d characters" % sum(len(d.page_content) for d in load_file(
        Path(sys.argv[1]), "x", limits))
except LoadError as error:
    outcome = str(error)
print(json.dumps({"peak_mb": status("VmHWM") - before, "outcome": outcome}))
"""


def load_in_process(path: Path, **limits: float) -> tuple[float, str]:
    """The real loader on ``path`` in a fresh Python process: the MB its peak RSS rose by while
    loading, and the outcome (characters loaded, or the refusal)."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(path), json.dumps(limits)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    return float(result["peak_mb"]), str(result["outcome"])


def paragraphs_xml(megabytes: float, seed: int | None = 1) -> Iterator[bytes]:
    """A Word body of plain paragraphs of varied words (the same one when ``seed`` is None),
    ``megabytes`` of XML in all."""
    rng = random.Random(seed)
    yield f'<?xml version="1.0"?><w:document xmlns:w="{W_NS}"><w:body>'.encode()
    written = 0
    while written < megabytes * MB:
        words = " ".join(rng.choice(WORDS) if seed else "same" for _ in range(12)).capitalize()
        paragraph = f"<w:p><w:r><w:t>{words}.</w:t></w:r></w:p>".encode()
        written += len(paragraph)
        yield paragraph
    yield b"</w:body></w:document>"


def word_file(path: Path, body: Iterator[bytes], headers: int = 0, header_mb: float = 1) -> Path:
    """A Word file python-docx starts, whose document is ``body`` (streamed into the zip) and
    which has ``headers`` header parts of ``header_mb`` MB each, all referenced."""
    template = path.with_suffix(".template.docx")
    docx.Document().save(str(template))
    header = f'<w:hdr xmlns:w="{W_NS}"><w:p><w:r><w:t>'.encode()
    header += b"h" * int(header_mb * MB - len(header) - 30) + b"</w:t></w:r></w:p></w:hdr>"
    with (
        zipfile.ZipFile(template) as source,
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "word/document.xml":
                with target.open(item.filename, "w") as part:
                    for piece in body:
                        part.write(piece)
                continue
            if item.filename == "[Content_Types].xml":
                overrides = "".join(
                    f'<Override PartName="/word/header{n}.xml" ContentType="{HEADER_TYPE}"/>'
                    for n in range(headers)
                )
                data = data.replace(b"</Types>", overrides.encode() + b"</Types>")
            if item.filename == "word/_rels/document.xml.rels":
                rels = "".join(
                    f'<Relationship Id="rIdH{n}" Type="{HEADER_REL}" Target="header{n}.xml"/>'
                    for n in range(headers)
                )
                data = data.replace(b"</Relationships>", rels.encode() + b"</Relationships>")
            target.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
        for n in range(headers):
            target.writestr(f"word/header{n}.xml", header, compress_type=zipfile.ZIP_DEFLATED)
    template.unlink()
    return path


def declare_size(path: Path, part: str, size: int) -> None:
    """Make the zip's headers (local and central) claim ``part`` unpacks to ``size`` bytes."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(part)
        directory = archive.start_dir
    data = bytearray(path.read_bytes())
    struct.pack_into("<L", data, info.header_offset + 22, size)
    at = directory
    while data[at : at + 4] == b"PK\x01\x02":
        name_length, extra, comment = struct.unpack_from("<3H", data, at + 28)
        if data[at + 46 : at + 46 + name_length].decode() == part:
            struct.pack_into("<L", data, at + 24, size)
        at += 46 + name_length + extra + comment
    path.write_bytes(bytes(data))


def test_zip_headers_that_lie_about_sizes_cost_no_memory(tmp_path: Path) -> None:
    """Item 3: document.xml claims 300,000 bytes and inflates to 100 MB."""
    path = word_file(tmp_path / "liar.docx", paragraphs_xml(100, seed=None))
    declare_size(path, "word/document.xml", 300_000)
    assert path.stat().st_size < 5 * MB
    peak, outcome = load_in_process(path)
    assert outcome == "it is not a readable Word file (BadZipFile)"
    assert peak < PEAK_BOUND_MB, f"peak RSS rose by {peak:.0f} MB"


def test_header_parts_are_never_unpacked(tmp_path: Path) -> None:
    """Item 4: 190 header parts of 1 MB each (each under the ratio rule), 190 MB in all."""
    path = word_file(tmp_path / "headers.docx", paragraphs_xml(0.01), headers=190)
    assert path.stat().st_size < 2 * MB
    peak, outcome = load_in_process(path)
    assert outcome.startswith("loaded ")
    assert peak < PEAK_BOUND_MB, f"peak RSS rose by {peak:.0f} MB"


def test_a_plain_8_mb_document_loads_in_little_memory(tmp_path: Path) -> None:
    """Item 5's file at 8 MB of XML, read whole (the text limit raised)."""
    path = word_file(tmp_path / "plain.docx", paragraphs_xml(8))
    peak, outcome = load_in_process(path, max_text_mb=64)
    assert outcome.startswith("loaded ") and int(outcome.split()[1]) > 4 * MB
    assert peak < PEAK_BOUND_MB, f"peak RSS rose by {peak:.0f} MB"


def test_a_part_is_counted_as_it_unpacks(tmp_path: Path) -> None:
    """Headers that tell the truth and pass the ratio rule: the part's real bytes are counted."""
    path = word_file(tmp_path / "long.docx", paragraphs_xml(8))
    limits = IngestSettings(max_part_mb=4, max_text_mb=64)
    with pytest.raises(LoadError, match=r"its part word/document\.xml unpacks past 4 MB"):
        load_file(path, "long.docx", limits)
    with pytest.raises(WordError, match="it unpacks past the limit for one file"):
        read_docx(path, Budget(part=64 * MB, left=4 * MB), max_chars=64 * MB)


def test_too_many_parts_are_refused_from_the_directory(tmp_path: Path) -> None:
    path = word_file(tmp_path / "parts.docx", paragraphs_xml(0.01), headers=1001, header_mb=0.001)
    with pytest.raises(LoadError, match=r"it has 10[0-9]{2} parts, over the 1000"):
        load_file(path, "parts.docx")


def test_an_image_bomb_is_refused_without_decoding_its_pixels(tmp_path: Path) -> None:
    """A 100-byte PNG claiming 10^10 pixels: refused from its header, in no memory."""
    peak, outcome = load_in_process(png_claiming(tmp_path / "bomb.png", 100_000, 100_000))
    assert "like a decompression bomb" in outcome
    assert peak < PEAK_BOUND_MB


def test_a_huge_scanned_page_is_rendered_within_the_pixel_limit(tmp_path: Path) -> None:
    """A PDF page of 200 x 200 inches without a text layer would be 3.6 billion pixels at
    300 dpi: it is rendered at the pixel limit instead, so memory follows the limit."""
    pdf = FPDF(unit="pt", format=(14_400, 14_400))
    pdf.add_page()
    pdf.rect(100, 100, 50, 50)
    pdf.output(str(tmp_path / "huge.pdf"))
    peak, outcome = load_in_process(tmp_path / "huge.pdf", ocr_max_megapixels=4)
    assert outcome == NO_TEXT
    assert peak < PEAK_BOUND_MB


def test_a_one_pixel_wide_image_is_refused_from_its_header(tmp_path: Path) -> None:
    """A 69-byte PNG of 1 x 59 million pixels, under the pixel limit: Pillow spent 960 MB on
    it (a row pointer a pixel), a worker past its memory limit; Tesseract reads no side over
    32767 pixels, so it is refused from the header."""
    peak, outcome = load_in_process(png_claiming(tmp_path / "line.png", 1, 59_000_000))
    assert outcome == (
        "it is an image of 1 x 59000000 pixels, longer a side than the 32767 pixels Tesseract "
        "reads (crop or scale it down to ingest it)"
    )
    assert peak < PEAK_BOUND_MB, f"peak RSS rose by {peak:.0f} MB"


def test_a_long_thin_scanned_page_is_rendered_within_tesseracts_side(tmp_path: Path) -> None:
    """A page of 1 x 10^9 points rendered within the pixel limit was 1 x 245 million pixels:
    2.1 GB. Rendered no longer a side than Tesseract reads, it costs nothing, and the scanned
    page beside it is read."""
    path = pdf_with_pages(tmp_path / "thin.pdf", [HARBOUR], [(1, 1_000_000_000)])
    peak, outcome = load_in_process(path)
    assert outcome.startswith("loaded ") and int(outcome.split()[1]) > 90  # HARBOUR's text
    assert peak < PEAK_BOUND_MB, f"peak RSS rose by {peak:.0f} MB"


def tiff_of_strips(path: Path, strips: int) -> Path:
    """A TIFF of 4 x ``strips`` pixels a strip a row: ``strips`` offsets and byte counts, all
    0, in a sparse file (its 4 bytes a strip take no room on disk)."""
    entries = [(256, 4, 1, 4), (257, 4, 1, strips), (258, 3, 1, 8), (259, 3, 1, 1)]
    entries += [(262, 3, 1, 1), (273, 4, strips, 8), (278, 4, 1, 1), (279, 4, strips, 8)]
    table = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        table += struct.pack("<HHII", tag, kind, count, value)
    with path.open("wb") as file:
        file.write(b"II*\0" + struct.pack("<I", 8 + 4 * strips))
        file.seek(8 + 4 * strips)
        file.write(table + struct.pack("<I", 0))
    return path


def test_a_tiff_of_millions_of_strips_is_refused_from_its_directory(tmp_path: Path) -> None:
    """4 million strips (16 MB): Pillow spent 1.3 GB opening it and, in a reader of 1 GB, spun
    in malloc for minutes (10 million: until the reader was stopped at 960 s); the counts are
    read from the directory."""
    path = tiff_of_strips(tmp_path / "strips.tif", 4_000_000)
    peak, outcome = load_in_process(path)
    assert outcome == (
        "it is a TIFF whose frame 1 lists 8000014 numbers in its tags, far more than a picture "
        "within the limits needs, like a memory bomb (save it again as PNG to ingest it)"
    )
    assert peak < PEAK_BOUND_MB, f"peak RSS rose by {peak:.0f} MB"


def test_over_the_text_limit_is_refused_with_the_reason(tmp_path: Path) -> None:
    """Item 12: one file holds at most what this machine embeds in a few minutes."""
    path = tmp_path / "long.txt"
    path.write_text("The ferry leaves at seven. " * (3 * MB // 27))
    with pytest.raises(LoadError, match="more than 2 MB of text, more than this machine embeds"):
        load_file(path, "long.txt")
    docx_path = word_file(tmp_path / "long.docx", paragraphs_xml(8))
    with pytest.raises(LoadError, match="more than 2 MB of text"):
        load_file(docx_path, "long.docx")


def _text_file(path: Path, megabytes: int) -> Path:
    rng = random.Random(megabytes)
    lines = []
    size = 0
    while size < megabytes * MB:
        line = " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + ".\n"
        lines.append(line)
        size += len(line)
    if path.suffix == ".html":
        body = "".join(f"<p>{line}</p>" for line in lines)
        path.write_text(f"<html><head><title>T</title></head><body>{body}</body></html>")
    elif path.suffix == ".md":
        path.write_text("# Title\n\n" + "\n".join(lines))
    else:
        path.write_text("".join(lines))
    return path


def _pdf(path: Path, megabytes: int) -> Path:
    pdf = FPDF()
    pdf.set_compression(False)  # the file's size is then its text's
    pdf.set_font("helvetica", size=8)
    rng = random.Random(megabytes)
    line = " ".join(rng.choice(WORDS) for _ in range(12))
    pages = megabytes * 120  # about 8.5 KB of content per page of 60 lines
    for _ in range(pages):
        pdf.add_page()
        for _ in range(60):
            pdf.cell(0, 4, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def _make(suffix: str, path: Path, megabytes: int) -> Path:
    if suffix == ".docx":
        return word_file(path, paragraphs_xml(megabytes, seed=megabytes))
    if suffix == ".pdf":
        return _pdf(path, megabytes)
    return _text_file(path, megabytes)


def _cpu_seconds(work: Callable[[], object]) -> float:
    """CPU seconds one call of ``work`` takes, averaged over calls for at least 0.2 s (a fast
    loader's single run is too short to compare)."""
    runs, started = 0, time.process_time()
    while True:
        assert work()
        runs += 1
        spent = time.process_time() - started
        if spent >= 0.2:
            return spent / runs


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".pdf", ".docx"])
def test_each_loader_is_linear(tmp_path: Path, suffix: str) -> None:
    """At 1, 2, 4 and 8 MB, a load's CPU time is measured against that of reading and decoding
    the same file (linear, and hit by the same cache and memory effects): a linear loader's
    share stays about the same, a quadratic one's (like the .docx loader that looked up every
    paragraph's style) grows 8 times from 1 to 8 MB."""
    limits = IngestSettings(max_text_mb=256)
    share = {}
    for megabytes in (1, 2, 4, 8):
        path = _make(suffix, tmp_path / f"doc{megabytes}{suffix}", megabytes)
        loading = _cpu_seconds(lambda p=path: load_file(p, p.name, limits)[0].page_content)
        reading = _cpu_seconds(lambda p=path: p.read_bytes().decode("utf-8", "replace"))
        share[megabytes] = loading / reading
    assert share[8] / min(share[1], share[2]) < 4, share  # quadratic: 8 times
