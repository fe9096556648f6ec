"""ResNet-50 descriptors (Keras applications, no top, global average pooling: 2048 numbers).

This module is the only place that imports TensorFlow. Weights:

- ``imagenet``: the Keras ImageNet weights, from the Keras cache or downloaded;
- ``random``: seeded random initialisation, deterministic (for tests and offline use):
  every weight is drawn with a seed of its own, never from a global random state that
  another thread may draw from at the same time (a Dask worker's event loop does);
- a path to a Keras weights file (``.h5`` / ``.weights.h5``) for the no-top model;
- ``auto``: ImageNet weights if they are cached or can be downloaded, otherwise
  seeded random weights with a loud warning (``warning`` is set for the CLI and the
  dashboard to show).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from pathlib import Path

import numpy as np

PREPROCESS_VERSION = "3ch-asinh-v2"
IMAGENET_NOTOP_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_NOTOP_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" + IMAGENET_NOTOP_FILE
IMAGENET_NOTOP_HASH = "4d473c1dd8becc155b73f8504c6f6626"
DOWNLOAD_TIMEOUT_S = 20.0
RANDOM_WEIGHTS_WARNING = (
    "ImageNet weights for ResNet-50 are not in the Keras cache and cannot be downloaded: "
    "descriptors use SEEDED RANDOM weights. They are consistent between runs but weaker; "
    "put {file} in {cache} (or set weights to a file path) and re-ingest."
)

# Random weights of this scheme are named random-seed<N>-v2: every weight drawn with its own seed (random-seed<N>
# were drawn from Keras's global seed generator, and differed where another thread drew from Python's random).
RANDOM_SCHEME = "v2"
# Layer weights and the initializer that draws each.
INITIALIZED = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")

log = logging.getLogger(__name__)


def random_weights_id(seed: int) -> str:
    """The name of seeded random weights in the fingerprint."""
    return f"random-seed{seed}-{RANDOM_SCHEME}"


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded model weights (``$KERAS_HOME/models``)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "models"


def cached_imagenet_weights() -> Path | None:
    """The cached no-top ImageNet weights file, if present."""
    path = keras_cache_dir() / IMAGENET_NOTOP_FILE
    return path if path.is_file() else None


def download_imagenet_weights(timeout_s: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download the no-top ImageNet weights into the Keras cache.

    Raises
    ------
    OSError
        No network, a timeout, or a bad download.
    """
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        # Keras fixes its own cache folder once, at import (falling back to /tmp/.keras where
        # the home is read-only): naming the folder keeps the download where calspot looks.
        return Path(
            keras.utils.get_file(
                IMAGENET_NOTOP_FILE,
                IMAGENET_NOTOP_URL,
                cache_dir=str(keras_cache_dir().parent),
                cache_subdir="models",
                file_hash=IMAGENET_NOTOP_HASH,
            )
        )
    except Exception as exc:  # keras wraps URL errors in several exception types
        raise OSError(f"cannot download ResNet-50 ImageNet weights: {exc}") from exc
    finally:
        socket.setdefaulttimeout(previous)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def weights_id(weights: str, seed: int) -> str:
    """The name of a weights choice in the fingerprint, without loading anything.

    ``auto`` is named ``imagenet`` when the ImageNet weights are cached (a download
    is only tried when the network is built).
    """
    if weights == "random" or (weights == "auto" and cached_imagenet_weights() is None):
        return random_weights_id(seed)
    if weights in ("imagenet", "auto"):
        return "imagenet"
    path = Path(weights).expanduser()
    return f"file-{_file_digest(path)}" if path.is_file() else f"missing-{weights}"


def fingerprint_for(weights: str, input_size: int, seed: int) -> str:
    """The fingerprint of a ResNet-50 embedder with these settings."""
    return _fingerprint(weights_id(weights, seed), input_size)


def _fingerprint(weights_name: str, input_size: int) -> str:
    return f"resnet50/{weights_name}/in{input_size}/{PREPROCESS_VERSION}"


