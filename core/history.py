"""The history of one image type and mode: its score and quality numbers over nights, with a reference band.

The place to see a drift or a jump. For every night the *reference band* of a number is
the median and robust scatter of the usable frames of the ``history_nights`` nights
before it that have frames of the type (usable as the scorer uses them: not rejected,
and not flagged unless an expert accepted them). The band follows a slow drift, a night
later; a jump leaves the night's frames outside it until the new level has become the
history. The scatter is floored as the detector floors it (:func:`core.detect.tolerance`),
so that near-identical frames do not make a band of zero width.

Everything comes from two queries (the rows, then the quality numbers of their ids),
whatever the length of the history; nothing is read per night.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from .detect import IGNORED, MAD_TO_SIGMA, describe_feature, tolerance
from .qc import QC_VERSION

if TYPE_CHECKING:
    from .config import Settings
    from .store import ImageRow, Store

__all__ = [
    "BAND_SIGMA",
    "MIN_BAND_FRAMES",
    "Band",
    "TypeHistory",
    "frame_status",
    "load_type_history",
    "reference_band",
    "type_history",
    "usable",
]

BAND_SIGMA = 3.0
"""Half-width of the band drawn, in robust sigma of the reference."""
MIN_BAND_FRAMES = 3
"""Fewest usable reference frames before a night has a band."""
STATUSES = ("usable", "accepted", "flagged", "rejected")


def usable(row: ImageRow) -> bool:
    """Whether a frame may stand for "normal" in the band: not rejected, not flagged unless accepted."""
    if row.verdict == "reject":
        return False
    return row.verdict == "accept" or not row.flagged


def frame_status(row: ImageRow) -> str:
    """``rejected``, ``accepted``, ``flagged`` (without a verdict) or ``usable``: how a frame is marked."""
    if row.verdict == "reject":
        return "rejected"
    if row.verdict == "accept":
        return "accepted"
    return "flagged" if row.flagged else "usable"


@dataclass(frozen=True)
class Band:
    """The reference band of one number, per night.

    Attributes
    ----------
    median, scatter
        ``(nights,)`` median and robust scatter (floored) of the reference; NaN where a
        night has fewer than :data:`MIN_BAND_FRAMES` reference values.
    frames
        ``(nights,)`` how many reference values each night's band rests on.
    """

    median: np.ndarray
    scatter: np.ndarray
    frames: np.ndarray

    def low(self, sigma: float = BAND_SIGMA) -> np.ndarray:
        return self.median - sigma * self.scatter

    def high(self, sigma: float = BAND_SIGMA) -> np.ndarray:
        return self.median + sigma * self.scatter


def _night_starts(night_index: np.ndarray, count: int) -> np.ndarray:
    """Position of each night's first frame, plus the end, for frames sorted by night."""
    return np.searchsorted(night_index, np.arange(count + 1), side="left")


def _first_nights(distinct: np.ndarray, certified: Sequence[str]) -> np.ndarray:
    """For each night, the position of the first night its reference may use (after certified changes)."""
    first = np.zeros(len(distinct), dtype=int)
    for night in sorted(certified):
        begins = int(np.searchsorted(distinct, night, side="left"))
        first[begins:] = begins
    return first


