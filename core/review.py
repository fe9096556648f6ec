"""The order of the review queue: which frames' verdicts would teach the models most.

The default review order shows the flags first, farthest out first: what must be
looked at. The learning order shows first the frames whose verdict is worth most to
the models: those whose score sits near their threshold (the detector is least sure
of them, flagged or not), and among those, frames unlike the ones already chosen or
already reviewed (a verdict on one of ten near-identical frames teaches about as much
as verdicts on all ten). It is greedy maximal marginal relevance: each next frame
maximises ``(1 - diversity) * uncertainty - diversity * similarity``, the similarity
being the largest cosine similarity of its descriptor to a frame of the same image
type and mode already chosen or reviewed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

REVIEW_ORDERS = ("flags first", "most to learn")
DIVERSITY = 0.5


@dataclass(frozen=True)
class Candidate:
    """A frame of the queue: its score and threshold, descriptor, group, and whether it has a verdict."""

    image_id: int
    score: float | None
    threshold: float | None
    descriptor: np.ndarray | None
    group: tuple[str, str]
    reviewed: bool = False


def uncertainty(score: float | None, threshold: float | None) -> float:
    """How unsure the detector is of a frame: 1 at its threshold, falling as the score moves away (0 unscored).

    ``exp(-|ln(score / threshold)|)``: a frame at half or twice its threshold gets 0.5,
    one at a tenth or ten times 0.1.
    """
    if score is None or threshold is None or not threshold > 0 or not np.isfinite(score):
        return 0.0
    ratio = max(float(score), 1e-12) / float(threshold)
    return float(np.exp(-abs(np.log(ratio))))


def learning_order(candidates: Sequence[Candidate], diversity: float = DIVERSITY) -> list[int]:
    """The image ids of the frames without a verdict, those whose verdict would teach most first.

    Parameters
    ----------
    candidates
        The night's frames; reviewed ones are not returned but count as known, so that
        frames like them come later.
    diversity
        Weight of being unlike what is known, against being uncertain (0 to 1).

    Returns
    -------
    list of int
        Every unreviewed candidate once; frames without a score come last, in the order given.
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be between 0 and 1, got {diversity}")
    waiting = [c for c in candidates if not c.reviewed and uncertainty(c.score, c.threshold) > 0]
    unscored = [c.image_id for c in candidates if not c.reviewed and uncertainty(c.score, c.threshold) == 0]
    gain = np.array([(1.0 - diversity) * uncertainty(c.score, c.threshold) for c in waiting])
    units, groups = _units(waiting), np.array([hash(c.group) for c in waiting])
    nearest = np.zeros(len(waiting))  # largest similarity to a frame of the same group known so far
    for known in (c for c in candidates if c.reviewed):
        _update(nearest, units, groups, hash(known.group), _unit(known.descriptor, units.shape[1]))
    order: list[int] = []
    left = np.ones(len(waiting), bool)
    while left.any():
        pick = int(np.argmax(np.where(left, gain - diversity * nearest, -np.inf)))
        order.append(waiting[pick].image_id)
        left[pick] = False
        _update(nearest, units, groups, groups[pick], units[pick])
    return order + unscored


def _units(waiting: Sequence[Candidate]) -> np.ndarray:
    """Unit descriptors, one row per frame (zeros for a frame without one, or of another length)."""
    lengths = [len(c.descriptor) for c in waiting if c.descriptor is not None]
    width = max(set(lengths), key=lengths.count) if lengths else 0
    rows = [_unit(c.descriptor, width) for c in waiting]
    return np.array([r if r is not None else np.zeros(width) for r in rows]).reshape(len(waiting), width)


def _unit(vector: np.ndarray | None, width: int) -> np.ndarray | None:
    if vector is None or len(vector) != width:
        return None
    vector = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 and np.isfinite(norm) else None


def _update(nearest: np.ndarray, units: np.ndarray, groups: np.ndarray, group: int, known: np.ndarray | None) -> None:
    """Raise the nearest similarity of the waiting frames of ``group`` with a newly known frame."""
    if known is None or not known.any():
        return
    np.maximum(nearest, np.where(groups == group, units @ known, 0.0), out=nearest)
