"""A history of many nights written straight through the store's API (no FITS files, no network).

Every image has a small seeded descriptor and quality numbers, so that samples, maps
and per-type summaries can be tried on a store of any size.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np

from core.store import NewFile, NewImage, Store

HISTORY_FINGERPRINT = "history-test"
HISTORY_QC_VERSION = "history-test"
# (instrument, image type, mode, category, header type)
HISTORY_GROUPS = [
    ("UVES", "UVES_BLUE_BIAS_ext0", "1x1", "bias", "BIAS"),
    ("UVES", "UVES_BLUE_FLAT_ext0", "1x1 346nm", "flat", "LAMP,FLAT"),
    ("KAST", "KAST_RED_ARC_ext0", "600/7500", "arc", ""),
]


def night_name(start: str, index: int) -> str:
    """The night ``index`` nights after ``start`` (YYYY-MM-DD)."""
    return (date.fromisoformat(start) + timedelta(days=index)).isoformat()


def fill_history(
    store: Store,
    *,
    nights: int,
    per_night: int,
    start: str = "2020-01-01",
    groups=HISTORY_GROUPS,
    dimensions: int = 8,
    seed: int = 0,
    files_per_call: int = 2000,
    qc_version: str = HISTORY_QC_VERSION,
) -> None:
    """Write ``per_night`` images of every group on each of ``nights`` consecutive nights (quality numbers of ``qc_version``)."""
    rng = np.random.default_rng(seed)
    run_id = store.start_run("history", {})
    batch: list[NewFile] = []
    for n in range(nights):
        night = night_name(start, n)
        for g, (instrument, image_type, mode, category, header_type) in enumerate(groups):
            for k in range(per_night):
                name = f"{instrument}.{night}T{20 + g:02d}:{k // 60:02d}:{k % 60:02d}.fits"
                header = {"INSTRUME": instrument, **({"HIERARCH ESO DPR TYPE": header_type} if header_type else {})}
                image = NewImage(
                    ext=0,
                    extname="",
                    shape=(64, 32),
                    instrument=instrument,
                    arm="BLUE" if g < 2 else "RED",
                    category=category,
                    label=category.upper(),
                    mode=mode,
                    image_type=image_type,
                    night=night,
                    date_obs=datetime.fromisoformat(name.split(".", 1)[1][:19]),
                    exptime=1.0,
                    header=header,
                    problems=[],
                    thumbnail=None,
                    metrics={"level": float(100 * g + rng.normal())},
                    profiles={},
                    descriptor=rng.normal(size=dimensions).astype(np.float32),
                )
                batch.append(
                    NewFile(
                        path=f"/data/{instrument}/{night}/{name}",
                        content_hash=f"{seed}-{night}-{g}-{k}",
                        size=2880,
                        night=night,
                        error=None,
                        images=[image],
                    )
                )
        if len(batch) >= files_per_call or n == nights - 1:
            store.save_files(batch, run_id, HISTORY_FINGERPRINT, qc_version)
            batch = []
    store.finish_run(run_id, "done", {})
