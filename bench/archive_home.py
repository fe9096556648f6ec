"""Years of UVES archive written straight through the store's API, for timing a store of a million images.

The frames are modelled on a real ingest: two nights of the UVES simulator
(:mod:`core.synthetic`, full-size frames) are ingested once with calspot's own pipeline
(seeded random network weights), and every generated image takes after the real
images of its type and mode there: the same header keywords, quality numbers drawn
around the real ones with their real scatter (bias levels following the seasons,
lamps ageing and replaced about once a year), a descriptor of 2048 numbers around the
real descriptors of its group (drifting slowly over the years, scattered per frame as
the real ones are), real row and column profiles, thumbnail and preview. Each night
holds the simulator's image types and modes (blue and the two red chips; bias, flat and
arc; two grating settings per arm) in the simulator's proportions, 300 images a night
by default: ten years of a busy instrument is then a million images.

Every history image is scored as the detector scores (explanations with the real
structure: deviations worded by :func:`core.explain.word_deviation`, z-scores of every
number, nearest reference frames, reference, threshold); about 1 in 70 is flagged, and
experts gave verdicts on most flags. The thumbnails, previews, profiles and difference
images (about 67 of the 84 kB a real ingest stores per image: most of a store's bytes) are
written for the latest ``full_nights`` nights, those that scoring, the Night page and
the maps read; older images carry everything else, so that a million images fit on one
disk twice (SQLite and PostgreSQL). :func:`size_with_pictures` says how large the store
would be with them.

The last night (``per_night`` images, some with defects) is stored and scored once by
calspot's own scoring, and a quarter of its flags get a verdict: the night the
benchmark reports, shows and scores again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
from speed_home import NOTES, REFERENCE_NIGHTS, REVIEWERS

from core.config import Settings, load_settings
from core.detect import DESCRIPTOR_FEATURE, Deviation
from core.embed import expected_fingerprint
from core.explain import word_deviation
from core.qc import QC_VERSION
from core.scoring import model_version
from core.store import NewFile, NewImage, NewScore, Store

GENERATOR_VERSION = 1  # part of every filled store's key: a change here fills anew
FIRST_NIGHT = date(2015, 1, 1)
PER_NIGHT = 300
FULL_NIGHTS = 60
NIGHTS_PER_WRITE = 10
HISTORY_FLAG_RATE = 0.015
NIGHT_DEFECT_RATE = 0.08
REVIEWED_SHARE = 0.6
NIGHT_REVIEWED_SHARE = 0.25
LAMP_LIFE_NIGHTS = 400
LAMP_AGEING = 0.9995  # lamp flux kept per night
SEASONAL_BIAS_ADU = 0.6
EXTNAMES = {0: "PRIMARY", 1: "REDU", 2: "REDL"}
LABELS = {"bias": "BIAS", "flat": "FLAT", "arc": "WAVE"}
# What goes wrong, per category: the number a defect moves, and which way
FAULTS = {
    "bias": (("amp2.level", 1.0), ("column_structure", 1.0), ("periodic_noise", 1.0), ("amp1.read_noise", 1.0)),
    "flat": (("flux", -1.0), ("p99", 1.0), ("gradient_x", 1.0), ("row_structure", 1.0)),
    "arc": (("line_count", -1.0), ("line_flux", -1.0), ("p99", 1.0), ("periodic_noise", 1.0)),
}
MARKER = "archive.json"  # written last: the store is complete
TEMPLATE_MARKER = "template.json"


@dataclass
class Group:
    """One image type and mode, as the real ingest stored it: identity and the real frames' numbers and pictures."""

    image_type: str
    mode: str
    instrument: str
    arm: str
    category: str
    ext: int
    shape: tuple[int, int]
    exptime: float
    headers: list[dict]
    names: list[str]
    mean: np.ndarray
    scatter: np.ndarray
    centre: np.ndarray
    spread: np.ndarray
    drift: np.ndarray
    profiles: list[dict[str, np.ndarray]]
    thumbnails: list[bytes]
    previews: list[np.ndarray]
    differences: list[bytes]
    threshold: float


