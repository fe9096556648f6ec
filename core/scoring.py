"""Score a night: choose each type's reference, run its detector, and word the reasons.

The reference of an image type and mode is the usable frames of its most recent
earlier nights (``history_nights``): frames with descriptors or quality numbers,
not rejected by an expert, and not flagged unless an expert accepted them. With
fewer than ``min_reference`` such frames the night's own frames are compared with
each other (plus what history there is); with fewer than three frames in all, the
report says "no reference yet" instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import qc
from .config import Settings
from .detect import DETECTOR_VERSION, Deviation, Explanation, FrameDetector, FrameSet, describe_feature
from .rules import CALIBRATION_CATEGORIES
from .store import NewScore, Store, StoredImage

MIN_FRAMES_TO_COMPARE = 3
REASONS_SHOWN = 3


@dataclass(frozen=True)
class Reference:
    """The frames a group is compared with, and how to say so in a reason."""

    kind: str
    frames: list[StoredImage]
    nights: int

    def phrase(self, scored_in_reference: bool) -> str:
        if self.kind == "history":
            return f"the last {self.nights} night{'s' if self.nights != 1 else ''}"
        others = len(self.frames) - (1 if scored_in_reference else 0)
        return f"the other {others} frames of this night" if self.nights == 0 else f"{others} frames of this and earlier nights"


def model_version(fingerprint: str) -> str:
    """The version of everything that produced a score (shown with labels)."""
    return f"{DETECTOR_VERSION}|{qc.QC_VERSION}|{fingerprint}"


def frame_set(frames: Sequence[StoredImage], category: str, dim: int) -> FrameSet:
    """The detector's view of stored frames (rows of NaN for frames without a descriptor)."""
    descriptors = np.full((len(frames), dim), np.nan, dtype=np.float32)
    for i, frame in enumerate(frames):
        if frame.descriptor is not None and len(frame.descriptor) == dim:
            descriptors[i] = frame.descriptor
    return FrameSet(
        ids=[f.image_id for f in frames],
        metrics=[f.metrics for f in frames],
        descriptors=descriptors,
        profiles=[f.profiles for f in frames],
        category=category,
    )


def usable_as_reference(frame: StoredImage) -> bool:
    """Whether a stored frame may stand for "normal"."""
    if frame.verdict == "reject" or frame.duplicate_of or not (frame.metrics or frame.descriptor is not None):
        return False
    return frame.verdict == "accept" or not frame.flagged


def choose_reference(store: Store, night: str, image_type: str, mode: str, frames: list[StoredImage], settings: Settings, fingerprint: str) -> Reference:
    """History if there is enough of it, else the night's frames (plus any history)."""
    nights = store.earlier_nights(image_type, mode, night, settings.history_nights)
    history = [f for f in store.images(fingerprint, qc.QC_VERSION, image_type=image_type, mode=mode, nights=nights) if usable_as_reference(f)] if nights else []
    if len(history) >= settings.min_reference:
        return Reference("history", history, len({f.night for f in history}))
    tonight = [f for f in frames if not f.duplicate_of and (f.metrics or f.descriptor is not None)]
    combined = history + tonight
    if len(combined) >= MIN_FRAMES_TO_COMPARE:
        return Reference("night", combined, len({f.night for f in history}))
    return Reference("none", combined, len({f.night for f in history}))


def word_deviation(deviation: Deviation, reference: str, category: str | None = None) -> str:
    """A reason an astronomer reads: ``bias level, amplifier 2: +14.2 ADU, 9.8 sigma above the last 30 nights``."""
    label, unit = describe_feature(deviation.name, category)
    direction = "above" if deviation.z > 0 else "below"
    if unit:
        change = f"{deviation.value - deviation.reference:+.3g} {unit}"
    else:
        change = f"{deviation.value:.3g} (typically {deviation.reference:.3g})"
    return f"{label}: {change}, {abs(deviation.z):.1f} sigma {direction} {reference}"