def configure_threads(threads: int | None = None) -> None:
    """Give TensorFlow's thread pools the cores of this process (must run before the first op)."""
    import tensorflow as tf

    threads = threads or len(os.sched_getaffinity(0))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    except RuntimeError:
        log.debug("TensorFlow is already initialised; thread settings unchanged")


class ResNet50Embedder:
    """ResNet-50 without its classifier: an image becomes 2048 pooled activations.

    Parameters
    ----------
    weights
        ``auto``, ``imagenet``, ``random`` or a path to a weights file.
    input_size
        Side of the square input in pixels.
    seed
        Seed of the random weights.
    threads
        TensorFlow's threads; 0: every core this process may use (a Dask worker
        passes its own thread count, so that workers on one machine share its cores).
    """

    dim = 2048

    def __init__(self, weights: str = "auto", input_size: int = 224, seed: int = 0, threads: int = 0) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        configure_threads(threads or None)
        import keras

        self.input_size = input_size
        self.warning: str | None = None
        source, chosen = self._resolve_weights(weights, seed)
        self._model = keras.applications.ResNet50(weights=None, include_top=False, pooling="avg", input_shape=(input_size, input_size, 3))
        if source is not None:
            self._model.load_weights(str(source))
        else:
            draw_seeded_weights(self._model, seed)
        self.weights = chosen
        self.fingerprint = _fingerprint(chosen, input_size)
        import tensorflow as tf

        # One graph for every batch size: Keras's predict_on_batch traces the network again
        # (a second of CPU) for the first batch of another size, such as a night's last one.
        self._forward = tf.function(
            lambda inputs: self._model(inputs, training=False),
            input_signature=[tf.TensorSpec((None, input_size, input_size, 3), tf.float32)],
        )

    def _resolve_weights(self, weights: str, seed: int) -> tuple[Path | None, str]:
        """The weights file to load (None for random) and its name in the fingerprint."""
        if weights == "random":
            return None, random_weights_id(seed)
        if weights in ("imagenet", "auto"):
            cached = cached_imagenet_weights()
            if cached is not None:
                return cached, "imagenet"
            try:
                return download_imagenet_weights(), "imagenet"
            except OSError as exc:
                if weights == "imagenet":
                    raise
                self.warning = RANDOM_WEIGHTS_WARNING.format(file=IMAGENET_NOTOP_FILE, cache=keras_cache_dir())
                log.warning("%s (%s)", self.warning, exc)
                return None, random_weights_id(seed)
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ValueError(f"weights must be auto, imagenet, random or a weights file; {weights!r} is none of these")
        return path, f"file-{_file_digest(path)}"

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Descriptors of a batch ``(n, size, size, 3)`` in [0, 255]: ``(n, 2048)`` float32."""
        from keras.applications.resnet50 import preprocess_input

        if len(batch) == 0:
            return np.zeros((0, self.dim), np.float32)
        inputs = preprocess_input(np.array(batch, dtype=np.float32, copy=True))
        return np.asarray(self._forward(inputs), dtype=np.float32)


def draw_seeded_weights(model, seed: int) -> None:
    """Draw every weight of ``model`` from its layer's initializer, seeded by ``seed``, the layer and the weight.

    Keras draws the seeds of unseeded initializers from Python's global random state,
    which other threads of the process may advance at the same moment: the weights
    would then differ from one process to the next.

    Raises
    ------
    RuntimeError
        A weight of the model has no initializer to draw it from.
    """
    drawn = 0
    for index, layer in enumerate(model.layers):
        for number, name in enumerate(INITIALIZED):
            variable, initializer = getattr(layer, name, None), getattr(layer, f"{name}_initializer", None)
            if variable is None or initializer is None:
                continue
            config = initializer.get_config()
            if "seed" in config:
                config["seed"] = (seed * 1_000_003 + index * len(INITIALIZED) + number) % 2**31
            variable.assign(type(initializer).from_config(config)(tuple(variable.shape), dtype=variable.dtype))
            drawn += 1
    if drawn != len(model.weights):
        raise RuntimeError(f"{len(model.weights) - drawn} weights of {model.name} have no initializer to draw them from")
