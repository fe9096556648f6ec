"""Trained models as scoring uses them: rebuilt from plain numbers, never from files that run code.

Two kinds of model learn from the experts' verdicts (:mod:`core.train` fits them):

- ``bad-frames``: per image type and mode, the threshold tuned on the verdicts
  (:class:`GroupJudge`: a factor on the unsupervised threshold) and a logistic
  regression on the frame's calibrated z-scores, whose probability counts only near
  the frames experts judged and within the scores they covered (elsewhere the
  unsupervised score decides);
- ``image-types``: a fully connected network on the descriptors that says which type
  and mode a frame's pixels look like (:class:`TypeNetwork`), for the "looks like a
  LAMP,FLAT; the header says BIAS" reasons.

A bad-frames model is JSON in its store row. A network's weights are an HDF5 weights
file (numbers only: no layer code, no pickle) in the home's ``models`` folder, named
by the row with its SHA-256; :func:`load_type_network` opens nothing else.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .store import Store, StoredModel

BAD_FRAMES = "bad-frames"
IMAGE_TYPES = "image-types"
MODEL_KINDS = (BAD_FRAMES, IMAGE_TYPES)
MODELS_FOLDER = "models"
# How sharply the unsupervised probability rises around the threshold: a score 30 %
# above it reads as p = 0.74.
UNSUPERVISED_SLOPE = 4.0
# Verdicts at which the supervised probability counts half (with the trust of distance).
TRUST_VERDICTS = 5.0
# Beyond the scores the verdicts covered, trust falls to exp(-1/2) at this factor further out.
TRUST_SCORE_FACTOR = 1.5
Z_LIMIT = 1e6


def group_key(image_type: str, mode: str) -> str:
    """The key of one image type and mode in a model's numbers."""
    return f"{image_type}|{mode}"


def squash(z: np.ndarray) -> np.ndarray:
    """z-scores on a scale a linear model can weigh: linear near zero, logarithmic far out (asinh)."""
    return np.arcsinh(np.clip(np.nan_to_num(np.asarray(z, np.float64), nan=0.0), -Z_LIMIT, Z_LIMIT))


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 60.0), -60.0)))


@dataclass(frozen=True)
class Judgement:
    """What a trained model says of one frame: the threshold it is judged by and how likely it is bad.

    ``p_bad`` combines the supervised probability (``p_supervised``, None where the
    type has no classifier) with the unsupervised one by ``trust`` (0: unsupervised
    only). The frame is flagged when ``p_bad`` is at least one half.
    """

    threshold: float
    p_bad: float
    p_unsupervised: float
    p_supervised: float | None
    trust: float

    @property
    def flagged(self) -> bool:
        return self.p_bad >= 0.5


