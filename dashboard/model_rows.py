"""Trained models (:class:`core.store.StoredModel`) turned into what the Models page shows.

The list of models, the per-type tables of a bad-frames model and of a type network,
the words of a training's progress and outcome. Metrics are the JSON that
:mod:`core.train` stored: a number it could not define (an F1 without a rejected
verdict, an accuracy without a held-out frame) is None there and NaN here, which the
tables show as empty and the figures leave out. Nothing here imports Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from core.model_tables import describe_model
from core.models import BAD_FRAMES, IMAGE_TYPES
from core.store import StoredModel
from core.train import TrainingResult

ACTIVE_MARK = "●"
MISSING = "-"
KIND_NAMES = {BAD_FRAMES: "bad-frame model", IMAGE_TYPES: "image-type network"}
MODEL_COLUMNS = ["active", "version", "kind", "trained (UTC)", "trained by", "learnt from, and how well it does"]
BAD_FRAME_COLUMNS = [
    "image type",
    "mode",
    "verdicts",
    "rejected",
    "threshold factor",
    "classifier",
    "recall",
    "precision",
    "F1",
    "F1 unsupervised",
]
TYPE_COLUMNS = ["image type", "mode", "held out", "accuracy"]
ALL_TYPES = "all types"
STAGE_WORDS = {
    "bad-frame model": "Fitting the bad-frame model on the verdicts",
    "type network (held-out check)": "Type network, held-out check: epoch",
    "type network": "Type network, on every frame: epoch",
    "score": "Scoring the stored nights again: night",
}


def number(value: Any) -> float:
    """A stored metric as a float; NaN where it is None (undefined) or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def group_name(image_type: str, mode: str) -> str:
    """``UVES_BLUE_BIAS_ext0 · 1x1``, as the other pages name an image type and mode."""
    return f"{image_type} · {mode or 'no mode'}"


def kind_name(kind: str) -> str:
    """``bad-frame model`` or ``image-type network``: a kind in words."""
    return KIND_NAMES.get(kind, kind)


def of_kind(models: Sequence[StoredModel], kind: str) -> list[StoredModel]:
    """The models of one kind, in the order given (the store's: newest first)."""
    return [m for m in models if m.kind == kind]


def active_of(models: Sequence[StoredModel], kind: str) -> StoredModel | None:
    """The active model of a kind, or None when every flag of that kind comes from the unsupervised scores."""
    return next((m for m in models if m.kind == kind and m.active), None)


def newest_of(models: Sequence[StoredModel], kind: str) -> StoredModel | None:
    """The model of a kind that the last training stored (the highest id), active or not."""
    return max(of_kind(models, kind), key=lambda m: m.model_id, default=None)


def headline_f1(model: StoredModel) -> tuple[float, float]:
    """A bad-frames model's F1 over all its verdicts: cross-validated, and of the unsupervised thresholds."""
    return number(model.metrics.get("trained", {}).get("f1")), number(model.metrics.get("unsupervised", {}).get("f1"))


def headline_accuracy(model: StoredModel) -> float:
    """A type network's accuracy on its held-out frames (0 to 1)."""
    return number(model.metrics.get("accuracy"))


def f1_headline(model: StoredModel | None) -> tuple[str, str | None, str]:
    """A bad-frames model's F1 as the page's headline shows it, how it compares with the unsupervised one, and the delta's colour.

    ``("0.912", "+0.120 vs unsupervised 0.792", "normal")``; ``same as unsupervised``
    (no colour) when they agree to three digits; a dash and no comparison where the
    F1 is undefined or there is no model.
    """
    f1, unsupervised = headline_f1(model) if model is not None else (math.nan, math.nan)
    if not math.isfinite(f1):
        return MISSING, None, "off"
    if not math.isfinite(unsupervised):
        return f"{f1:.3f}", None, "off"
    if round(f1, 3) == round(unsupervised, 3):
        return f"{f1:.3f}", "same as unsupervised", "off"
    return f"{f1:.3f}", f"{f1 - unsupervised:+.3f} vs unsupervised {unsupervised:.3f}", "normal"


def accuracy_headline(model: StoredModel | None) -> str:
    """A type network's held-out accuracy in per cent (``99.20 %``); a dash where undefined or without a network."""
    accuracy = headline_accuracy(model) if model is not None else math.nan
    return f"{100 * accuracy:.2f} %" if math.isfinite(accuracy) else MISSING