def reference_band(
    nights: Sequence[str],
    values: np.ndarray,
    usable_mask: np.ndarray,
    history_nights: int,
    floor: tuple[float | np.ndarray, float | np.ndarray] = (0.0, 0.0),
    min_frames: int = MIN_BAND_FRAMES,
    certified: Sequence[str] = (),
) -> Band:
    """The rolling reference band of one number, or of several at once.

    Parameters
    ----------
    nights
        The night of each frame, frames sorted by night.
    values
        ``(frames,)`` the number of each frame, or ``(frames, numbers)`` several numbers
        (NaN where not measured).
    usable_mask
        Frames that may be part of a reference.
    history_nights
        How many earlier nights with frames make a night's reference.
    floor
        ``(absolute, relative)`` floor of the scatter: at least ``absolute`` and
        ``relative`` times the reference median's magnitude (one per number, or one for all).
    min_frames
        Fewest reference values for a band.
    certified
        Nights of certified changes: a night's band rests only on nights on or after
        the newest change certified on or before it, as its scores do.

    Returns
    -------
    Band
        One entry per distinct night, oldest first (``(nights, numbers)`` for several numbers).
    """
    distinct, night_index = np.unique(np.asarray(nights, dtype=object), return_inverse=True)
    values = np.asarray(values, dtype=np.float64)
    usable_rows = np.asarray(usable_mask, bool)
    reference = values.reshape(len(values), -1)[usable_rows]
    # Position of each night's first usable frame: the windows are slices of the usable frames.
    starts = _night_starts(night_index[usable_rows], len(distinct))
    first = _first_nights(distinct, certified)
    median = np.full((len(distinct), reference.shape[1]), np.nan)
    spread = np.full_like(median, np.nan)
    frames = np.zeros(median.shape, dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a number without any reference value yet: all-NaN
        for k in range(1, len(distinct)):
            window = reference[starts[max(0, k - history_nights, first[k])] : starts[k]]
            finite = np.isfinite(window)
            frames[k] = finite.sum(axis=0)
            centre = np.median if finite.all() else np.nanmedian  # the NaN-aware median is several times slower
            median[k] = centre(window, axis=0)
            spread[k] = MAD_TO_SIGMA * centre(np.abs(window - median[k]), axis=0)
    enough = frames >= min_frames
    absolute, relative = (np.asarray(f, dtype=np.float64) for f in floor)
    median = np.where(enough, median, np.nan)
    scatter = np.where(enough, np.fmax(spread, np.fmax(absolute, relative * np.abs(median))), np.nan)
    shape = (len(distinct),) if values.ndim == 1 else median.shape
    return Band(median=median.reshape(shape), scatter=scatter.reshape(shape), frames=frames.reshape(shape))


@dataclass(frozen=True)
class TypeHistory:
    """One image type and mode over its nights: frames, their numbers, the bands, the thresholds.

    Attributes
    ----------
    instrument, image_type, mode, category
        The group shown.
    rows
        Its frames, by night and time.
    nights
        The nights with frames, oldest first.
    night_starts
        When each night began (UT): the steps of its band.
    times
        Observation time of each frame (the middle of its night when the header gave none).
    night_index
        ``(frames,)`` the position of each frame's night in ``nights``.
    values
        Quality number name -> ``(frames,)`` values (NaN where not measured).
    bands
        Quality number name -> its :class:`Band`.
    thresholds
        ``(nights,)`` the median score threshold of each night's frames (NaN when unscored).
    history_nights
        How many earlier nights the bands rest on.
    certified
        Nights of the changes certified for this type and mode, oldest first: the bands
        start again from each.
    """

    instrument: str
    image_type: str
    mode: str
    category: str
    rows: list[ImageRow]
    nights: list[str]
    night_starts: list[datetime]
    times: list[datetime]
    night_index: np.ndarray
    values: dict[str, np.ndarray]
    bands: dict[str, Band]
    thresholds: np.ndarray
    history_nights: int
    certified: list[str]

    @property
    def scores(self) -> np.ndarray:
        """The latest score of each frame (NaN where unscored)."""
        return np.array([np.nan if r.score is None else r.score for r in self.rows], dtype=np.float64)

    @property
    def statuses(self) -> list[str]:
        return [frame_status(r) for r in self.rows]

    def label(self, name: str) -> tuple[str, str]:
        """Human label and unit of a quality number of this type's category."""
        return describe_feature(name, self.category)

    def night_medians(self, name: str) -> np.ndarray:
        """``(nights,)`` median of each night's values of a number (all frames, NaN where none)."""
        values = self.values[name]
        bounds = _night_starts(self.night_index, len(self.nights))
        per_night = np.full(len(self.nights), np.nan)
        for k in range(len(self.nights)):
            night = values[bounds[k] : bounds[k + 1]]
            night = night[np.isfinite(night)]
            if night.size:
                per_night[k] = float(np.median(night))
        return per_night

    def excursions(self, name: str) -> np.ndarray:
        """``(nights,)`` how far each night's median sits from its band's median, in band scatters: a drift or a jump."""
        band = self.bands[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.night_medians(name) - band.median) / band.scatter

    def deviations(self, name: str) -> np.ndarray:
        """``(frames,)`` how far each frame sits from its night's band median, in band scatters (NaN without a band)."""
        band = self.bands[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.values[name] - band.median[self.night_index]) / band.scatter[self.night_index]

    def ranked_metrics(self) -> list[str]:
        """The quality numbers, those on which a frame strayed furthest from its band first (then by name)."""

        def reach(name: str) -> float:
            deviation = np.abs(self.deviations(name))
            return float(np.nanmax(deviation)) if np.isfinite(deviation).any() else 0.0

        return sorted(self.values, key=lambda name: (-reach(name), name))


def _frame_time(row: ImageRow, night_start: datetime) -> datetime:
    return row.date_obs if row.date_obs is not None else night_start + timedelta(hours=12)


def type_history(
    rows: Sequence[ImageRow],
    metrics: Mapping[int, Mapping[str, float]],
    *,
    history_nights: int,
    night_offset_hours: float = 12.0,
    names: Sequence[str] | None = None,
    certified: Sequence[str] = (),
) -> TypeHistory:
    """The history of one type and mode from its rows and quality numbers.

    Parameters
    ----------
    rows
        Every frame of one instrument, image type and mode (any order).
    metrics
        Image id -> quality numbers (frames without any are kept, with NaN).
    history_nights
        Earlier nights a band rests on (the settings' ``history_nights``).
    night_offset_hours
        A night begins at its date plus this many hours (UT).
    names
        Quality numbers to follow; all of them (but bookkeeping numbers) when None.
    certified
        Nights of the changes certified for this type and mode.

    Raises
    ------
    ValueError
        Without rows, or with rows of several types or modes.
    """
    if not rows:
        raise ValueError("no frames: a history needs at least one frame of the type")
    groups = {(r.instrument, r.image_type, r.mode) for r in rows}
    if len(groups) > 1:
        raise ValueError(f"a history is of one instrument, image type and mode; got {len(groups)}")
    ordered = sorted(rows, key=lambda r: (r.night, r.date_obs is None, r.date_obs or datetime.min, r.image_id))
    nights = sorted({r.night for r in ordered})
    starts = {n: datetime.fromisoformat(n) + timedelta(hours=night_offset_hours) for n in nights}
    category = ordered[0].category
    if names is None:
        present = set().union(*(metrics.get(r.image_id, {}).keys() for r in ordered))
        names = sorted(n for n in present if not IGNORED.search(n))
    mask = np.array([usable(r) for r in ordered], bool)
    frame_nights = [r.night for r in ordered]
    matrix = np.array([[_number((metrics.get(r.image_id) or {}).get(name)) for name in names] for r in ordered], dtype=np.float64).reshape(
        len(ordered), len(names)
    )
    floors = np.array([tolerance(name, category) for name in names], dtype=np.float64).reshape(len(names), 2)
    together = reference_band(frame_nights, matrix, mask, history_nights, (floors[:, 0], floors[:, 1]), certified=certified)
    values = {name: matrix[:, k] for k, name in enumerate(names)}
    bands = {
        name: Band(median=together.median[:, k], scatter=together.scatter[:, k], frames=together.frames[:, k])
        for k, name in enumerate(names)
    }
    return TypeHistory(
        instrument=ordered[0].instrument,
        image_type=ordered[0].image_type,
        mode=ordered[0].mode,
        category=category,
        rows=ordered,
        nights=nights,
        night_starts=[starts[n] for n in nights],
        times=[_frame_time(r, starts[r.night]) for r in ordered],
        night_index=np.searchsorted(nights, frame_nights),
        values=values,
        bands=bands,
        thresholds=_night_thresholds(ordered, nights),
        history_nights=history_nights,
        certified=sorted(set(certified)),
    )


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _night_thresholds(rows: Sequence[ImageRow], nights: Sequence[str]) -> np.ndarray:
    by_night: dict[str, list[float]] = {}
    for row in rows:
        if row.threshold is not None:
            by_night.setdefault(row.night, []).append(float(row.threshold))
    return np.array([float(np.median(by_night[n])) if n in by_night else np.nan for n in nights], dtype=np.float64)


def load_type_history(
    store: Store, settings: Settings, instrument: str, image_type: str, mode: str, qc_version: str = QC_VERSION
) -> TypeHistory | None:
    """The history of one instrument, image type and mode as stored; None when it has no frame.

    Three queries: the frames' rows, their quality numbers, the certified changes.
    """
    rows = store.image_rows(instrument=instrument, image_type=image_type, mode=mode)
    if not rows:
        return None
    metrics = store.metrics([r.image_id for r in rows], qc_version)
    certified = [c.night for c in store.certifications(image_type, mode)]
    return type_history(
        rows, metrics, history_nights=settings.history_nights, night_offset_hours=settings.night_offset_hours, certified=certified
    )
