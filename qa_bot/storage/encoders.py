"""Run the bundled sentence-transformers model with OpenVINO instead of PyTorch.

The model is converted once from its own weights into the cache (``<cache>/encoders/``), in a
folder named for the weights' sha256, the variant and ``CONVERSION``, so new weights get a new
export; a stamp beside it holds the sha256 of the converted weights, checked at every load (a
damaged export is converted again). One process converts at a time (a lock file). OpenVINO's
and NNCF's usage statistics are switched off: their telemetry package is never imported. ``auto``
lets OpenVINO choose (bf16 on CPUs with AMX or AVX-512 BF16, fp32 elsewhere); ``int8``
quantizes weights and activations, calibrated on sentences of Python's own documentation
(``pydoc_data``, part of every CPython).
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from langchain_core.embeddings import Embeddings

from qa_bot.errors import QaBotError
from qa_bot.storage.cache import built_once
from qa_bot.storage.digest import sha256
from qa_bot.turns import Turns

sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]  # no phoning home

Precision = Literal["auto", "fp32", "int8"]
CONVERSION = 1
"""Bumped when the conversion itself changes, so older exports are not reused."""
CALIBRATION = 128
"""Sentences run through the model to calibrate int8 activations."""


def export(
    weights: Path, cache: Path, variant: str, convert: Callable[[], tuple[Any, list[str]]]
) -> Path:
    """The OpenVINO model (``model.xml``) that ``convert`` makes (with its input names) from
    ``weights``: made on first use into a folder named for the weights' sha256 and
    ``variant``, and checked at every use."""
    folder = cache.expanduser() / "encoders"
    target = folder / f"{sha256(weights)[:16]}-{variant}-v{CONVERSION}"
    label = f"Converting {weights.parent.name} for OpenVINO ({variant}), once…"
    try:
        built_once(target, _intact, lambda work: _convert(work, convert), label)
    except (OSError, RuntimeError, ValueError) as err:
        raise QaBotError(
            f"The model could not be converted for OpenVINO into {folder} ({err}): make that "
            "folder writable (QA_BOT_STORE__ENCODER_CACHE), or set QA_BOT_STORE__ENCODER=torch."
        ) from err
    return target / "model.xml"


def _intact(target: Path) -> bool:
    """True when ``target`` holds a whole export whose weights match its stamp."""
    try:
        facts = json.loads((target / "stamp.json").read_text(encoding="utf-8"))
        return bool(facts["sha256"] == sha256(target / "model.bin"))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _convert(work: Path, convert: Callable[[], tuple[Any, list[str]]]) -> None:
    """Run ``convert`` and save its model, with a stamp, in ``work``."""
    import openvino as ov

    model, inputs = convert()
    ov.save_model(model, work / "model.xml", compress_to_fp16=False)
    facts = {"sha256": sha256(work / "model.bin"), "inputs": inputs, "openvino": ov.__version__}
    (work / "stamp.json").write_text(json.dumps(facts), encoding="utf-8")


def compile_model(xml: Path, precision: Precision) -> Any:
    """``xml`` compiled for this machine's CPU (fp32 forced when asked)."""
    import openvino as ov

    config = {"INFERENCE_PRECISION_HINT": "f32"} if precision == "fp32" else {}
    try:
        return ov.Core().compile_model(xml, "CPU", config)
    except RuntimeError as err:
        raise QaBotError(
            f"OpenVINO cannot run the converted model in {xml.parent}: delete that folder to "
            f"convert it again, or set QA_BOT_STORE__ENCODER=torch ({err})."
        ) from err


def trace(module: Any, example: dict[str, Any]) -> Any:
    """``module`` (called with ``example``'s tensors by name) as an OpenVINO model whose
    inputs take any batch size and length."""
    import openvino as ov
    import torch

    shapes = [(name, [-1, -1], ov.Type.i64) for name in example]
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer warns of shape checks it freezes; they hold for every input (tested)
        warnings.filterwarnings("ignore", "Converting a tensor to a Python boolean")
        return ov.convert_model(module, example_input=example, input=shapes)


def _embedder(model_path: Path, variant: str) -> tuple[Any, list[str]]:
    """The embedding model converted, quantized for ``int8``."""
    model, inputs = _traced(model_path)
    return (_quantized(model, model_path) if variant == "int8" else model), inputs