def explanation_details(
    explanation: Explanation, reference: Reference, threshold: float, paths: dict[int, tuple[str, int]], category: str
) -> dict:
    """What is stored with a score to explain it (and shown by ``report --format json``)."""
    return {
        "deviations": [d.as_dict(category) for d in explanation.deviations],
        "neighbours": [
            {"image_id": image_id, "path": paths.get(image_id, ("", -1))[0], "ext": paths.get(image_id, ("", -1))[1], "distance": distance}
            for image_id, distance in explanation.neighbours
        ],
        "reference": {
            "kind": reference.kind,
            "frames": len(reference.frames),
            "nights": reference.nights,
            "first_night": min((f.night for f in reference.frames), default=None),
            "last_night": max((f.night for f in reference.frames), default=None),
        },
        "threshold": threshold,
    }


def score_group(frames: list[StoredImage], reference: Reference, settings: Settings) -> list[NewScore]:
    """Scores of one type and mode's frames of a night against their reference."""
    category = frames[0].category
    if category not in CALIBRATION_CATEGORIES:
        return [_unscored(f, f"{category} frame: not a calibration, not scored") for f in frames]
    if reference.kind == "none":
        have = len(reference.frames)
        note = f"no reference yet: {have} frame{'s' if have != 1 else ''} of this type and mode so far, {MIN_FRAMES_TO_COMPARE} needed to compare"
        return [_unscored(f, note) for f in frames]
    dim = next((len(f.descriptor) for f in reference.frames if f.descriptor is not None), 0)
    detector = FrameDetector(neighbours=settings.neighbours).fit(frame_set(reference.frames, category, dim))
    scorable = [f for f in frames if f.metrics or f.descriptor is not None]
    explanations = dict(zip((f.image_id for f in scorable), detector.explain(frame_set(scorable, category, dim)))) if scorable else {}
    reference_ids = {f.image_id for f in reference.frames}
    paths = {f.image_id: (f.path, f.ext) for f in reference.frames}
    scores = []
    for frame in frames:
        explanation = explanations.get(frame.image_id)
        if explanation is None:
            scores.append(_unscored(frame, "nothing to compare: the image has no valid pixels"))
            continue
        phrase = reference.phrase(frame.image_id in reference_ids)
        over = [d for d in explanation.deviations if abs(d.z) > detector.threshold_]
        reasons = _problems(frame) + [word_deviation(d, phrase, category) for d in over[:REASONS_SHOWN]]
        flagged = explanation.score > detector.threshold_ or bool(_problems(frame))
        scores.append(
            NewScore(
                image_id=frame.image_id,
                score=float(explanation.score),
                threshold=float(detector.threshold_),
                flagged=flagged,
                reference=reference.kind,
                reasons=reasons,
                details=explanation_details(explanation, reference, float(detector.threshold_), paths, category),
            )
        )
    return scores


def _problems(frame: StoredImage) -> list[str]:
    problems = list(frame.problems)
    if frame.duplicate_of:
        problems.append(f"duplicate: same content as {frame.duplicate_of}")
    return problems


def _unscored(frame: StoredImage, note: str) -> NewScore:
    problems = _problems(frame)
    return NewScore(
        image_id=frame.image_id,
        score=None,
        threshold=None,
        flagged=bool(problems),
        reference="none",
        reasons=problems + [note],
        details={},
    )


def score_night(store: Store, night: str, settings: Settings, fingerprint: str, run_id: int) -> list[NewScore]:
    """Score every image of a night against its type's reference and store the results.

    Parameters
    ----------
    store
        Where the night's images and their history are.
    night
        ``YYYY-MM-DD``.
    settings
        ``history_nights``, ``min_reference`` and ``neighbours`` are used.
    fingerprint
        Descriptors of this embedder are compared (never mixed with another's).
    run_id
        The run the scores belong to.

    Returns
    -------
    list of NewScore
        What was stored, one per image.
    """
    results: list[NewScore] = []
    for image_type, mode in store.image_groups(night):
        frames = store.images(fingerprint, qc.QC_VERSION, night=night, image_type=image_type, mode=mode)
        reference = choose_reference(store, night, image_type, mode, frames, settings, fingerprint)
        results.extend(score_group(frames, reference, settings))
    store.add_scores(results, run_id, model_version(fingerprint))
    return results
