"""Learning from the experts' verdicts: tuned thresholds, a bad-frame classifier, an image-type network.

``calspot train`` (:func:`train`) fits two models from what the store holds and
makes them the active ones, then scores the stored nights again so that every
report shows the new model's flags:

- **bad frames**, per image type and mode with verdicts: the threshold tuned for F1
  on the verdicts (the proof of concept's method) with guards (:func:`tune_threshold`),
  and a logistic regression on the frame's calibrated z-scores. scikit-learn's
  logistic regression rather than a network here: a type has tens of verdicts, not
  thousands, and a convex, regularised fit of one weight per number is what such
  data supports; its probabilities come from the log-loss it minimises, and its
  numbers store as plain JSON. Its probability is trusted only near judged frames
  (:class:`core.models.GroupJudge`).
- **image types**: a fully connected Keras network on the descriptors of the frames
  that stand for normal (as in the proof of concept), with its held-out accuracy per
  type and mode.

:func:`evaluate_verdicts` gives the proof of concept's bad-frame table from the
stored verdicts, cross-validated (each fold's model never sees the frames it judges).
"""

from __future__ import annotations

import math
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import qc
from .config import Settings
from .embed import expected_fingerprint
from .models import (
    BAD_FRAMES,
    IMAGE_TYPES,
    GroupJudge,
    build_type_network,
    file_sha256,
    group_key,
    models_folder,
    squash,
)
from .rules import CALIBRATION_CATEGORIES
from .scoring import usable_as_reference
from .store import JudgedImage, Store, StoredModel

Progress = Callable[[str, int, int], None]

# With few verdicts the tuned threshold stays near the unsupervised one: the log of
# the factor is shrunk by verdicts / (verdicts + SHRINK_VERDICTS).
SHRINK_VERDICTS = 4.0
MAX_FACTOR = 4.0
# One-sided verdicts move the threshold this factor past the frame that moved it.
ONE_SIDED_MARGIN = 1.05
MIN_PER_CLASS = 2
REGULARISATION = 0.5
MAX_FOLDS = 5
TYPE_HIDDEN = (256,)
TYPE_DROPOUT = 0.2
TYPE_EPOCHS = 40
TYPE_BATCH = 64
TYPE_HOLDOUT = 0.2
TYPE_FRAMES_PER_CLASS = 300
MIN_TYPE_FRAMES = 5


@dataclass(frozen=True)
class Example:
    """One judged frame as the bad-frame model learns from it."""

    image_id: int
    key: str
    ratio: float
    score: float
    threshold: float
    z: dict[str, float]
    rejected: bool
    history_ratio: float | None = None  # what the reference's own scores called for, over the threshold


@dataclass
class Rates:
    """Recall, precision and F1 of flags against verdicts."""

    verdicts: int = 0
    rejected: int = 0
    true_flags: int = 0
    false_flags: int = 0

    @property
    def recall(self) -> float:
        return self.true_flags / self.rejected if self.rejected else math.nan

    @property
    def precision(self) -> float:
        flags = self.true_flags + self.false_flags
        return self.true_flags / flags if flags else (1.0 if self.rejected == 0 else math.nan)

    @property
    def f1(self) -> float:
        r, p = self.recall, self.precision
        if not (np.isfinite(r) and np.isfinite(p)) or r + p == 0:
            return 0.0 if self.rejected else math.nan
        return 2 * r * p / (r + p)

    def add(self, flagged: bool, rejected: bool) -> None:
        self.verdicts += 1
        self.rejected += rejected
        self.true_flags += flagged and rejected
        self.false_flags += flagged and not rejected

    def as_dict(self) -> dict[str, float]:
        return {
            "verdicts": self.verdicts,
            "rejected": self.rejected,
            "recall": _json_number(self.recall),
            "precision": _json_number(self.precision),
            "f1": _json_number(self.f1),
        }