@dataclass
class Archive:
    """A filled store: where, its settings, the night the benchmark uses, and how it was filled."""

    home: Path
    settings: Settings
    night: str
    images: int
    fill_seconds: float
    pictured_images: int
    picture_bytes: float


def night_name(index: int) -> str:
    return (FIRST_NIGHT + timedelta(days=index)).isoformat()


def template_home(workdir: Path, progress: Callable[[str], None] = print) -> Settings:
    """The real ingest the archive takes after: two simulated UVES nights ingested by calspot (once, kept in ``workdir``)."""
    from core.pipeline import ingest
    from core.synthetic import simulate_nights

    home = workdir / "template"
    if not (home / TEMPLATE_MARKER).is_file():
        progress("  simulating and ingesting two UVES nights to model the archive on (once)")
        home.mkdir(parents=True, exist_ok=True)
        (home / "calspot.toml").write_text('[calspot]\nweights = "random"\nmap_methods = ["none"]\n')
        raw = home / "raw"
        simulate_nights(raw, nights=2, test_nights=0, seed=3)
        result = ingest([raw], load_settings(home))
        (home / TEMPLATE_MARKER).write_text(json.dumps({"images": result.images}))
    return load_settings(home)


def read_groups(settings: Settings, seed: int) -> list[Group]:
    """Each image type and mode of the real ingest's store, with its real frames' numbers, descriptors and pictures."""
    template = Store.open(settings)
    frames = template.images(expected_fingerprint(settings), QC_VERSION)
    rows = {row.image_id: row for row in template.image_rows()}
    differences: dict[tuple[str, str], list[bytes]] = {}
    for night in template.nights():
        for row in template.night_rows(night):
            if row["difference"]:
                differences.setdefault((row["image_type"], row["mode"]), []).append(row["difference"])
    ids = [f.image_id for f in frames]
    headers, thumbnails, previews = template.headers(ids), template.thumbnails(ids), template.previews(ids, QC_VERSION)
    generator = np.random.default_rng(seed)
    by_group: dict[tuple[str, str], list] = {}
    for frame in frames:
        by_group.setdefault((frame.image_type, frame.mode), []).append(frame)
    groups = []
    for (image_type, mode), members in sorted(by_group.items()):
        names = sorted(set.intersection(*(set(f.metrics) for f in members)))
        values = np.array([[f.metrics[n] for n in names] for f in members], dtype=np.float64)
        mean = values.mean(axis=0)
        scatter = np.fmax(values.std(axis=0, ddof=1), np.fmax(1e-3 * np.abs(mean), 1e-6))
        vectors = np.stack([f.descriptor for f in members]).astype(np.float64)
        spread = np.fmax(vectors.std(axis=0, ddof=1), 1e-3 * (vectors.mean() + 1e-9))
        first = members[0]
        groups.append(
            Group(
                image_type=image_type,
                mode=mode,
                instrument=first.instrument,
                arm=rows[first.image_id].arm,
                category=first.category,
                ext=first.ext,
                shape=first.shape,
                exptime=float(headers[first.image_id].get("EXPTIME") or 0.0),
                headers=[headers[f.image_id] for f in members],
                names=names,
                mean=mean,
                scatter=scatter,
                centre=vectors.mean(axis=0),
                spread=spread,
                drift=generator.normal(0.0, 0.5, vectors.shape[1]) * spread,
                profiles=[f.profiles for f in members],
                thumbnails=[thumbnails[f.image_id] for f in members if f.image_id in thumbnails],
                previews=[previews[f.image_id] for f in members if f.image_id in previews],
                differences=differences.get((image_type, mode), []),
                threshold=max(6.0, 3.5 + 4.0 * float(generator.random())),
            )
        )
    return groups


