"""Image embedders: a protocol and a registry of named implementations.

An embedder turns a batch of network inputs (``(n, size, size, 3)`` float32 in
[0, 255], from :func:`core.preprocess.network_input`) into descriptors
(``(n, dim)`` float32). Its *fingerprint* names everything that changes the
numbers (model, weights, input size, preprocessing), so that descriptors of two
different models are never mixed in the store.

Implementations are imported only when asked for: TensorFlow is heavy and must not be
loaded by the worker processes that only read files.
"""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

import numpy as np

from ..config import Settings

REGISTRY: dict[str, str] = {
    "resnet50": "core.embed.resnet50:ResNet50Embedder",
}


@runtime_checkable
class Embedder(Protocol):
    """What the pipeline needs from a descriptor model."""

    fingerprint: str
    dim: int
    warning: str | None

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Descriptors of a batch of network inputs, one row per image."""
        ...


def create_embedder(settings: Settings, threads: int = 0) -> Embedder:
    """Build the embedder named by ``settings.embedder``, on ``threads`` threads (0: every core this process may use).

    Raises
    ------
    ValueError
        The name is not registered.
    """
    try:
        target = REGISTRY[settings.embedder]
    except KeyError:
        raise ValueError(f"unknown embedder {settings.embedder!r}; known: {', '.join(sorted(REGISTRY))}") from None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(weights=settings.weights, input_size=settings.input_size, seed=settings.seed, threads=threads)


def expected_fingerprint(settings: Settings) -> str:
    """The fingerprint the configured embedder will have, without loading the network.

    Used to tell cheaply whether files are already described; ``auto`` weights are
    expected to be ImageNet's when they are cached, random otherwise.
    """
    if settings.embedder != "resnet50":
        return create_embedder(settings).fingerprint
    from .resnet50 import fingerprint_for

    return fingerprint_for(settings.weights, settings.input_size, settings.seed)