@dataclass
class TrainingResult:
    """What ``calspot train`` did: the models it stored, the nights it scored again, and what it could not learn."""

    models: list[StoredModel] = field(default_factory=list)
    rescored: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def examples_of(judged: Sequence[JudgedImage]) -> list[Example]:
    """The judged calibration frames that were scored against a reference (others teach no threshold)."""
    out = []
    for j in judged:
        if j.category not in CALIBRATION_CATEGORIES or j.score is None or not j.threshold or not np.isfinite(j.score):
            continue
        history = j.history_threshold / j.threshold if j.history_threshold else None
        key = group_key(j.image_type, j.mode)
        out.append(Example(j.image_id, key, j.score / j.threshold, j.score, j.threshold, j.z, j.verdict == "reject", history))
    return out


def tune_threshold(
    ratios: Sequence[float], rejected: Sequence[bool], lowest: float | None = None, shrink: float = SHRINK_VERDICTS
) -> float:
    """The factor on the unsupervised threshold that maximises F1 on the verdicts, with guards.

    ``ratios`` are the judged frames' scores over their unsupervised thresholds. With
    both verdicts among them, the factor that best separates rejected from accepted
    frames is searched among the midpoints (on a log scale) between neighbouring
    ratios and 1 itself, ties going to the factor nearest 1. Verdicts of one kind
    cannot say where good and bad part, and must not move the threshold to flag
    everything or nothing: rejected frames under the threshold lower it to just under
    the lowest of them, but never below ``lowest`` (the ratio the reference's good
    frames' own scores call for; None: not at all); accepted frames over it raise it
    to just over the highest of them. With few verdicts the log of the factor is
    shrunk towards 0 by ``n / (n + shrink)``, and it never leaves
    ``[1 / MAX_FACTOR, MAX_FACTOR]``.
    """
    ratios = np.log(np.clip(np.asarray(ratios, np.float64), 1e-9, None))
    bad = np.asarray(rejected, bool)
    if len(ratios) == 0:
        return 1.0
    if bad.all():
        floor = min(math.log(lowest), 0.0) if lowest else 0.0
        best = max(min(0.0, float(ratios.min()) - math.log(ONE_SIDED_MARGIN)), floor)
    elif not bad.any():
        best = max(0.0, float(ratios.max()) + math.log(ONE_SIDED_MARGIN))
    else:
        best = _f1_cut(ratios, bad)
    shrunk = best * len(ratios) / (len(ratios) + shrink)
    return float(np.exp(np.clip(shrunk, -math.log(MAX_FACTOR), math.log(MAX_FACTOR))))


def _f1_cut(ratios: np.ndarray, bad: np.ndarray) -> float:
    """The log-ratio cut with the best F1 on two-sided verdicts (ties to the cut nearest 0)."""
    values = np.unique(ratios)
    candidates = np.concatenate([[0.0], (values[1:] + values[:-1]) / 2, [values[0] - 1e-6, values[-1] + 1e-6]])
    best, best_f1 = 0.0, -1.0
    for cut in sorted(candidates, key=abs):
        flagged = ratios > cut
        tp = np.sum(flagged & bad)
        f1 = 2 * tp / (flagged.sum() + bad.sum())
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(cut), f1
    return best