def night_plan(groups: Sequence[Group], per_night: int) -> list[list[Group]]:
    """The files of a night, each the groups of its images: per arm the biases, then each setting's flats and arcs.

    In the simulator's proportions (5 biases, 3 flats and 2 arcs per setting), scaled to
    ``per_night`` images; a red file holds both chips.
    """
    unit = per_night / 3
    counts = {"bias": round(0.3 * unit), "flat": round(0.2 * unit), "arc": round(0.15 * unit)}
    files: dict[tuple[str, str, str], list[Group]] = {}
    for group in groups:
        setting = "" if group.category == "bias" else group.mode
        files.setdefault((group.arm, group.category, setting), []).append(group)
    order = sorted(files, key=lambda k: (k[0], k[1] != "bias", k[2], k[1]))
    return [sorted(files[key], key=lambda g: g.ext) for key in order for _ in range(counts[key[1]])]


@dataclass
class _Recent:
    """The latest frames of each group, for the nearest reference frames of the next ones' scores."""

    frames: dict[tuple[str, str], list[tuple[int, str, int, str]]] = field(default_factory=dict)


class ArchiveWriter:
    """Generates the archive's nights and writes them through the store's API."""

    def __init__(
        self, store: Store, groups: Sequence[Group], fingerprint: str, per_night: int, full_from: int, seed: int, run_id: int
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.groups = list(groups)
        self.fingerprint = fingerprint
        self.plan = night_plan(groups, per_night)
        self.full_from = full_from
        self.generator = np.random.default_rng(seed)
        self.recent = _Recent()
        self.model_version = model_version(fingerprint)
        self.pictured = 0
        self.faults: dict[tuple[str, int], tuple[str, float]] = {}  # (path, ext) of a flagged history image -> the number moved, its z

    def files(self, index: int, limit: int | None = None, defects: float = 0.0) -> list[NewFile]:
        """The files of night ``index`` (at most ``limit`` images).

        A history image is flagged with probability :data:`HISTORY_FLAG_RATE`: one of its
        numbers is moved beyond its group's threshold (and its score says so); on the new
        night a share ``defects`` of the images has a number moved far off, for calspot's
        scoring to find.
        """
        night = night_name(index)
        full = index >= self.full_from
        morning = datetime.combine(FIRST_NIGHT + timedelta(days=index + 1), datetime.min.time()) + timedelta(hours=10)
        step = 7200.0 / len(self.plan)
        files, images = [], 0
        for k, chips in enumerate(self.plan):
            if limit is not None and images + len(chips) > limit:
                break
            when = morning + timedelta(seconds=k * step + float(self.generator.uniform(0.0, 0.8 * step)))
            path = f"/archive/uves/{night}/UVES.{when.isoformat(timespec='milliseconds')}.fits.Z"
            new = [self._image(g, night, index, when, full) for g in chips]
            for group, image in zip(chips, new, strict=True):
                if defects:
                    if self.generator.random() < defects:
                        self._move(group, image, float(self.generator.uniform(10.0, 60.0)))
                elif self.generator.random() < HISTORY_FLAG_RATE:
                    self.faults[(path, image.ext)] = self._move(group, image, group.threshold * float(self.generator.uniform(1.3, 8.0)))
            images += len(new)
            content_hash = hashlib.sha256(path.encode()).hexdigest()
            files.append(
                NewFile(
                    path=path,
                    content_hash=content_hash,
                    size=sum(2 * g.shape[0] * g.shape[1] for g in chips),
                    night=night,
                    error=None,
                    images=new,
                )
            )
        self.pictured += images if full else 0
        return files

    def _move(self, group: Group, image: NewImage, sigmas: float) -> tuple[str, float]:
        """Move one of the numbers a defect of the group's category moves by ``sigmas`` of its scatter; the number and its z."""
        faults = [(n, sign) for n, sign in FAULTS[group.category] if n in image.metrics]
        name, sign = faults[int(self.generator.integers(len(faults)))]
        image.metrics[name] += sign * sigmas * float(group.scatter[group.names.index(name)])
        return name, sign * sigmas

    def _image(self, group: Group, night: str, index: int, when: datetime, full: bool) -> NewImage:
        generator = self.generator
        values = group.mean + group.scatter * generator.standard_normal(len(group.names))
        metrics = dict(zip(group.names, values.tolist(), strict=True))
        _drift(metrics, group, index)
        years = index / 365.25
        descriptor = group.centre + years * group.drift + group.spread * generator.standard_normal(len(group.centre))
        k = int(generator.integers(len(group.headers)))
        header = dict(group.headers[k])
        header["DATE-OBS"] = when.isoformat(timespec="milliseconds")
        if "MJD-OBS" in header:
            header["MJD-OBS"] = round((when - datetime(1858, 11, 17)).total_seconds() / 86400.0, 8)
        return NewImage(
            ext=group.ext,
            extname=EXTNAMES.get(group.ext, ""),
            shape=group.shape,
            instrument=group.instrument,
            arm=group.arm,
            category=group.category,
            label=LABELS.get(group.category, group.category.upper()),
            mode=group.mode,
            image_type=group.image_type,
            night=night,
            date_obs=when,
            exptime=group.exptime,
            header=header,
            problems=[],
            thumbnail=group.thumbnails[k % len(group.thumbnails)] if full and group.thumbnails else None,
            metrics=metrics,
            profiles=group.profiles[k] if full else {},
            descriptor=np.maximum(descriptor, 0.0).astype(np.float32),
            preview=group.previews[k % len(group.previews)] if full and group.previews else None,
        )

    def write_history(self, indexes: Sequence[int], limit: int) -> tuple[int, list[int]]:
        """Store nights and the scores of their images; the number of images and the ids of the flagged ones."""
        batch: list[NewFile] = []
        for index in indexes:
            batch += self.files(index, limit=limit - sum(len(f.images) for f in batch))
        if not batch:
            return 0, []
        self.store.save_files(batch, self.run_id, self.fingerprint, QC_VERSION)
        nights = sorted({f.night for f in batch})
        rows = self.store.image_rows(nights=nights)
        ids = {(r.path, r.ext): r.image_id for r in rows}
        groups = {(g.image_type, g.mode): g for g in self.groups}
        scores, flagged = [], []
        for new in batch:
            for image in new.images:
                image_id = ids[(new.path, image.ext)]
                group = groups[(image.image_type, image.mode)]
                fault = self.faults.pop((new.path, image.ext), None)
                scores.append(self._score(group, image_id, image, fault, image.thumbnail is not None))
                recent = self.recent.frames.setdefault((group.image_type, group.mode), [])
                recent.append((image_id, new.path, image.ext, image.night))
                del recent[:-40]
                if fault:
                    flagged.append(image_id)
        self.store.add_scores(scores, self.run_id, self.model_version)
        return len(scores), flagged

    def _score(self, group: Group, image_id: int, image: NewImage, fault: tuple[str, float] | None, pictured: bool) -> NewScore:
        """The score the detector would write: z-scores, deviations from the reference, neighbours, threshold."""
        generator = self.generator
        z = {name: float(generator.standard_normal() * 0.9) for name in group.names if not name.startswith("profile_bin")}
        z[DESCRIPTOR_FEATURE] = float(abs(generator.standard_normal()) * 1.2)
        if fault:
            z[fault[0]] = fault[1]
        scatter = dict(zip(group.names, group.scatter.tolist(), strict=True))
        deviations = sorted(
            (
                Deviation(n, image.metrics.get(n, 0.0), image.metrics.get(n, 0.0) - v * scatter.get(n, 1.0), scatter.get(n, 1.0), v)
                for n, v in z.items()
            ),
            key=lambda d: -abs(d.z),
        )[:8]
        score = abs(deviations[0].z)
        earlier = [f for f in self.recent.frames.get((group.image_type, group.mode), []) if f[3] < image.night][-3 * REFERENCE_NIGHTS :]
        chosen = sorted(generator.choice(len(earlier), min(3, len(earlier)), replace=False)) if earlier else []
        nights = sorted({f[3] for f in earlier})
        phrase = f"the last {min(REFERENCE_NIGHTS, max(1, len(nights)))} nights"
        details = {
            "deviations": [d.as_dict(group.category) for d in deviations],
            "neighbours": [
                {"image_id": earlier[i][0], "path": earlier[i][1], "ext": earlier[i][2], "distance": float(generator.uniform(2e-8, 2e-7))}
                for i in chosen
            ],
            "reference": {
                "kind": "history" if nights else "night",
                "frames": 20 * min(REFERENCE_NIGHTS, max(1, len(nights))),
                "nights": min(REFERENCE_NIGHTS, len(nights)),
                "first_night": nights[0] if nights else image.night,
                "last_night": nights[-1] if nights else image.night,
                "certified_since": None,
            },
            "threshold": group.threshold,
            "threshold_basis": "history" if group.threshold > 6.0 else "floor",
            "history_threshold": group.threshold,
            "unsupervised_threshold": group.threshold,
            "z": z,
        }
        if pictured and chosen:
            details["difference"] = {"scale_adu": float(generator.uniform(0.5, 8.0)), "frames": len(chosen)}
        reasons = [word_deviation(d, phrase, group.category) for d in deviations if abs(d.z) > group.threshold][:3]
        difference = group.differences[int(generator.integers(len(group.differences)))] if pictured and group.differences else None
        return NewScore(image_id, score, group.threshold, fault is not None, details["reference"]["kind"], reasons, details, difference)

    def verdicts(self, image_ids: Sequence[int], share: float) -> int:
        """Experts' verdicts on a share of flagged images, in one transaction: mostly rejections, some accepted."""
        chosen = [i for i in image_ids if self.generator.random() < share]
        if not chosen:
            return 0
        rows = self.store.image_rows(chosen)
        verdicts = [
            (
                row.path,
                row.ext,
                "accept" if self.generator.random() < 0.35 else "reject",
                REVIEWERS[int(self.generator.integers(len(REVIEWERS)))],
                NOTES[int(self.generator.integers(len(NOTES)))],
            )
            for row in rows
        ]
        self.store.add_labels(verdicts)
        return len(verdicts)


def _drift(metrics: dict[str, float], group: Group, index: int) -> None:
    """Slow changes: the bias level follows the seasons, lamps age and are replaced every ``LAMP_LIFE_NIGHTS`` nights."""
    season = SEASONAL_BIAS_ADU * np.sin(2 * np.pi * index / 365.25)
    lamp = LAMP_AGEING ** (index % LAMP_LIFE_NIGHTS)
    for name in metrics:
        if group.category == "bias" and (name.endswith("level") or name in ("level", "p01", "p05", "p50", "p95", "p99")):
            metrics[name] += season
        elif group.category != "bias" and "flux" in name:
            metrics[name] *= lamp


def archive_key(images: int, per_night: int, full_nights: int, seed: int) -> str:
    """The name of a filled store: everything its rows depend on."""
    return f"images{images}-night{per_night}-full{full_nights}-seed{seed}-v{GENERATOR_VERSION}"


def fill_archive(
    home: Path,
    database_url: str,
    groups: Sequence[Group],
    images: int,
    *,
    per_night: int = PER_NIGHT,
    full_nights: int = FULL_NIGHTS,
    seed: int = 0,
    progress: Callable[[str], None] = print,
) -> Archive:
    """Write ``images`` history images over consecutive nights, then the new night, into an empty home's store.

    The new night is scored once by calspot's own scoring (:func:`core.pipeline.rescore`)
    and a quarter of its flags get a verdict.
    """
    from core.pipeline import rescore

    home.mkdir(parents=True, exist_ok=True)
    url_line = f'database_url = "{database_url}"\n' if database_url else ""
    (home / "calspot.toml").write_text(f'[calspot]\nweights = "random"\nmap_methods = ["none"]\n{url_line}')
    settings = load_settings(home)
    fingerprint = expected_fingerprint(settings)
    store = Store.open(settings)
    nights = -(-images // per_night)
    run_id = store.start_run("archive-scale", {"images": images, "per_night": per_night, "seed": seed})
    writer = ArchiveWriter(store, groups, fingerprint, per_night, max(0, nights - full_nights), seed, run_id)
    start = time.perf_counter()
    written = verdicts = 0
    for first in range(0, nights, NIGHTS_PER_WRITE):
        count, flagged = writer.write_history(range(first, min(nights, first + NIGHTS_PER_WRITE)), images - written)
        written += count
        verdicts += writer.verdicts(flagged, REVIEWED_SHARE)
        if (first // NIGHTS_PER_WRITE) % 20 == 19 or first + NIGHTS_PER_WRITE >= nights:
            elapsed = time.perf_counter() - start
            progress(f"  {written} of {images} images written in {elapsed:.0f} s ({written / elapsed:.0f} images/s), {verdicts} verdicts")
    night = night_name(nights)
    tonight = writer.files(nights, defects=NIGHT_DEFECT_RATE)
    store.save_files(tonight, writer.run_id, fingerprint, QC_VERSION)
    store.finish_run(writer.run_id, "done", {"images": written})
    rescore(settings, [night], store=store)
    flagged = [row.image_id for row in store.image_rows(night=night) if row.flagged]
    writer.verdicts(flagged, NIGHT_REVIEWED_SHARE)
    seconds = time.perf_counter() - start
    picture_bytes = _picture_bytes(groups)
    total = written + sum(len(f.images) for f in tonight)
    archive = Archive(home, settings, night, total, seconds, writer.pictured, picture_bytes)
    (home / MARKER).write_text(
        json.dumps(
            {"night": night, "images": total, "fill_seconds": seconds, "pictured_images": writer.pictured, "picture_bytes": picture_bytes}
        )
    )
    progress(f"  filled {total} images ({written} of history, the night {night}) in {seconds:.0f} s ({total / seconds:.0f} images/s)")
    return archive


def _picture_bytes(groups: Sequence[Group]) -> float:
    """Mean bytes of the pictures and profiles of one image as the real ingest stores them (thumbnail, preview, profiles, difference)."""
    from core.store import pack_preview, pack_profiles

    sizes = []
    for group in groups:
        for k, profiles in enumerate(group.profiles):
            thumbnail = len(group.thumbnails[k % len(group.thumbnails)]) if group.thumbnails else 0
            preview = len(pack_preview(group.previews[k % len(group.previews)]) or b"") if group.previews else 0
            difference = len(group.differences[k % len(group.differences)]) if group.differences else 0
            sizes.append(thumbnail + preview + len(pack_profiles(profiles) or b"") + difference)
    return float(np.mean(sizes)) if sizes else 0.0


def filled_archive(home: Path) -> Archive | None:
    """The store filled earlier in ``home`` (its marker says so), or None."""
    marker = home / MARKER
    if not marker.is_file():
        return None
    written = json.loads(marker.read_text())
    return Archive(
        home,
        load_settings(home),
        written["night"],
        written["images"],
        written["fill_seconds"],
        written["pictured_images"],
        written["picture_bytes"],
    )


def size_with_pictures(archive: Archive, size_bytes: int) -> float:
    """Bytes per image the store would take if every image had its pictures and profiles, as a real ingest stores them."""
    missing = archive.images - archive.pictured_images
    return (size_bytes + missing * archive.picture_bytes) / archive.images
