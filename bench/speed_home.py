"""A large calspot home written straight through the store's API, for timing the dashboard.

A history of 100 nights of 200 UVES-like images (20 000) and one night of 300, in 20
groups of image type and mode (blue and red arm, both red chips, bias, flat and arc,
two binnings, five grating settings). Every image has what an ingest leaves: a
descriptor of 2048 non-negative numbers (one direction per group, drifting slowly
over the nights, scattered per frame), the quality numbers of its category with
drifts (bias level, lamp ageing), row and column profiles, a 128 x 128 preview, a
zscaled thumbnail, and a score with the explanation the detector writes (deviations
worded by :func:`core.explain.word_deviation`, nearest reference frames, reference,
threshold and what set it, a difference image). Some frames are flagged (about 1 in 70
of the history, 1 in 10 of the night) and experts have given verdicts on most flagged
frames of the history and a few of the night. The night's raw files are written as
FITS (one image per blue file, the two red chips in one file), so that the Frame page
reads their pixels; the history's files are named but not written.

Pictures, previews and profiles are drawn from a small pool per group (stored once per
image all the same), and previews (which only the clustering of a map's frames reads)
are stored for the night and the 30 nights before it, so that the home is written in
minutes on two cores.
"""

from __future__ import annotations

import functools
import io
import json
import math
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.io import fits
from PIL import Image as PILImage

from core.config import Settings, load_settings
from core.detect import Deviation
from core.embed import expected_fingerprint
from core.explain import word_deviation
from core.qc import QC_VERSION
from core.scoring import model_version
from core.store import NewFile, NewImage, NewScore, Store

DIMENSION = 2048
FIRST_NIGHT = date(2024, 9, 1)
HISTORY_NIGHTS = 100
HISTORY_PER_GROUP = 10  # images of each group a night: 20 groups x 10 x 100 nights = 20 000
NIGHT_PER_GROUP = 15  # 20 groups x 15 = 300 images on the night
# History frames per type drawn with the night's maps and dendrograms: 20 x 485 + 300 = 10 000
# points on a map, 15 + 485 = 500 leaves on a type's dendrogram.
MAP_HISTORY_PER_TYPE = 485
POOL = 12  # pictures, previews and profiles per group
PREVIEW_SIDE = 128
THUMBNAIL_SIZE = (178, 250)  # (width, height) of a zscaled thumbnail of a 536 x 750 frame
DIFFERENCE_SIDE = 128
HISTORY_FLAG_RATE = 0.015
NIGHT_FLAG_RATE = 0.1
REVIEWED_SHARE = 0.6
REVIEWERS = ("A. Astronomer", "B. Observer", "C. Night")
NOTES = ("", "", "lamp warming up", "amp 2 level jump, rerun", "fine on inspection", "cosmic ray shower")
READ_SPEED = "speed=225kHz,1x1,low"
REFERENCE_NIGHTS = Settings.history_nights  # the default reference window, as calspot scores
REFERENCE_WORDS = f"the last {REFERENCE_NIGHTS} nights"
DISTANCE_SCALE = 2e-6
MARKER = "speed_home.json"  # written last: the home is complete

