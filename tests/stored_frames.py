"""Frames written straight through the store's API, and a night scored: small seeded quality numbers and descriptors.

No FITS files, no network: what the scoring tests need to set up a type's history in
milliseconds. ``bias`` makes a bias-like frame (level about 200 ADU, noise about 3 ADU),
``store_frames`` stores frames one file each, ``scored`` scores a night and returns its
report rows by file name.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from core import qc
from core.report import night_report
from core.scoring import score_night
from core.store import NewFile, NewImage, Store

FINGERPRINT = "mutants"
FIRST_NIGHT = datetime(2025, 3, 1, 20)
SHAPE = (20, 30)


def night_name(index: int) -> str:
    return (FIRST_NIGHT + timedelta(days=index)).date().isoformat()


def bias(
    rng: np.random.Generator,
    night: int,
    k: int,
    *,
    level: float = 0.0,
    shape: tuple[int, int] = SHAPE,
    category: str = "bias",
    descriptor: bool = True,
) -> NewImage:
    """A bias-like frame of night ``night``: level about 200 ADU (plus ``level``), noise about 3 ADU."""
    centre = 1.0 if category == "bias" else 5.0
    return NewImage(
        ext=0,
        extname="",
        shape=shape,
        instrument="MUTCAM",
        arm="",
        category=category,
        label=category.upper(),
        mode="1x1",
        image_type=f"MUTCAM_{category.upper()}_ext0",
        night=night_name(night),
        date_obs=FIRST_NIGHT + timedelta(days=night, minutes=k),
        exptime=0.0,
        header={"OBJECT": category},
        problems=[],
        thumbnail=None,
        metrics={"level": 200.0 + level + rng.normal(0, 0.5), "amp1.read_noise": 3.0 + rng.normal(0, 0.05)},
        profiles={},
        descriptor=(centre + 0.01 * rng.normal(size=8)).astype(np.float32) if descriptor else None,
        preview=None,
    )


def store_frames(
    store: Store, images: list[NewImage], fingerprint: str = FINGERPRINT, *, folder: str = "raw", qc_version: str = qc.QC_VERSION
) -> None:
    """One file per image under ``/<folder>/<night>/``; files of the same image in two folders have the same content.

    ``qc_version`` says which calspot measured their quality numbers (an older one's, in upgrade tests).
    """
    run_id = store.start_run("test", {})
    files = [
        NewFile(
            f"/{folder}/{image.night}/{image.category}-{image.date_obs:%H%M}.fits",
            f"{image.night}-{image.category}-{image.date_obs:%H%M}",
            2880,
            image.night,
            None,
            [image],
        )
        for image in images
    ]
    store.save_files(files, run_id, fingerprint, qc_version)


def scored(store: Store, settings, night: int, fingerprint: str = FINGERPRINT) -> dict[str, dict]:
    """Score a night; its report rows by file name."""
    score_night(store, night_name(night), settings, fingerprint, store.start_run("score", {}))
    return {row["path"].rsplit("/", 1)[1]: row for row in night_report(store, night_name(night))}
