"""Ingestion speed: calspot against a naive reader and against the bare network, on the same files.

Simulates full-size UVES-like ``.fits.Z`` nights (3 nights, 54 files, 81 image
extensions by default; kept between runs), then measures on those files:

(a) ``calspot ingest`` into a fresh home, end to end, as a subprocess (Python start-up,
    imports, network build, describing, storing and scoring included): images/s, wall
    time, peak memory; then the same command again (every file already known);
(b) a naive baseline written the way the proof of concept reads: astropy opens each
    ``.fits.Z`` with its own reader, each extension is resampled as float64 to the
    network input with ``scipy.ndimage.zoom`` and passed through ResNet-50 one image
    at a time (``model.predict(x[None])``); the network is built before the clock
    starts;
(c) the bare network: calspot's embedder on in-memory batches of the same input size
    and batch size (the compute limit of this machine), and Keras ``model.predict``
    on the same batches for reference.

It prints the three throughputs and the ratios calspot / naive and calspot / bare
network against the targets of the issue. Every network uses seeded random weights
(nothing is downloaded). The machine's load is printed with each measurement: on a
machine that other work shares, the figures are lower than they would be.

Usage::

    .venv/bin/pip install -r bench/requirements.txt    # uncompresspy (astropy 8 reads .Z with it), psutil
    .venv/bin/python bench/ingest_speed.py --workdir bench/out/ingest_speed

Peak memory is the largest sum of the resident set sizes of the ``calspot ingest``
process and its children (worker processes, gzip), sampled every 0.1 s with psutil;
forked workers share pages with their parent, so the sum over-counts. The largest
single process's peak (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) is printed too.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"naive": 10.0, "bare": 0.70, "memory_gb": 2.5, "reingest": 0.05}
NEEDS = "pip install -r bench/requirements.txt (uncompresspy lets astropy 8 read .fits.Z; psutil measures memory)"


@dataclass
class Run:
    """One timed command: wall time, peak memory and what else the machine was doing."""

    wall_s: float
    tree_peak_rss_gb: float
    largest_process_rss_gb: float
    others_cores: float
    output: str


def require_bench_packages() -> None:
    """Stop with the install command when a package of bench/requirements.txt is missing."""
    for name in ("psutil", "uncompresspy"):
        try:
            __import__(name)
        except ImportError:
            raise SystemExit(f"the benchmark needs {name}: {NEEDS}") from None


def simulate(raw: Path, nights: int, biases: int, flats: int, arcs: int) -> list[Path]:
    """Full-size ``.fits.Z`` nights, written once per parameter set."""
    from core.synthetic import simulate_nights

    stamp = raw / "PARAMETERS"
    wanted = f"nights={nights} biases={biases} flats={flats} arcs={arcs} compress=Z\n"
    if not (stamp.is_file() and stamp.read_text() == wanted):
        shutil.rmtree(raw, ignore_errors=True)
        print(f"simulating {nights} full-size nights into {raw} ...", flush=True)
        simulate_nights(raw, nights=nights, test_nights=0, compress="Z", biases=biases, flats=flats, arcs=arcs)
        stamp.write_text(wanted)
    return sorted(raw.rglob("*.fits.Z"))


def busy_cores_seconds() -> float:
    """CPU time the whole machine has spent busy since boot (all processes), in core-seconds."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_command(command: list[str], env: dict[str, str]) -> Run:
    """Run a command, sampling its process tree's resident memory; fail loudly if it fails."""
    import psutil

    busy0, own0, start = busy_cores_seconds(), children_cpu_seconds(), time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    peak = [0]
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak[0] = max(peak[0], sum(_rss(p) for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.1)
    wall = time.perf_counter() - start
    reader.join()
    others = (busy_cores_seconds() - busy0) - (children_cpu_seconds() - own0)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{''.join(output)}")
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return Run(wall, peak[0] / 2**30, largest, max(others, 0.0) / wall, "".join(output))


def _rss(process) -> int:
    import psutil

    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


def naive_baseline(files: list[Path], input_size: int) -> tuple[int, float]:
    """Images and seconds of the proof of concept's way: astropy, float64 zoom, one predict per image."""
    import keras
    from astropy.io import fits
    from scipy import ndimage

    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, include_top=False, pooling="avg", input_shape=(input_size, input_size, 3))
    model.predict(np.zeros((1, input_size, input_size, 3), np.float32), verbose=0)
    images, start = 0, time.perf_counter()
    for path in files:
        with fits.open(path) as hdul:
            for hdu in hdul:
                if hdu.header.get("NAXIS") != 2:
                    continue
                data = np.asarray(hdu.data, dtype=np.float64)
                small = ndimage.zoom(data, (input_size / data.shape[0], input_size / data.shape[1]), order=1)
                x = np.repeat(small[:input_size, :input_size, None], 3, axis=2)
                model.predict(keras.applications.resnet50.preprocess_input(x)[None], verbose=0)
                images += 1
    return images, time.perf_counter() - start