def fit_group(examples: Sequence[Example], regularisation: float = REGULARISATION, classifier: bool = True) -> GroupJudge:
    """The trained judgement of one image type and mode from its judged frames.

    The threshold is tuned on all of them; the logistic regression (unless
    ``classifier`` is False) needs at least ``MIN_PER_CLASS`` rejected and accepted
    frames, and reads the z-scores any judged frame has (squashed by asinh,
    standardised).
    """
    from sklearn.linear_model import LogisticRegression

    rejected = np.array([e.rejected for e in examples], bool)
    histories = [e.history_ratio for e in examples if e.history_ratio]
    factor = tune_threshold([e.ratio for e in examples], rejected, lowest=float(np.median(histories)) if histories else None)
    ratios = np.array([e.ratio for e in examples])
    group = GroupJudge(
        threshold_factor=factor,
        verdicts=len(examples),
        rejected=int(rejected.sum()),
        accepted_ratio=float(ratios[~rejected].max()) if (~rejected).any() else None,
        rejected_ratio=float(ratios[rejected].min()) if rejected.any() else None,
    )
    if not classifier or rejected.sum() < MIN_PER_CLASS or (~rejected).sum() < MIN_PER_CLASS:
        return group
    features = sorted(set().union(*(e.z.keys() for e in examples)))
    if not features:
        return group
    raw = squash(np.array([[e.z.get(name, 0.0) for name in features] for e in examples]))
    mean = raw.mean(axis=0)
    scale = np.where(raw.std(axis=0) > 1e-9, raw.std(axis=0), 1.0)
    x = (raw - mean) / scale
    fitted = LogisticRegression(C=regularisation, max_iter=2000).fit(x, rejected)
    distances = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
    np.fill_diagonal(distances, np.inf)
    nearest = distances.min(axis=1)
    reach = float(2.0 * np.median(nearest[np.isfinite(nearest)])) if np.isfinite(nearest).any() else 1.0
    group.features = features
    group.mean, group.scale = mean, scale
    group.coef, group.intercept = fitted.coef_[0].astype(np.float64), float(fitted.intercept_[0])
    group.labelled = x
    group.reach = max(reach, 1e-3)
    return group


def cross_validated(examples: Sequence[Example], classifier: bool = True, seed: int = 0) -> tuple[Rates, Rates]:
    """Flags of the trained judgement and of the unsupervised threshold on one group's verdicts.

    Stratified k-fold (k up to ``MAX_FOLDS``, at most the smaller class's count), or
    leave-one-out when a class has fewer than two frames: each frame is judged by a
    model fitted without it.
    """
    trained, unsupervised = Rates(), Rates()
    for e in examples:
        unsupervised.add(e.ratio > 1.0, e.rejected)
    rejected = np.array([e.rejected for e in examples], bool)
    folds = min(MAX_FOLDS, int(rejected.sum()), int((~rejected).sum()))
    if folds >= 2:
        from sklearn.model_selection import StratifiedKFold

        splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(examples)), rejected)
    else:
        everyone = np.arange(len(examples))
        splits = ((np.delete(everyone, i), [i]) for i in everyone)
    for fit_index, test_index in splits:
        if len(fit_index) == 0:
            continue
        group = fit_group([examples[i] for i in fit_index], classifier=classifier)
        for i in test_index:
            e = examples[i]
            trained.add(group.judge(e.score, e.threshold, e.z).flagged, e.rejected)
    return trained, unsupervised