COMMON_METRICS = {
    # name: (value, scatter) of a 1x1 frame; levels and fluxes are scaled per category below
    "amp1.bias_level": (179.4, 0.5),
    "amp2.bias_level": (183.1, 0.5),
    "amp1.noise": (3.80, 0.10),
    "amp2.noise": (3.77, 0.10),
    "amp1.read_noise": (3.72, 0.10),
    "amp2.read_noise": (3.71, 0.10),
    "bad_row_fraction": (0.0002, 0.0001),
    "column_structure": (3.27, 0.22),
    "row_structure": (3.14, 0.21),
    "cosmic_ray_fraction": (0.0001, 0.00003),
    "gradient_x": (0.0, 0.01),
    "gradient_y": (0.0, 0.01),
    "nan_fraction": (0.0, 0.0),
    "periodic_noise": (0.11, 0.02),
    "saturated_fraction": (0.0, 0.0),
}
GRID_METRICS = tuple(f"grid{i}{j}" for i in range(3) for j in range(3))
LEVEL_METRICS = ("amp1.level", "amp2.level", "level", "p01", "p05", "p50", "p95", "p99", "max", *GRID_METRICS)
CATEGORY_METRICS = {
    "bias": {"bad_column_excess": (0.0, 0.0005)},
    "flat": {"flux": (2.1e9, 2.0e7), "flux_p99": (41000.0, 400.0), "order_contrast": (0.82, 0.01), "order_count": (38.0, 0.5)},
    "arc": {
        "flux": (3.1e7, 6.0e5),
        "flux_p99": (3800.0, 90.0),
        "line_count": (326.0, 9.0),
        "line_flux": (3.46e6, 9.5e4),
        "line_peak_p90": (3999.0, 110.0),
        "periodic_period": (12.0, 0.5),
    },
}
LEVELS = {"bias": 181.0, "flat": 20500.0, "arc": 260.0}
# What goes wrong, per category: (metric, signed z of a flagged frame's worst deviation)
FAULTS = {
    "bias": (("amp2.level", 1.0), ("column_structure", 1.0), ("periodic_noise", 1.0), ("amp1.read_noise", 1.0)),
    "flat": (("flux", -1.0), ("order_contrast", -1.0), ("p99", 1.0), ("gradient_x", 1.0)),
    "arc": (("line_count", -1.0), ("line_flux", -1.0), ("line_peak_p90", 1.0), ("periodic_noise", 1.0)),
}
# Per night: how a group's numbers drift (fraction of the value), lamps ageing, the bias warming
DRIFT_PER_NIGHT = {"bias": 2e-5, "flat": -4e-4, "arc": -2e-4}


