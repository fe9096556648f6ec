"""Time the maps of a night: 300 frames of the night among 20 image types x 200 frames of history.

Descriptors are generated (2048 non-negative numbers per frame, as ResNet-50 pools
them: one centre per image type, scattered), written through the store's API into a
temporary SQLite home, and mapped by :func:`core.maps.night_map` for each method, as the
nightly ingest does. Printed per method, in wall-clock and CPU seconds: the first map in this process (UMAP's first
fit compiles its kernels with numba), a second map of the same size (a new key, so it
is fitted again), the dashboard's read of the stored map, and the night placed on a
historic map of the same history (:func:`core.maps.placed_night_map`). The nearest
neighbour of each frame on the map belonging to its own type says that the map keeps
the types apart.

Run: ``.venv/bin/python bench/map_speed.py [--methods umap tsne pca] [--night 300] [--types 20] [--per-type 200]
[--workers N]`` (``--workers`` is the home's ``workers`` setting: the most threads a map uses, all
the CPUs by default).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.neighbors import NearestNeighbors

from core.config import load_settings
from core.embed import expected_fingerprint
from core.maps import MAP_METHODS, METHOD_NAMES, night_map, placed_night_map
from core.store import NewFile, NewImage, Store

DIM = 2048
HISTORY_NIGHTS = 40


def write_frames(store: Store, fingerprint: str, types: int, per_type: int, night_frames: int, seed: int) -> list[str]:
    """History of ``types`` image types (``per_type`` frames each over 40 nights) and one night; returns the nights."""
    rng = np.random.default_rng(seed)
    centres = rng.gamma(1.0, 1.0, size=(types, DIM)).astype(np.float32)
    first = datetime(2025, 1, 1)
    nights = [(first + timedelta(days=d)).date().isoformat() for d in range(HISTORY_NIGHTS + 1)]
    history = np.repeat(np.arange(types), per_type // HISTORY_NIGHTS)
    frames = [history] * HISTORY_NIGHTS + [rng.integers(0, types, night_frames)]
    run_id = store.start_run("bench", {})
    for night, kinds in zip(nights, frames, strict=True):
        files = []
        for k, kind in enumerate(kinds):
            descriptor = (centres[kind] + rng.gamma(1.0, 0.3, DIM)) * rng.uniform(0.5, 2.0)
            image = NewImage(
                ext=0,
                extname="",
                shape=(64, 64),
                instrument="BENCH",
                arm="",
                category="flat",
                label="FLAT",
                mode="1x1",
                image_type=f"BENCH_TYPE{kind:02d}",
                night=night,
                date_obs=datetime.fromisoformat(night) + timedelta(hours=20, seconds=k),
                exptime=1.0,
                header={},
                problems=[],
                thumbnail=None,
                metrics=None,
                profiles={},
                descriptor=descriptor.astype(np.float32),
            )
            name = f"{night}.{k}"
            files.append(NewFile(path=f"/bench/{name}.fits", content_hash=name, size=1, night=night, error=None, images=[image]))
        store.save_files(files, run_id, fingerprint, "bench")
    store.finish_run(run_id, "done", {})
    return nights


def timed(call):
    """The call's result and its wall-clock and CPU seconds, in words (CPU time is what a busy machine cannot hide)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, f"{time.perf_counter() - wall:.1f} s ({time.process_time() - cpu:.1f} s CPU)"


def kept_apart(frame_map) -> float:
    """Fraction of frames whose nearest neighbour on the map is of their own image type."""
    types = np.array([r.image_type for r in frame_map.rows])
    nearest = NearestNeighbors(n_neighbors=2).fit(frame_map.coordinates).kneighbors()[1][:, 1]
    return float(np.mean(types[nearest] == types))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(MAP_METHODS), choices=MAP_METHODS)
    parser.add_argument("--night", type=int, default=300, help="frames of the night")
    parser.add_argument("--types", type=int, default=20, help="image types in the history")
    parser.add_argument("--per-type", type=int, default=200, help="history frames sampled per type")
    parser.add_argument("--workers", type=int, default=0, help="most threads a map uses (0: one per CPU)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(Path(folder), weights="random", map_history_per_type=args.per_type, seed=args.seed, workers=args.workers)
        store = Store.open(settings)
        fingerprint = expected_fingerprint(settings)
        start = time.perf_counter()
        nights = write_frames(store, fingerprint, args.types, args.per_type, args.night, args.seed)
        print(
            f"wrote {args.types * args.per_type + args.night} frames of {DIM} numbers in "
            f"{time.perf_counter() - start:.1f} s; maps use up to {settings.worker_count} threads",
            flush=True,
        )
        night = nights[-1]
        for method in args.methods:
            frame_map, first = timed(partial(night_map, store, night, settings, method))
            params = dataclasses.replace(frame_map.params, seed=args.seed + 1)
            _, second = timed(partial(night_map, store, night, settings, method, params=params))
            _, read = timed(partial(night_map, store, night, settings, method, compute=False))
            _, placed = timed(partial(placed_night_map, store, night, settings, method, "BENCH"))
            print(
                f"{METHOD_NAMES[method]:5s} {len(frame_map.image_ids)} frames: first map {first}, second {second}, "
                f"stored map read {read}, historic map fitted and night placed {placed}; "
                f"nearest neighbour of the same type {kept_apart(frame_map):.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