def fit_bad_frames(judged: Sequence[JudgedImage]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Parameters, counts and cross-validated metrics of a bad-frames model from the verdicts."""
    by_group: dict[str, list[Example]] = defaultdict(list)
    for e in examples_of(judged):
        by_group[e.key].append(e)
    groups, per_type = {}, {}
    total_trained, total_unsupervised = Rates(), Rates()
    for key, examples in sorted(by_group.items()):
        # The classifier stays only where it beats the tuned threshold alone on held-out verdicts.
        with_classifier, unsupervised = cross_validated(examples, classifier=True)
        threshold_only, _ = cross_validated(examples, classifier=False)
        keep = bool(with_classifier.f1 > threshold_only.f1)
        trained = with_classifier if keep else threshold_only
        group = fit_group(examples, classifier=keep)
        groups[key] = group.to_json()
        _merge(total_trained, trained)
        _merge(total_unsupervised, unsupervised)
        image_type, mode = key.split("|", 1)
        per_type[key] = {
            "image_type": image_type,
            "mode": mode,
            "threshold_factor": group.threshold_factor,
            "classifier": group.has_classifier,
            "trained": trained.as_dict(),
            "unsupervised": unsupervised.as_dict(),
        }
    counts = {
        "verdicts": len(judged),
        "learnt_from": sum(len(v) for v in by_group.values()),
        "rejected": sum(e.rejected for v in by_group.values() for e in v),
        "types": len(groups),
    }
    metrics = {"per_type": per_type, "trained": total_trained.as_dict(), "unsupervised": total_unsupervised.as_dict()}
    return {"groups": groups}, counts, metrics


def type_training_frames(store: Store, fingerprint: str, per_class: int = TYPE_FRAMES_PER_CLASS) -> list:
    """The newest frames that stand for normal, up to ``per_class`` of every type and mode with a descriptor."""
    frames = []
    for entry in store.image_types():
        if entry["category"] not in CALIBRATION_CATEGORIES:
            continue
        chosen = [
            f
            for f in store.images(fingerprint, qc.QC_VERSION, image_type=entry["image_type"], mode=entry["mode"])
            if usable_as_reference(f) and f.descriptor is not None and np.isfinite(f.descriptor).all() and np.any(f.descriptor)
        ]
        frames.extend(chosen[-per_class:])
    if not frames:
        return []
    length = max({len(f.descriptor) for f in frames}, key=[len(f.descriptor) for f in frames].count)
    return [f for f in frames if len(f.descriptor) == length]


def fit_type_network(
    frames: Sequence, seed: int, progress: Progress | None = None
) -> tuple[Any, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The fully connected type network on descriptors, and its parameters, counts and held-out metrics.

    Classes with fewer than ``MIN_TYPE_FRAMES`` frames are left out. A stratified
    ``TYPE_HOLDOUT`` of every class is held out for the accuracy per type and mode (the
    proof of concept's table); the network that is kept is then fitted on every frame.

    Raises
    ------
    ValueError
        Fewer than two classes have enough frames.
    """
    keys = [group_key(f.image_type, f.mode) for f in frames]
    counts = {k: keys.count(k) for k in set(keys)}
    kept = [i for i, k in enumerate(keys) if counts[k] >= MIN_TYPE_FRAMES]
    classes = sorted({keys[i] for i in kept})
    if len(classes) < 2:
        raise ValueError(f"an image-type network needs two types with {MIN_TYPE_FRAMES} good frames each; the store has {len(classes)}")
    import keras
    from sklearn.model_selection import train_test_split

    x = np.stack([frames[i].descriptor for i in kept]).astype(np.float32)
    y = np.array([classes.index(keys[i]) for i in kept])
    train_index, test_index = train_test_split(np.arange(len(y)), test_size=TYPE_HOLDOUT, stratify=y, random_state=seed)
    history = {}

    def fit(index: np.ndarray, stage: str) -> Any:
        mean = x[index].mean(axis=0)
        scale = np.where(x[index].std(axis=0) > 1e-6, x[index].std(axis=0), 1.0)
        network = build_type_network(x.shape[1], len(classes), TYPE_HIDDEN, TYPE_DROPOUT, seed)
        network.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        callbacks = [_epoch_progress(progress, stage, TYPE_EPOCHS)] if progress else []
        fitted = network.fit((x[index] - mean) / scale, y[index], epochs=TYPE_EPOCHS, batch_size=TYPE_BATCH, verbose=0, callbacks=callbacks)
        history[stage] = {k: [float(v) for v in values] for k, values in fitted.history.items()}
        return network, mean, scale

    network, mean, scale = fit(train_index, "type network (held-out check)")
    predicted = np.argmax(np.asarray(network((x[test_index] - mean) / scale, training=False)), axis=1)
    per_type = {}
    for c, key in enumerate(classes):
        members = test_index[y[test_index] == c]
        right = int(np.sum(predicted[y[test_index] == c] == c))
        image_type, mode = key.split("|", 1)
        accuracy = right / len(members) if len(members) else None
        per_type[key] = {"image_type": image_type, "mode": mode, "held_out": len(members), "accuracy": accuracy}
    network, mean, scale = fit(np.arange(len(y)), "type network")
    instruments: dict[str, set[str]] = defaultdict(set)
    header_types = {}
    for i in kept:
        instruments[frames[i].instrument].add(keys[i])
        header_types[keys[i]] = frames[i].header_type
    parameters = {
        "classes": classes,
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "hidden": list(TYPE_HIDDEN),
        "dropout": TYPE_DROPOUT,
        "seed": seed,
        "instruments": {k: sorted(v) for k, v in instruments.items()},
        "header_types": header_types,
    }
    metrics = {
        "per_type": per_type,
        "accuracy": float(np.mean(predicted == y[test_index])),
        "held_out": len(test_index),
        "history": history["type network (held-out check)"],
    }
    return network, parameters, {"frames": len(kept), "types": len(classes), "held_out": len(test_index)}, metrics


def _epoch_progress(progress: Progress, stage: str, epochs: int) -> Any:
    """A Keras callback that reports finished epochs to calspot's progress callable."""
    import keras

    return keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: progress(stage, epoch + 1, epochs))