def model_table(models: Sequence[StoredModel]) -> pd.DataFrame:
    """One row per model, in the order given: which is active, who trained it when, what it learnt from and how well it does.

    The last column is the phrase the command line prints (``calspot models``): the
    training counts and the headline metric, a bad-frames model's F1 cross-validated
    beside the unsupervised one, a type network's held-out accuracy.
    """
    rows = [
        [ACTIVE_MARK if m.active else "", m.version, kind_name(m.kind), f"{m.created_at:%Y-%m-%d %H:%M}", m.trained_by, describe_model(m)]
        for m in models
    ]
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def bad_frame_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Per image type and mode, what a bad-frames model learnt and how its flags match the verdicts.

    ``recall``, ``precision`` and ``F1`` are the trained judgement's, cross-validated on
    the verdicts; ``F1 unsupervised`` is that of the thresholds without any verdict.
    The last row sums every type up (it has no threshold factor nor classifier).
    """
    rows = []
    for _, entry in sorted(metrics.get("per_type", {}).items()):
        trained, unsupervised = entry.get("trained", {}), entry.get("unsupervised", {})
        rows.append(
            _rates_row(entry.get("image_type", ""), entry.get("mode", ""), trained, unsupervised)
            | {"threshold factor": number(entry.get("threshold_factor")), "classifier": "yes" if entry.get("classifier") else "no"}
        )
    if rows:
        rows.append(_rates_row(ALL_TYPES, "", metrics.get("trained", {}), metrics.get("unsupervised", {})))
    return pd.DataFrame(rows, columns=BAD_FRAME_COLUMNS)


def _rates_row(image_type: str, mode: str, trained: Mapping[str, Any], unsupervised: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "image type": image_type,
        "mode": mode,
        "verdicts": int(trained.get("verdicts") or 0),
        "rejected": int(trained.get("rejected") or 0),
        "threshold factor": math.nan,
        "classifier": "",
        "recall": number(trained.get("recall")),
        "precision": number(trained.get("precision")),
        "F1": number(trained.get("f1")),
        "F1 unsupervised": number(unsupervised.get("f1")),
    }


def type_accuracy_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Per image type and mode, the type network's accuracy (per cent) on its held-out frames; all types last."""
    rows = [
        [entry.get("image_type", ""), entry.get("mode", ""), int(entry.get("held_out") or 0), 100 * number(entry.get("accuracy"))]
        for _, entry in sorted(metrics.get("per_type", {}).items())
    ]
    if rows:
        rows.append([ALL_TYPES, "", int(metrics.get("held_out") or 0), 100 * number(metrics.get("accuracy"))])
    return pd.DataFrame(rows, columns=TYPE_COLUMNS)


def f1_groups(table: pd.DataFrame) -> tuple[list[str], list[float], list[float], list[int]]:
    """The per-type rows of :func:`bad_frame_table` as the F1 figure draws them: names, F1 trained and unsupervised, verdicts."""
    per_type = table[table["image type"] != ALL_TYPES]
    names = [group_name(t, m) for t, m in zip(per_type["image type"], per_type["mode"], strict=True)]
    return names, list(per_type["F1"]), list(per_type["F1 unsupervised"]), [int(v) for v in per_type["verdicts"]]


def version_label(model: StoredModel) -> str:
    """``bad-frames-2 (active) · 2025-03-02 14:05 by ana``: a version as the activation select offers it."""
    active = " (active)" if model.active else ""
    return f"{model.version}{active} · {model.created_at:%Y-%m-%d %H:%M} by {model.trained_by}"


def stage_text(stage: str, done: int, total: int) -> str:
    """What a training or a rescoring is doing, for its progress bar (``Type network, on every frame: epoch 12 of 40``)."""
    words = STAGE_WORDS.get(stage, stage)
    if stage == "bad-frame model":
        return words
    return f"{words} {done} of {total}"


def fraction(done: int, total: int) -> float:
    """How far a stage is, between 0 and 1 (a stage of no steps is done)."""
    return min(max(done / total, 0.0), 1.0) if total > 0 else 1.0


def flagged_words(flagged: Mapping[str, int]) -> str:
    """``9 nights scored again: 14 frames flagged``."""
    nights, frames = len(flagged), sum(flagged.values())
    return f"{nights} night{'s' if nights != 1 else ''} scored again: {frames} frame{'s' if frames != 1 else ''} flagged"


def training_outcome(result: TrainingResult) -> tuple[list[str], list[str]]:
    """What a training did, in words: one line per stored model (and the rescoring), and its notes.

    The notes say what could not be trained and why (``no bad-frame model: no verdict ...``);
    a kind that was not trained keeps its previous active model.
    """
    done = [f"Trained {m.version}, now the active {kind_name(m.kind)}: {describe_model(m)}." for m in result.models]
    if result.rescored:
        done.append(f"{flagged_words(result.rescored)} with the new models.")
    return done, [f"{note[:1].upper()}{note[1:].rstrip('.')}." for note in result.notes]
