"""Nights of calibrations on disk: the morning's plan, which frames get defects, and ``truth.csv``.

:func:`simulate_nights` writes a history of good nights followed by test nights in which
some files carry one defect each, every requested family at least once, and records in
``truth.csv`` what was injected into which extension, with its magnitude.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from .defects import APPLIES_TO, DEFECT_FAMILIES
from .frames import CALIBRATION_WINDOW, FIRST_NIGHT, Exposure, file_suffix
from .instrument import ARMS, BIAS, FLAT, WAVE, exposure_time, random_stream
from .simulator import UvesSimulator

TRUTH_FILE = "truth.csv"
TRUTH_COLUMNS: tuple[str, ...] = ("path", "ext", "night", "arm", "dpr_type", "setting", "defect", "detail")
"""Columns of ``truth.csv``: one row per image extension of every simulated file."""


def simulate_nights(
    outdir: str | Path,
    nights: int = 12,
    test_nights: int = 2,
    *,
    start: str | date = FIRST_NIGHT,
    seed: int = 0,
    scale: float = 1.0,
    compress: str = "none",
    defect_rate: float = 0.4,
    defects: Sequence[str] | None = None,
    biases: int = 5,
    flats: int = 3,
    arcs: int = 2,
    intervention_night: int | None = None,
    severity: str = "gross",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write nights of UVES-like calibrations, with defects in the last ones, and their truth.

    The first ``nights - test_nights`` nights are history: every frame is good. In
    each of the last ``test_nights`` nights, every file gets a defect with probability
    ``defect_rate``; over those nights every requested family that applies to some
    frame appears at least once (an extra frame is picked if needed).

    Parameters
    ----------
    outdir
        Folder to write into: ``<outdir>/<night YYYY-MM-DD>/UVES.<DATE-OBS>.fits[.Z|.gz]``
        and ``<outdir>/truth.csv``. Files this function wrote earlier for the same
        nights are replaced; truth rows of other nights are kept.
    nights, test_nights
        Number of nights, and how many of the last ones get defects.
    start
        Date of the first night (a night is named by the date on which it began; its
        calibrations are taken between 10:00 and 12:00 UT the next day).
    seed
        Seed of everything: same seed, same bytes.
    scale
        Frame size relative to the real instrument (0.05 makes tiny, fast frames).
    compress
        ``"none"``, ``"Z"`` (Unix compress, as ESO's archive delivers) or ``"gz"``.
    defect_rate
        Probability that a file of a test night is defective.
    defects
        Families to inject (default: all of :data:`DEFECT_FAMILIES`).
    biases, flats, arcs
        Biases per arm, and flats and arcs per arm and grating setting, per night.
    intervention_night
        Index of the night (0 = ``start``) from which orders, lines and lamp flux have
        jumped: good frames, truth detail ``after intervention`` on flats and arcs.
    severity
        ``gross`` (the default) or ``subtle`` defects: see :mod:`core.synthetic.defects`.
    progress
        Called as ``progress(files_done, files_total)`` after each file.

    Returns
    -------
    Path
        The truth file, with columns :data:`TRUTH_COLUMNS`.
    """
    if not 0 <= test_nights <= nights:
        raise ValueError(f"test_nights must be between 0 and nights ({nights}), got {test_nights}")
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError(f"defect_rate must be between 0 and 1, got {defect_rate}")
    if min(biases, flats, arcs) < 0:
        raise ValueError("biases, flats and arcs must not be negative")
    families = list(DEFECT_FAMILIES if defects is None else defects)
    unknown = sorted(set(families) - set(DEFECT_FAMILIES))
    if unknown:
        raise ValueError(f"unknown defect families {unknown}; known: {', '.join(DEFECT_FAMILIES)}")
    suffix = file_suffix(compress)
    first = date.fromisoformat(start) if isinstance(start, str) else start
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    truth_path = outdir / TRUTH_FILE

    night_dates = [first + timedelta(days=n) for n in range(nights)]
    night_names = {d.isoformat() for d in night_dates}
    kept = _forget_nights(outdir, _read_truth(truth_path), night_names)

    counts = {BIAS: biases, FLAT: flats, WAVE: arcs}
    plans = [_night_plan(n, d, counts, random_stream(seed, "plan", d.isoformat())) for n, d in enumerate(night_dates)]
    testing = [e for plan in plans[nights - test_nights :] for e in plan]
    assigned = _assign_defects(testing, families, defect_rate, random_stream(seed, "assign"))
    defect_of = {testing[i]: family for i, family in assigned.items()}

    simulator = UvesSimulator(seed=seed, scale=scale, intervention_night=intervention_night, severity=severity)
    total, done, rows = sum(len(p) for p in plans), 0, list(kept)
    for night_date, plan in zip(night_dates, plans, strict=True):
        folder = outdir / night_date.isoformat()
        folder.mkdir(exist_ok=True)
        for exposure in plan:
            frame = simulator.render(exposure, defect_of.get(exposure, ""))
            path = folder / (exposure.stem + suffix)
            path.write_bytes(frame.to_bytes(compress))
            rows += frame.truth_rows(path.relative_to(outdir).as_posix(), night_date.isoformat())
            done += 1
            if progress is not None:
                progress(done, total)
    _write_truth(truth_path, rows)
    return truth_path