def save_weights(network: Any, home: Path, kind: str) -> tuple[str, str]:
    """Write a network's weights into a new file of the home's model folder; its name and SHA-256."""
    folder = models_folder(home)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.weights.h5"
    path = folder / name
    network.save_weights(path)
    return name, file_sha256(path)


def train(store: Store, settings: Settings, trained_by: str, progress: Progress | None = None, rescore: bool = True) -> TrainingResult:
    """Fit the bad-frames and image-types models from the store, make them active, and score the nights again.

    Parameters
    ----------
    store, settings
        The home's store and settings (descriptors of the configured embedder).
    trained_by
        Who trained (recorded with each model).
    progress
        Called with (stage, done, total).
    rescore
        Score every stored night again with the new models (what ``calspot train``
        does, so that every report shows them).

    Returns
    -------
    TrainingResult
        The new models, the flags per night after re-scoring, and what could not be
        trained (a kind without enough data keeps its previous active model).
    """
    from .pipeline import rescore as rescore_nights

    report = progress or (lambda stage, done, total: None)
    result = TrainingResult()
    judged = store.judged_images()
    report("bad-frame model", 0, 1)
    parameters, counts, metrics = fit_bad_frames(judged)
    if parameters["groups"]:
        result.models.append(store.add_model(BAD_FRAMES, trained_by, counts, metrics, parameters))
    else:
        result.notes.append("no bad-frame model: no verdict on a scored calibration frame yet (calspot label, or the Night page)")
    report("bad-frame model", 1, 1)
    fingerprint = expected_fingerprint(settings)
    try:
        network, parameters, counts, metrics = fit_type_network(type_training_frames(store, fingerprint), settings.seed, report)
    except ValueError as exc:
        result.notes.append(f"no image-type network: {exc}")
    else:
        name, digest = save_weights(network, settings.home, IMAGE_TYPES)
        stored = store.add_model(IMAGE_TYPES, trained_by, counts, metrics, parameters, weights_file=name, weights_sha256=digest)
        result.models.append(stored)
    if rescore and result.models and store.nights():
        result.rescored = rescore_nights(settings, store=store, progress=progress)
    return result


def evaluate_verdicts(store: Store) -> dict[str, Any]:
    """The proof of concept's bad-frame table from the stored verdicts, cross-validated per type and mode."""
    _, counts, metrics = fit_bad_frames(store.judged_images())
    return {"counts": counts, **metrics}


def _merge(total: Rates, part: Rates) -> None:
    total.verdicts += part.verdicts
    total.rejected += part.rejected
    total.true_flags += part.true_flags
    total.false_flags += part.false_flags


def _json_number(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