def _traced(model_path: Path) -> tuple[Any, list[str]]:
    """The whole sentence-transformers pipeline (encoder, pooling, normalisation) as an
    OpenVINO model taking the tokenizer's tensors, and their names."""
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_path), device="cpu", local_files_only=True).eval()
    features = st.preprocess(["A first sentence.", "A second, longer sentence to pad."])
    example = {k: v for k, v in features.items() if isinstance(v, torch.Tensor)}

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> torch.Tensor:
            features = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                features["token_type_ids"] = token_type_ids
            embedding: torch.Tensor = self.st(features)["sentence_embedding"]
            return embedding

    return trace(Pipeline(), example), list(example)


def _quantized(model: Any, model_path: Path) -> Any:
    """``model`` with int8 weights and activations, calibrated on documentation sentences."""
    import nncf

    tokenizer = Tokenizer(model_path)
    sentences = calibration_sentences()
    batches = [tokenizer(sentences[at : at + 8]) for at in range(0, len(sentences), 8)]
    return nncf.quantize(
        model,
        nncf.Dataset(batches),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(batches),
    )


def calibration_sentences() -> list[str]:
    """``CALIBRATION`` sentences of Python's documentation, spread over all of it."""
    from pydoc_data.topics import topics

    text = " ".join(" ".join(topics.values()).split())
    split = re.split(r"(?<=[.!?])\s+", text)
    sentences = list(dict.fromkeys(s for s in split if 40 <= len(s) <= 400))
    step = max(1, len(sentences) // CALIBRATION)
    return sentences[::step][:CALIBRATION]


class Tokenizer:
    """The model's tokenizer, cut as sentence-transformers cuts (``max_seq_length``)."""

    def __init__(self, model_path: Path) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
        config = model_path / "sentence_bert_config.json"
        facts = json.loads(config.read_text(encoding="utf-8")) if config.is_file() else {}
        self.max_length = int(facts.get("max_seq_length", 512))
        self.lower = bool(facts.get("do_lower_case", False))

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The model's inputs for ``texts``, padded to the longest."""
        texts = [t.strip().lower() if self.lower else t.strip() for t in texts]
        encoded = self.tokenizer(
            texts, padding=True, truncation="longest_first", max_length=self.max_length
        )
        return {name: np.asarray(ids, dtype=np.int64) for name, ids in encoded.items()}


class OpenVinoEmbeddings(Embeddings):
    """LangChain embeddings over the OpenVINO export of a sentence-transformers model
    (normalised; texts batched by length like sentence-transformers does)."""

    def __init__(
        self, model_path: Path, cache: Path, precision: Precision, batch_size: int = 32
    ) -> None:
        weights = model_path / "model.safetensors"
        if not weights.is_file():
            raise QaBotError(
                f"OpenVINO converts a model from its model.safetensors, which {model_path} "
                "lacks: set QA_BOT_STORE__ENCODER=torch for this model."
            )
        variant = "int8" if precision == "int8" else "fp32"  # auto: fp32 compiled as it likes
        xml = export(weights, cache, variant, lambda: _embedder(model_path, variant))
        self.model = compile_model(xml, precision)
        self.inputs = json.loads(xml.with_name("stamp.json").read_text(encoding="utf-8"))["inputs"]
        self.tokenizer = Tokenizer(model_path)
        self.batch_size = batch_size
        self._turn = Turns()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed many texts; one call runs at a time (the model uses every core already)."""
        if not texts:
            return []
        order = np.argsort([-len(t) for t in texts], kind="stable")
        vectors = np.empty((len(texts), 0), dtype=np.float32)
        with self._turn:
            for start in range(0, len(texts), self.batch_size):
                rows = order[start : start + self.batch_size]
                encoded = self.tokenizer([texts[i] for i in rows])
                out = self.model({name: encoded[name] for name in self.inputs})[0]
                out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
                if vectors.shape[1] == 0:
                    vectors = np.empty((len(texts), out.shape[1]), dtype=np.float32)
                vectors[rows] = out
        result: list[list[float]] = vectors.tolist()
        return result

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.embed_documents([text])[0]
