"""Why a frame was flagged, in the words and pictures an astronomer checks.

Three kinds of explanation are stored with every score:

- the quality numbers (and derived features) that deviate most from the reference,
  worded like ``bias level, amplifier 2: +14.2 ADU, 9.8 sigma above the last 30 nights``;
- the nearest reference frames (image ids, paths, descriptor distances), and a
  difference image of the frame against their median;
- when the pixels look like another type or mode than the header says, that
  sentence (``looks like a LAMP,FLAT; the header says BIAS``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .detect import Deviation, Explanation, describe_feature
from .models import Judgement
from .preprocess import png_bytes
from .store import StoredImage

DIFFERENCE_QUANTILE = 0.995
DIFFERENCE_NOISE_SIGMAS = 5.0
# Past this, the frame is simply far out: the exact number of sigma says nothing more.
FAR_SIGMA = 100.0


@dataclass(frozen=True)
class TypeClass:
    """One image type and mode as the type classifier knows it."""

    image_type: str
    mode: str
    header_type: str

    @property
    def key(self) -> str:
        return f"{self.image_type}|{self.mode}"

    @classmethod
    def of(cls, frame: StoredImage) -> TypeClass:
        return cls(frame.image_type, frame.mode, frame.header_type)


def word_deviation(deviation: Deviation, reference: str, category: str | None = None) -> str:
    """A reason an astronomer reads: ``bias level, amplifier 2: +14.2 ADU, 9.8 sigma above the last 30 nights``."""
    label, unit = describe_feature(deviation.name, category)
    direction = "above" if deviation.z > 0 else "below"
    if unit:
        change = f"{deviation.value - deviation.reference:+.3g} {unit}"
        if "flux" in deviation.name and deviation.reference > 0:
            change += f" ({100 * (deviation.value / deviation.reference - 1):+.0f} %)"
    else:
        change = f"{deviation.value:.3g} (typically {deviation.reference:.3g})"
    return f"{label}: {change}, {how_far(deviation.z)} {direction} {reference}"


def how_far(z: float) -> str:
    """``9.8 sigma``; beyond ``FAR_SIGMA`` a number of sigma means nothing to a reader: ``over 100 sigma``."""
    return f"{abs(z):.1f} sigma" if abs(z) < FAR_SIGMA else f"over {FAR_SIGMA:.0f} sigma"


def is_type_mismatch(looks_like: TypeClass, header: TypeClass) -> bool:
    """Whether a prediction contradicts the header's type, or its mode for the same type.

    A frame that looks like the same type on another chip or arm is not called a
    mismatch: a defect (a level jump, a block of bad rows) moves a frame about in
    descriptor space, and "looks like the other chip's bias" would mislead.
    """
    if looks_like.header_type != header.header_type:
        return True
    return looks_like.image_type == header.image_type and looks_like.mode != header.mode


def word_mismatch(looks_like: TypeClass, header: TypeClass, share: float) -> str:
    """``looks like a LAMP,FLAT; the header says BIAS``, or the same for a mode."""
    if looks_like.header_type != header.header_type:
        what, claimed = looks_like.header_type, header.header_type
    else:
        what, claimed = f"{looks_like.header_type} of mode {looks_like.mode}", f"mode {header.mode}"
    return f"looks like a {what}; the header says {claimed} ({100 * share:.0f} % of the nearest frames of all types agree)"


def explanation_details(
    explanation: Explanation,
    reference_summary: dict,
    threshold: float,
    paths: dict[int, tuple[str, int]],
    category: str,
) -> dict:
    """What is stored with a score to explain it (and shown by ``report --format json``)."""
    return {
        "deviations": [d.as_dict(category) for d in explanation.deviations],
        "neighbours": [
            {"image_id": image_id, "path": paths.get(image_id, ("", -1))[0], "ext": paths.get(image_id, ("", -1))[1], "distance": distance}
            for image_id, distance in explanation.neighbours
        ],
        "reference": reference_summary,
        "threshold": threshold,
        # Why the threshold is what it is: the reference's own scores, or the floor no type goes below.
        "threshold_basis": "history" if explanation.history_threshold >= threshold else "floor",
        "history_threshold": explanation.history_threshold,
        # What a model trained on verdicts reads and re-tunes (core.train).
        "unsupervised_threshold": explanation.threshold,
        "z": explanation.z,
    }


def word_judgement(judgement: Judgement, version: str) -> str:
    """Why a trained model's flag differs from the threshold's, e.g. ``like the frames experts rejected ...``."""
    share = f"probability {judgement.p_bad:.2f} of being bad"
    if judgement.flagged:
        return f"like frames experts rejected: {share} by the model trained on their verdicts ({version}), though under the threshold"
    return f"like frames experts accepted: {share} by the model trained on their verdicts ({version}), though over the threshold"


def difference_image(frame: np.ndarray, neighbours: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """The frame minus the median of its nearest reference frames, and the scale shown.

    Returns
    -------
    difference, scale
        The difference in ADU (same shape as the previews) and the half-range of
        the picture: the larger of the 99.5th percentile of the absolute difference
        and five times its robust scatter, so that a good frame shows faint noise
        and a defect stands out.
    """
    with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN, then show as no difference
        median = np.nanmedian(np.stack(neighbours).astype(np.float64), axis=0)
        difference = np.nan_to_num(np.asarray(frame, np.float64) - median, nan=0.0, posinf=0.0, neginf=0.0)
    magnitude = np.abs(difference)
    scatter = 1.4826 * float(np.median(np.abs(difference - np.median(difference))))
    scale = max(float(np.quantile(magnitude, DIFFERENCE_QUANTILE)), DIFFERENCE_NOISE_SIGMAS * scatter, 1e-3)
    limit = float(np.finfo(np.float32).max)
    return np.clip(difference, -limit, limit).astype(np.float32), scale


def difference_png(difference: np.ndarray, scale: float) -> bytes:
    """A signed difference as a grey PNG: mid-grey is no difference, white is ``+scale``, black ``-scale``."""
    grey = np.clip(difference / scale, -1.0, 1.0) * 127.5 + 127.5
    return png_bytes(np.flipud(grey).astype(np.uint8))