@dataclass(frozen=True)
class Group:
    """One image type and mode of the home."""

    arm: str
    ext: int
    category: str
    header_type: str
    wlen: int | None
    binning: int

    @property
    def image_type(self) -> str:
        word = {"bias": "BIAS", "flat": "FLAT", "arc": "WAVE"}[self.category]
        return f"UVES_{self.arm}_{word}_ext{self.ext}"

    @property
    def mode(self) -> str:
        binned = f"binx={self.binning} biny={self.binning} {READ_SPEED}"
        return binned if self.wlen is None else f"wlen={self.wlen} {binned} slit=FREE"

    @property
    def shape(self) -> tuple[int, int]:
        return (750 // self.binning, 536 // self.binning)


def _groups() -> list[Group]:
    """The 20 groups: blue (extension 0) and the two red chips (extensions 1 and 2) of each setting."""
    settings = [("bias", "BIAS", None, 1), ("bias", "BIAS", None, 2)]
    blue = [*settings, *[(c, t, w, 1) for w in (346, 390, 437) for c, t in (("flat", "LAMP,FLAT"), ("arc", "LAMP,WAVE"))]]
    red = [*settings, *[(c, t, w, 1) for w in (580, 860) for c, t in (("flat", "LAMP,FLAT"), ("arc", "LAMP,WAVE"))]]
    return [Group("BLUE", 0, *s) for s in blue] + [Group("RED", ext, *s) for s in red for ext in (1, 2)]


GROUPS = _groups()


@dataclass
class SpeedHome:
    """What was written: where, the night, and the frames the bench opens."""

    home: Path
    settings: Settings
    night: str
    night_flagged: list[int] = field(default_factory=list)
    images: int = 0


def night_name(index: int) -> str:
    return (FIRST_NIGHT + timedelta(days=index)).isoformat()


def _png(picture: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class _Pool:
    """Pictures of one group, drawn once: thumbnails, differences, previews, profiles, the descriptor's direction."""

    thumbnails: list[bytes]
    differences: list[bytes]
    previews: list[np.ndarray]
    profiles: list[dict[str, np.ndarray]]
    centre: np.ndarray
    drift: np.ndarray


@functools.cache
def _pattern(group: Group, height: int, width: int) -> np.ndarray:
    """The group's light on the chip, 0 to 1: nothing for a bias, orders across a flat, lines across an arc."""
    x = np.arange(width)
    envelope = np.exp(-((np.arange(height) / height - 0.5) ** 2))[:, None]
    if group.category == "flat":
        return envelope * (0.5 + 0.5 * np.cos(2 * np.pi * x / (width / 19.0)) ** 8)[None, :]
    if group.category == "arc":
        generator = np.random.default_rng(group.wlen)
        positions, strengths = generator.uniform(0, width, 60), generator.uniform(0.2, 1.0, 60)
        lines = (strengths[:, None] * np.exp(-0.5 * ((x[None, :] - positions[:, None]) / 1.2) ** 2)).sum(axis=0)
        return envelope * np.minimum(lines, 1.0)[None, :]
    return np.zeros((height, width))


def _pool(group: Group, generator: np.random.Generator) -> _Pool:
    width, height = THUMBNAIL_SIZE
    light = _pattern(group, height, width)
    small = _pattern(group, PREVIEW_SIDE, PREVIEW_SIDE)
    level = LEVELS[group.category]
    ny, nx = group.shape
    thumbnails, differences, previews, profiles = [], [], [], []
    for _ in range(POOL):
        thumbnails.append(_png(60 + 140 * light + generator.normal(0, 18, (height, width))))
        differences.append(_png(128 + generator.normal(0, 14, (DIFFERENCE_SIDE, DIFFERENCE_SIDE))))
        previews.append((level * (0.2 + small) + generator.normal(0, 3.7, small.shape)).astype(np.float32))
        profiles.append(
            {
                "rows": (level * (1 + 0.05 * np.sin(np.arange(ny) / 40)) + generator.normal(0, 0.2, ny)).astype(np.float32),
                "cols": (level * (0.2 + _pattern(group, 1, nx)[0]) + generator.normal(0, 0.2, nx)).astype(np.float32),
            }
        )
    centre = generator.gamma(1.0, 1.0, DIMENSION).astype(np.float32)
    drift = generator.normal(0, 0.004, DIMENSION).astype(np.float32)
    return _Pool(thumbnails, differences, previews, profiles, centre, drift)


def _metrics(group: Group, night_index: int, generator: np.random.Generator) -> dict[str, float]:
    level = LEVELS[group.category] * (1 + DRIFT_PER_NIGHT["bias"] * night_index)
    numbers = {name: value + scatter * generator.standard_normal() for name, (value, scatter) in COMMON_METRICS.items()}
    for name in LEVEL_METRICS:
        spread = {"p01": -12.0, "p05": -6.0, "p95": 6.0, "p99": 12.0, "max": 6000.0}.get(name, 0.0)
        numbers[name] = level + spread + 0.5 * generator.standard_normal()
    for name, (value, scatter) in CATEGORY_METRICS.get(group.category, {}).items():
        drifted = value * (1 + DRIFT_PER_NIGHT[group.category] * night_index) if "flux" in name else value
        numbers[name] = drifted + scatter * generator.standard_normal()
    numbers["profile_bin_rows"] = numbers["profile_bin_cols"] = 1.0
    return {name: float(value) for name, value in numbers.items()}


def _scatter(group: Group, name: str) -> float:
    if name in LEVEL_METRICS:
        return 0.5
    _, scatter = {**COMMON_METRICS, **CATEGORY_METRICS.get(group.category, {})}.get(name, (1.0, 1.0))
    return scatter or 0.001


@dataclass
class _Recent:
    """The last frames of a group written, for the nearest reference frames of the next ones."""

    frames: list[tuple[int, str, int, str]] = field(default_factory=list)  # image id, path, ext, night


def _score(
    group: Group,
    image_id: int,
    metrics: dict[str, float],
    night_index: int,
    flagged: bool,
    recent: _Recent,
    pool: _Pool,
    generator: np.random.Generator,
) -> NewScore:
    """The score the detector would write: deviations from a reference, the threshold, neighbours, a difference."""
    history_threshold = 3.5 + 4.0 * ((zlib.crc32(f"{group.image_type} {group.mode}".encode()) % 100) / 100.0)
    threshold = max(6.0, history_threshold)
    names = [n for n in metrics if not n.startswith("profile_bin")]
    chosen = [names[i] for i in generator.choice(len(names), 8, replace=False)]
    deviations = []
    for name in chosen:
        z = float(generator.standard_normal() * 1.2)
        scatter = _scatter(group, name)
        deviations.append(Deviation(name, metrics[name], metrics[name] - z * scatter, scatter, z))
    if flagged:
        name, sign = FAULTS[group.category][int(generator.integers(len(FAULTS[group.category])))]
        z = sign * threshold * float(generator.uniform(1.3, 8.0))
        scatter = _scatter(group, name)
        metrics[name] = metrics[name] + z * scatter
        deviations = [d for d in deviations if d.name != name]
        deviations.insert(0, Deviation(name, metrics[name], metrics[name] - z * scatter, scatter, z))
    deviations.sort(key=lambda d: -abs(d.z))
    score = abs(deviations[0].z)
    earlier = [f for f in recent.frames if f[3] != night_name(night_index)][-3 * HISTORY_PER_GROUP :]
    neighbours = [earlier[i] for i in sorted(generator.choice(len(earlier), min(3, len(earlier)), replace=False))] if earlier else []
    reference_nights = sorted({f[3] for f in earlier}) or [night_name(night_index)]
    first_reference = max(0, night_index - REFERENCE_NIGHTS)
    details = {
        "deviations": [d.as_dict(group.category) for d in deviations],
        "neighbours": [
            {"image_id": i, "path": path, "ext": ext, "distance": float(DISTANCE_SCALE * generator.uniform(0.5, 2.0))}
            for i, path, ext, _ in neighbours
        ],
        "reference": {
            "kind": "history" if night_index else "night",
            "frames": HISTORY_PER_GROUP * max(1, night_index - first_reference),
            "nights": max(1, night_index - first_reference),
            "first_night": night_name(first_reference) if night_index else reference_nights[0],
            "last_night": night_name(night_index - 1) if night_index else reference_nights[-1],
        },
        "threshold": threshold,
        "threshold_basis": "history" if history_threshold > 6.0 else "floor",
        "history_threshold": history_threshold,
        "difference": {"scale_adu": float(generator.uniform(5.0, 8.0)), "frames": len(neighbours)},
    }
    reasons = [word_deviation(d, REFERENCE_WORDS, group.category) for d in deviations if abs(d.z) > threshold]
    return NewScore(
        image_id=image_id,
        score=score,
        threshold=threshold,
        flagged=flagged,
        reference=details["reference"]["kind"],
        reasons=reasons,
        details=details,
        difference=pool.differences[int(generator.integers(POOL))],
    )


def _image(group: Group, night: str, when: datetime, pool: _Pool, night_index: int, generator: np.random.Generator) -> NewImage:
    with_preview = night_index >= HISTORY_NIGHTS - REFERENCE_NIGHTS
    k = int(generator.integers(POOL))
    metrics = _metrics(group, night_index, generator)
    descriptor = (pool.centre + night_index * pool.drift + generator.gamma(1.0, 0.25, DIMENSION)) * generator.uniform(0.8, 1.2)
    ny, nx = group.shape
    header = {
        "INSTRUME": "UVES",
        "DATE-OBS": when.isoformat(timespec="milliseconds"),
        "EXPTIME": 0.0 if group.category == "bias" else 6.0,
        "HIERARCH ESO DPR TYPE": group.header_type,
        "HIERARCH ESO DPR CATG": "CALIB",
        "HIERARCH ESO DET WIN1 BINX": group.binning,
        "HIERARCH ESO DET WIN1 BINY": group.binning,
        **({"HIERARCH ESO INS GRAT1 WLEN": group.wlen} if group.wlen else {}),
    }
    return NewImage(
        ext=group.ext,
        extname="" if group.arm == "BLUE" else ("REDL", "REDU")[group.ext - 1],
        shape=(ny, nx),
        instrument="UVES",
        arm=group.arm,
        category=group.category,
        label=group.header_type,
        mode=group.mode,
        image_type=group.image_type,
        night=night,
        date_obs=when,
        exptime=header["EXPTIME"],
        header=header,
        problems=[],
        thumbnail=pool.thumbnails[k],
        metrics=metrics,
        profiles=pool.profiles[k],
        descriptor=descriptor.astype(np.float32),
        preview=pool.previews[k] + np.float32(metrics["level"] - LEVELS[group.category]) if with_preview else None,
    )


def _files(night_index: int, per_group: int, raw: Path, pools: dict[Group, _Pool], generator: np.random.Generator) -> list[NewFile]:
    """One night's files: each blue image in a file of its own, the two red chips of a setting in one file."""
    night = night_name(night_index)
    start = datetime.combine(FIRST_NIGHT + timedelta(days=night_index + 1), datetime.min.time()) + timedelta(hours=10)
    settings: dict[tuple, list[Group]] = {}
    for group in GROUPS:
        settings.setdefault((group.arm, group.category, group.wlen, group.binning), []).append(group)
    files = []
    seconds = 0.0
    for chips in settings.values():
        for _ in range(per_group):
            seconds += float(generator.uniform(20.0, 30.0))
            when = start + timedelta(seconds=seconds)
            name = f"UVES.{when.isoformat(timespec='milliseconds')}.fits"
            images = [_image(g, night, when, pools[g], night_index, generator) for g in chips]
            size = 2880 * (1 + sum(math.ceil(2 * g.shape[0] * g.shape[1] / 2880) for g in chips))
            files.append(
                NewFile(path=str(raw / night / name), content_hash=f"speed-{name}", size=size, night=night, error=None, images=images)
            )
    return files


def write_raw_files(files: list[NewFile]) -> None:
    """The night's files as FITS: 16-bit pixels (bias level, the group's light, noise), the stored header."""
    generator = np.random.default_rng(1)
    for new in files:
        hdus: list = [fits.PrimaryHDU()]
        for image in new.images:
            ny, nx = image.shape
            pixels = image.metrics["level"] + generator.normal(0.0, 3.7, (ny, nx))
            if image.category != "bias":
                group = next(g for g in GROUPS if g.image_type == image.image_type and g.mode == image.mode)
                pixels += LEVELS[image.category] * _pattern(group, ny, nx)
            data = np.clip(pixels, 0, 65535).astype(np.uint16)
            header = fits.Header()
            for keyword, value in image.header.items():
                header[keyword] = value
            if image.ext == 0:
                hdus[0] = fits.PrimaryHDU(data, header=header)
            else:
                hdus.append(fits.ImageHDU(data, header=header, name=image.extname))
        Path(new.path).parent.mkdir(parents=True, exist_ok=True)
        fits.HDUList(hdus).writeto(new.path, overwrite=True)


def _write_night(store: Store, files: list[NewFile], run_id: int, fingerprint: str, flag_rate: float, state: dict, generator) -> list[int]:
    """Store a night's files and their scores; returns the ids of its flagged images."""
    store.save_files(files, run_id, fingerprint, QC_VERSION)
    night = files[0].night
    ids = {(r.path, r.ext): r.image_id for r in store.image_rows(night=night)}
    night_index = (date.fromisoformat(night) - FIRST_NIGHT).days
    scores, flagged = [], []
    for new in files:
        for image in new.images:
            group = next(g for g in GROUPS if g.image_type == image.image_type and g.mode == image.mode)
            image_id = ids[(new.path, image.ext)]
            is_flagged = bool(generator.random() < flag_rate)
            recent = state["recent"][group]
            scores.append(_score(group, image_id, image.metrics, night_index, is_flagged, recent, state["pools"][group], generator))
            recent.frames = [*recent.frames, (image_id, new.path, image.ext, night)][-4 * HISTORY_PER_GROUP :]
            if is_flagged:
                flagged.append(image_id)
    store.add_scores(scores, run_id, model_version(fingerprint))
    return flagged


def _verdicts(store: Store, image_ids: list[int], share: float, generator: np.random.Generator) -> None:
    """Experts' verdicts on a share of the flagged images: mostly rejections, some accepted on inspection."""
    rows = store.image_rows(image_ids)
    for row in rows:
        if generator.random() < share:
            verdict = "accept" if generator.random() < 0.35 else "reject"
            note = NOTES[int(generator.integers(len(NOTES)))]
            store.add_label(row.path, row.ext, verdict, REVIEWERS[int(generator.integers(len(REVIEWERS)))], note)


def write_speed_home(home: Path, *, seed: int = 0, progress: Callable[[str], None] = print) -> SpeedHome:
    """Write the home (settings file, store, the night's raw files) into an empty folder ``home``.

    The settings: seeded random network weights (nothing is downloaded), no maps computed
    by an ingest, and :data:`MAP_HISTORY_PER_TYPE` history frames per type on the maps
    and dendrograms.
    """
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    (home / "calspot.toml").write_text(
        f'[calspot]\nweights = "random"\nmap_methods = ["none"]\nmap_history_per_type = {MAP_HISTORY_PER_TYPE}\n'
    )
    settings = load_settings(home)
    fingerprint = expected_fingerprint(settings)
    store = Store.open(settings)
    generator = np.random.default_rng(seed)
    raw = home / "raw"
    state = {"pools": {g: _pool(g, generator) for g in GROUPS}, "recent": {g: _Recent() for g in GROUPS}}
    run_id = store.start_run("bench", {})
    history_flagged: list[int] = []
    for index in range(HISTORY_NIGHTS):
        files = _files(index, HISTORY_PER_GROUP, raw, state["pools"], generator)
        history_flagged += _write_night(store, files, run_id, fingerprint, HISTORY_FLAG_RATE, state, generator)
        if (index + 1) % 20 == 0:
            progress(f"  history: {index + 1} of {HISTORY_NIGHTS} nights written")
    files = _files(HISTORY_NIGHTS, NIGHT_PER_GROUP, raw, state["pools"], generator)
    night_flagged = _write_night(store, files, run_id, fingerprint, NIGHT_FLAG_RATE, state, generator)
    write_raw_files(files)
    _verdicts(store, history_flagged, REVIEWED_SHARE, generator)
    _verdicts(store, night_flagged[: len(night_flagged) // 4], 1.0, generator)
    store.finish_run(run_id, "done", {})
    night = night_name(HISTORY_NIGHTS)
    images = HISTORY_NIGHTS * HISTORY_PER_GROUP * len(GROUPS) + NIGHT_PER_GROUP * len(GROUPS)
    progress(f"  {images} images; {len(history_flagged)} flagged in the history, {len(night_flagged)} on {night}")
    (home / MARKER).write_text(json.dumps({"night": night, "night_flagged": night_flagged, "images": images}))
    return SpeedHome(home, settings, night, night_flagged, images)


def speed_home(home: Path, *, progress: Callable[[str], None] = print) -> SpeedHome:
    """The home written earlier into ``home`` (its marker file says so), else a new one written there."""
    marker = home / MARKER
    if marker.is_file():
        written = json.loads(marker.read_text())
        progress(f"  reusing the home written earlier in {home}")
        return SpeedHome(home, load_settings(home), written["night"], written["night_flagged"], written["images"])
    return write_speed_home(home, progress=progress)