def _night_plan(night: int, night_date: date, counts: Mapping[str, int], rng: np.random.Generator) -> list[Exposure]:
    """The calibration plan of a night, timed in the morning after it (10:00-12:00 UT).

    Per arm: the biases, then for each grating setting its flats and its arcs. Each
    exposure starts when the previous one is read out, plus a few seconds; if the
    plan would not fit in the window, the gaps are compressed (at least 1 s apart).
    """
    plan: list[tuple[str, str, int, int]] = []
    for arm in ARMS.values():
        in_place = arm.settings[int(rng.integers(len(arm.settings)))].wlen
        plan += [(arm.name, BIAS, in_place, i) for i in range(counts[BIAS])]
        for setting in arm.settings:
            plan += [(arm.name, FLAT, setting.wlen, i) for i in range(counts[FLAT])]
            plan += [(arm.name, WAVE, setting.wlen, i) for i in range(counts[WAVE])]
    durations = np.array([exposure_time(kind, ARMS[arm].setting(wlen)) + ARMS[arm].readout_s for arm, kind, wlen, _ in plan])
    durations += rng.uniform(1.0, 5.0, len(plan))
    morning = datetime.combine(night_date + timedelta(days=1), CALIBRATION_WINDOW[0])
    start = timedelta(seconds=round(rng.uniform(0.0, 600.0), 3))
    window = (datetime.combine(morning.date(), CALIBRATION_WINDOW[1]) - morning - start).total_seconds()
    if len(plan) > window:
        raise ValueError(f"{len(plan)} exposures do not fit in the morning calibration window")
    if durations.sum() > window:
        durations = np.maximum(1.0, durations * (window - len(plan)) / durations.sum())
    offsets = np.concatenate([[0.0], np.cumsum(durations[:-1])])
    return [
        Exposure(night, arm, kind, wlen, index, morning + start + timedelta(milliseconds=round(1000 * offset)))
        for (arm, kind, wlen, index), offset in zip(plan, offsets, strict=True)
    ]


def _assign_defects(exposures: Sequence[Exposure], families: Sequence[str], rate: float, rng: np.random.Generator) -> dict[int, str]:
    """Choose which exposures get which defect family.

    Each exposure is picked with probability ``rate``. Every family is then given to
    at least one picked exposure it applies to (the scarcest families first, picking
    an extra exposure if none is left), and the remaining picks get the family that
    has been used least so far, so that all families are represented.
    """
    if rate <= 0 or not families:
        return {}
    order = [int(i) for i in rng.permutation(len(exposures))]
    picked = [i for i in order if rng.random() < rate]
    chosen = set(picked)
    spare = [i for i in order if i not in chosen]
    family_order = [families[int(i)] for i in rng.permutation(len(families))]

    def applies(i: int, family: str) -> bool:
        return exposures[i].dpr_type in APPLIES_TO[family]

    assigned: dict[int, str] = {}
    scarcity = sorted(family_order, key=lambda f: sum(applies(i, f) for i in picked))
    for family in scarcity:
        free = [i for i in picked if i not in assigned and applies(i, family)]
        if not free:
            free = [i for i in spare if i not in assigned and applies(i, family)]
        if free:
            assigned[free[0]] = family
    used = Counter(assigned.values())
    for i in picked:
        if i in assigned:
            continue
        options = [f for f in family_order if applies(i, f)]
        if options:
            family = min(options, key=lambda f: used[f])
            assigned[i] = family
            used[family] += 1
    return assigned


def _read_truth(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _forget_nights(outdir: Path, rows: Sequence[dict[str, str]], nights: set[str]) -> list[dict[str, str]]:
    """Delete the files an earlier simulation wrote for ``nights``; return the other truth rows.

    Only files that the truth file lists, in a night folder and named ``UVES.*``, are
    touched: anything else in the folder is left alone.
    """
    kept = []
    for row in rows:
        if row.get("night") not in nights:
            kept.append(row)
            continue
        parts = Path(row["path"]).parts
        if len(parts) == 2 and parts[0] == row["night"] and parts[1].startswith("UVES."):
            (outdir / row["path"]).unlink(missing_ok=True)
    return kept


def _write_truth(path: Path, rows: Sequence[Mapping[str, str]]) -> None:
    ordered = sorted(rows, key=lambda r: (r["night"], r["path"], int(r["ext"] or 0)))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=TRUTH_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(ordered)