@dataclass
class GroupJudge:
    """The trained judgement of one image type and mode.

    Parameters
    ----------
    threshold_factor
        The tuned threshold over the unsupervised one (1: unchanged).
    verdicts, rejected
        Verdicts it learnt from, and how many of them rejected the frame.
    features
        Names of the z-scores the classifier reads (empty: no classifier).
    mean, scale
        Standardisation of the squashed z-scores.
    coef, intercept
        The logistic regression.
    labelled
        The standardised training frames (the trust of a probability falls with the
        distance to the nearest of them).
    reach
        The distance at which trust has fallen to ``exp(-1/2)`` of its most.
    accepted_ratio, rejected_ratio
        The highest score (over the unsupervised threshold) of a frame experts accepted,
        and the lowest of one they rejected (None: no such verdict, or a model trained
        before calspot kept them). The classifier may call a frame good only as far over
        the threshold as accepted frames went, and bad only as far under it as rejected
        frames went: beyond, its trust falls by :data:`TRUST_SCORE_FACTOR`
        (verdicts on lamp failures cannot clear a frame with shifted lines that no
        expert ever saw, however close it lies in the other numbers).
    """

    threshold_factor: float = 1.0
    verdicts: int = 0
    rejected: int = 0
    features: list[str] = field(default_factory=list)
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intercept: float = 0.0
    labelled: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    reach: float = 1.0
    accepted_ratio: float | None = None
    rejected_ratio: float | None = None

    @property
    def has_classifier(self) -> bool:
        return bool(self.features)

    def standardised(self, z: Mapping[str, float]) -> np.ndarray:
        """A frame's z-scores as the classifier reads them (a number the frame lacks reads as 0)."""
        values = squash(np.array([z.get(name, 0.0) for name in self.features]))
        return (values - self.mean) / self.scale

    def judge(self, score: float, threshold: float, z: Mapping[str, float]) -> Judgement:
        """Threshold and probability of being bad for a frame of this type and mode."""
        tuned = threshold * self.threshold_factor
        ratio = max(score, 1e-12) / max(tuned, 1e-12)
        unsupervised = sigmoid(UNSUPERVISED_SLOPE * math.log(ratio))
        if not self.has_classifier:
            return Judgement(tuned, unsupervised, unsupervised, None, 0.0)
        x = self.standardised(z)
        supervised = sigmoid(float(x @ self.coef + self.intercept))
        distance = float(np.min(np.linalg.norm(self.labelled - x, axis=1))) if len(self.labelled) else np.inf
        trust = self.verdicts / (self.verdicts + TRUST_VERDICTS) * math.exp(-0.5 * (distance / self.reach) ** 2)
        trust *= self._within_verdicts(max(score, 1e-12) / max(threshold, 1e-12), clears=supervised < 0.5)
        return Judgement(tuned, trust * supervised + (1 - trust) * unsupervised, unsupervised, supervised, trust)

    def _within_verdicts(self, ratio: float, clears: bool) -> float:
        """How far the verdicts speak for a frame this far over (or under) the unsupervised threshold: 1 within their scores.

        A classifier that calls a frame good (``clears``) is trusted up to the highest score
        of an accepted frame; one that calls it bad, down to the lowest of a rejected one.
        """
        bound = self.accepted_ratio if clears else self.rejected_ratio
        if bound is None:
            return 1.0
        beyond = math.log(ratio / bound) if clears else math.log(bound / ratio)
        return 1.0 if beyond <= 0 else math.exp(-0.5 * (beyond / math.log(TRUST_SCORE_FACTOR)) ** 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold_factor": self.threshold_factor,
            "verdicts": self.verdicts,
            "rejected": self.rejected,
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "labelled": self.labelled.tolist(),
            "reach": self.reach,
            "accepted_ratio": self.accepted_ratio,
            "rejected_ratio": self.rejected_ratio,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupJudge:
        features = [str(f) for f in data.get("features", [])]
        return cls(
            threshold_factor=float(data.get("threshold_factor", 1.0)),
            verdicts=int(data.get("verdicts", 0)),
            rejected=int(data.get("rejected", 0)),
            features=features,
            mean=np.asarray(data.get("mean", []), np.float64),
            scale=np.asarray(data.get("scale", []), np.float64),
            coef=np.asarray(data.get("coef", []), np.float64),
            intercept=float(data.get("intercept", 0.0)),
            labelled=np.asarray(data.get("labelled", []), np.float64).reshape(len(data.get("labelled", [])), len(features)),
            reach=float(data.get("reach", 1.0)),
            accepted_ratio=_optional_float(data.get("accepted_ratio")),
            rejected_ratio=_optional_float(data.get("rejected_ratio")),
        )


@dataclass
class BadFrameModel:
    """The trained judgement of every image type and mode that has verdicts."""

    version: str
    groups: dict[str, GroupJudge]

    def judge(self, image_type: str, mode: str, score: float, threshold: float, z: Mapping[str, float]) -> Judgement | None:
        """The judgement of a frame, or None when its type and mode had no verdicts to learn from."""
        group = self.groups.get(group_key(image_type, mode))
        return None if group is None else group.judge(score, threshold, z)

    @classmethod
    def from_stored(cls, model: StoredModel) -> BadFrameModel:
        groups = model.parameters.get("groups", {})
        return cls(model.version, {key: GroupJudge.from_json(value) for key, value in groups.items()})


@dataclass
class TypeNetwork:
    """A fully connected network that says which image type and mode a descriptor looks like.

    It reads descriptors standardised dimension by dimension (``mean``, ``scale``) and
    answers with a softmax over ``classes_`` (``image_type|mode`` keys). It offers the
    interface of :class:`core.detect.TypeClassifier` (``classes_``,
    ``n_features_in_``, ``predict_proba``), so that the type check uses either.
    """

    version: str
    classes_: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    network: Any
    instruments: dict[str, list[str]] = field(default_factory=dict)
    header_types: dict[str, str] = field(default_factory=dict)

    @property
    def n_features_in_(self) -> int:
        return len(self.mean)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Softmax shares of every class, one row per descriptor."""
        x = (np.asarray(X, np.float32) - self.mean.astype(np.float32)) / self.scale.astype(np.float32)
        return np.asarray(self.network(x, training=False), np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def build_type_network(inputs: int, classes: int, hidden: Sequence[int], dropout: float, seed: int):
    """The Keras network of a type model (the same code builds it for training and for loading)."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input(shape=(inputs,))]
    for width in hidden:
        layers += [keras.layers.Dense(width, activation="relu"), keras.layers.Dropout(dropout)]
    layers.append(keras.layers.Dense(classes, activation="softmax"))
    return keras.Sequential(layers)


def models_folder(home: Path) -> Path:
    """Where a home keeps its networks' weight files."""
    return Path(home).resolve() / MODELS_FOLDER


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_path(home: Path, model: StoredModel) -> Path:
    """The weights file of a stored network, checked to lie in the home's model folder with the stored checksum.

    Raises
    ------
    ValueError
        The row names no file or one outside the model folder, the file is missing, or its
        content is not what was stored (the model is then not loaded).
    """
    folder = models_folder(home)
    if not model.weights_file:
        raise ValueError(f"model {model.version} has no weights file: not loaded")
    path = (folder / model.weights_file).resolve()
    if path.parent != folder:
        raise ValueError(f"model {model.version} names a weights file outside {folder}: not loaded")
    if not path.is_file():
        raise ValueError(f"model {model.version}: its weights file {path} is missing")
    if file_sha256(path) != model.weights_sha256:
        raise ValueError(f"model {model.version}: {path} is not the file it was trained into (checksum differs): not loaded")
    return path


def load_type_network(home: Path, model: StoredModel) -> TypeNetwork:
    """The network of a stored image-types model, its weights read from the home's model folder."""
    p = model.parameters
    network = build_type_network(len(p["mean"]), len(p["classes"]), p["hidden"], p["dropout"], int(p.get("seed", 0)))
    network.load_weights(weights_path(home, model))
    return TypeNetwork(
        version=model.version,
        classes_=np.array(p["classes"], dtype=object),
        mean=np.asarray(p["mean"], np.float64),
        scale=np.asarray(p["scale"], np.float64),
        network=network,
        instruments={k: list(v) for k, v in p.get("instruments", {}).items()},
        header_types=dict(p.get("header_types", {})),
    )


@dataclass
class ActiveModels:
    """The trained models scoring uses now (either may be None before the first training)."""

    bad_frames: BadFrameModel | None = None
    image_types: TypeNetwork | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def version(self) -> str:
        """The versions that produced a flag, for every score and verdict (``unsupervised`` before any training)."""
        names = [m.version for m in (self.bad_frames, self.image_types) if m is not None]
        return "+".join(names) or "unsupervised"


def load_active_models(store: Store, home: Path) -> ActiveModels:
    """The active model of each kind, as scoring uses it.

    A network that cannot be loaded (its file missing or changed) is left out with a
    problem line: scoring then falls back to the nearest-neighbour type check.
    """
    active = ActiveModels()
    stored = store.active_model(BAD_FRAMES)
    if stored is not None:
        active.bad_frames = BadFrameModel.from_stored(stored)
    stored = store.active_model(IMAGE_TYPES)
    if stored is not None:
        try:
            active.image_types = load_type_network(home, stored)
        except (ValueError, OSError, KeyError) as exc:
            active.problems.append(str(exc))
    return active