def bare_network(input_size: int, batch_size: int, seconds: float) -> tuple[float, float]:
    """Images/s of calspot's embedder and of Keras ``model.predict`` on in-memory batches."""
    from core.embed.resnet50 import ResNet50Embedder

    embedder = ResNet50Embedder(weights="random", input_size=input_size, seed=0)
    batch = np.random.default_rng(0).uniform(0, 255, (batch_size, input_size, input_size, 3)).astype(np.float32)

    def rate(call) -> float:
        call()
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            call()
            done += batch_size
        return done / (time.perf_counter() - start)

    from keras.applications.resnet50 import preprocess_input

    ready = preprocess_input(batch.copy())
    return (rate(lambda: embedder.embed(batch)), rate(lambda: embedder._model.predict(ready, batch_size=batch_size, verbose=0)))


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "ingest_speed")
    parser.add_argument("--nights", type=int, default=3)
    parser.add_argument("--biases", type=int, default=3, help="biases per arm per night")
    parser.add_argument("--flats", type=int, default=2, help="flats per arm and setting per night")
    parser.add_argument("--arcs", type=int, default=1, help="arcs per arm and setting per night")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, help="calspot's batch size (default: calspot's own)")
    parser.add_argument("--workers", type=int, help="calspot's worker processes (default: calspot's own)")
    parser.add_argument("--naive-files", type=int, help="run the naive baseline on the first N files only")
    parser.add_argument("--bare-seconds", type=float, default=15.0)
    args = parser.parse_args()
    require_bench_packages()

    from core.config import Settings

    batch_size = args.batch_size or Settings().batch_size
    cpus = len(os.sched_getaffinity(0))
    print(
        f"machine: {os.cpu_count()} CPUs ({cpus} usable by this process), "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB memory"
    )
    files = simulate(args.workdir / "raw", args.nights, args.biases, args.flats, args.arcs)
    size_mb = sum(f.stat().st_size for f in files) / 2**20
    print(f"data: {len(files)} .fits.Z files in {args.nights} nights, {size_mb:.0f} MB compressed")

    home = args.workdir / "home"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "CALSPOT_INPUT_SIZE": str(args.input_size), "CALSPOT_WEIGHTS": "random"}
    command = [sys.executable, "-m", "core", "-v", "--home", str(home), "ingest", str(args.workdir / "raw")]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    if args.workers:
        command += ["--workers", str(args.workers)]

    print(f"\n(a) calspot ingest into a fresh home ({load()}) ...", flush=True)
    first = timed_command(command, env)
    images = int(re.search(r"(\d+) images described", first.output).group(1))
    calspot_rate = images / first.wall_s
    print(f"    {images} images in {first.wall_s:.1f} s wall: {calspot_rate:.2f} images/s end to end")
    for line in first.output.splitlines():
        if "pipeline:" in line:
            print(f"    {line.split('pipeline: ', 1)[1]}")
    print(
        f"    peak memory: {first.tree_peak_rss_gb:.2f} GB (sum of RSS over the process tree), "
        f"largest single process {first.largest_process_rss_gb:.2f} GB"
    )
    print(f"    other processes on the machine meanwhile: {first.others_cores:.2f} cores on average")

    print(f"\n    re-ingest of the same files into the same home ({load()}) ...", flush=True)
    again = timed_command(command, env)
    print(f"    {again.output.strip().splitlines()[-1]}")
    print(f"    {again.wall_s:.2f} s wall = {100 * again.wall_s / first.wall_s:.1f} % of the first ingest")

    naive_files = files[: args.naive_files] if args.naive_files else files
    print(f"\n(b) naive baseline on {len(naive_files)} of the files ({load()}) ...", flush=True)
    naive_images, naive_s = naive_baseline(naive_files, args.input_size)
    naive_rate = naive_images / naive_s
    print(f"    {naive_images} images in {naive_s:.1f} s: {naive_rate:.2f} images/s")

    print(f"\n(c) bare network, batches of {batch_size} at {args.input_size} px ({load()}) ...", flush=True)
    bare_rate, predict_rate = bare_network(args.input_size, batch_size, args.bare_seconds)
    print(f"    calspot's embedder: {bare_rate:.2f} images/s; Keras model.predict: {predict_rate:.2f} images/s")

    memory_ok = first.tree_peak_rss_gb < TARGETS["memory_gb"]
    print(f"\nthroughput (images/s): calspot {calspot_rate:.2f} | naive {naive_rate:.2f} | bare network {bare_rate:.2f}")
    print(
        f"calspot / naive        = {calspot_rate / naive_rate:6.1f} x   (target >= {TARGETS['naive']:.0f} x: "
        f"{verdict(calspot_rate / naive_rate >= TARGETS['naive'])})"
    )
    print(
        f"calspot / bare network = {calspot_rate / bare_rate:6.1%}     (target >= {TARGETS['bare']:.0%}: "
        f"{verdict(calspot_rate / bare_rate >= TARGETS['bare'])}; against model.predict {calspot_rate / predict_rate:.1%})"
    )
    print(
        f"peak memory            = {first.tree_peak_rss_gb:6.2f} GB   (target < {TARGETS['memory_gb']} GB for a "
        f"night of 300 images: {verdict(memory_ok)} here with {images} images)"
    )
    print(
        f"re-ingest / ingest     = {again.wall_s / first.wall_s:6.1%}     (target < {TARGETS['reingest']:.0%}: "
        f"{verdict(again.wall_s / first.wall_s < TARGETS['reingest'])})"
    )


if __name__ == "__main__":
    main()
