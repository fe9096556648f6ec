"""Ingestion speed: calspot against a naive reader, the bare network and this machine's limit, on the same files.

Simulates full-size UVES-like ``.fits.Z`` nights (5 nights of 45 image extensions in
30 files, 225 images in 150 files by default: enough that Python's start-up,
TensorFlow's import and the maps of the newest night do not dominate; kept between
runs), then measures on those files:

(a) ``calspot -v ingest`` into a fresh home, end to end, as a subprocess (Python start-up,
    imports, network build, describing, storing, scoring and maps included): images/s,
    wall time, peak memory and the CPU time of its whole process tree; its wall and CPU
    time per phase, cut at the lines it writes (the first progress line of describing,
    then the pipeline's "described", "scored" and "computed ... maps" log lines); then
    the same command again (every file already known);
(b) a naive baseline written the way the proof of concept reads: astropy opens each
    ``.fits.Z`` with its own reader, each extension is resampled as float64 to the
    network input with ``scipy.ndimage.zoom`` and passed through ResNet-50 one image
    at a time (``model.predict(x[None])``); the network is built before the clock
    starts; by default on the first night's files only (``--naive-files``);
(c) the bare network: calspot's embedder on in-memory batches of the same input size
    and batch size, and Keras ``model.predict`` on the same batches for reference;
(d) decompression: calspot's own ``decompress_lzw_file`` (``gzip -dc`` into a memory
    file) on every file, as many at a time as this process has cores: the gzip
    children's CPU time (``getrusage(RUSAGE_CHILDREN)``) and the wall time;
(e) the bare network on the same inputs: calspot's embedder on as many images as the
    ingest described, in batches of calspot's batch size with the last one partial as
    the ingest's, the inputs being the real network inputs of four files spread over
    the data (``core.describe.describe_file``), repeated: process CPU time (all
    threads) and wall time.

It prints the throughputs and the ratios against the targets of the issues:
calspot / naive, calspot / bare network, peak memory and re-ingest time as before, and

- the limit of this machine for the necessary work: images / (wall time of (d) on all
  cores + wall time of (e)), and the ingest's end-to-end throughput as a share of it;
- "other work": the ingest's CPU minus the decompression CPU of (d) minus the images
  times the network CPU per image of (e), per image, for the whole command and for the
  steady describing phase (from the first progress line after the network embedded two
  batches to the last progress line before the end; its images are counted where the
  main process takes them from the workers, who run up to a few files ahead, an offset
  that roughly cancels between two points of the steady phase). There, the CPU of the
  main process (batching, the network, store writes) and that of the workers (reading,
  decompression, quality numbers, downsampling) are split.

The ingest's CPU is ``getrusage(RUSAGE_CHILDREN)`` of this process around the command:
Linux adds the CPU of a reaped process, with that of the children it reaped, to its
parent's, so the worker processes (joined by the pool) and their gzip children (waited
for by ``subprocess.run``) are included. As a check, and for the phases, the live
process tree is sampled with psutil (each process's own CPU plus that of the children
it reaped); the sum 0.1 s before the end is printed beside the getrusage figure.

Every network uses seeded random weights (nothing is downloaded). The machine's load is
printed with each measurement: on a machine that other work shares, the wall times and
throughputs are lower than they would be; CPU times suffer much less.

Usage::

    .venv/bin/pip install -r bench/requirements.txt    # uncompresspy (astropy 8 reads .Z with it), psutil
    .venv/bin/python bench/ingest_speed.py --workdir bench/out/ingest_speed

On 2 cores that other jobs share, a run takes about 15 minutes, and 2 to 3 more the
first time to simulate the data.

Peak memory is the largest sum of the resident set sizes of the ``calspot ingest``
process and its children (worker processes, gzip), sampled every 0.1 s with psutil;
forked workers share pages with their parent, so the sum over-counts. The largest
single process's peak (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) is printed too.
"""

from __future__ import annotations

import argparse
import math
import mmap
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    import psutil

    from core.config import Settings
    from core.embed.resnet50 import ResNet50Embedder

TARGETS = {"naive": 10.0, "bare": 0.70, "memory_gb": 2.5, "reingest": 0.05, "other_ms": 60.0, "limit": 0.70}
NEEDS = "pip install -r bench/requirements.txt (uncompresspy lets astropy 8 read .fits.Z; psutil measures memory and CPU)"
# Lines of `calspot -v ingest` at which the process tree's CPU is sampled, and the phases they end.
DESCRIBE_PROGRESS = re.compile(r"^describe: ([\d,]+) of [\d,]+ images")
PHASES = (
    ("start-up, to the first described image", DESCRIBE_PROGRESS),
    ("describing, embedding, storing", re.compile(r"pipeline: described \d+ images")),
    ("scoring", re.compile(r"pipeline: scored \d+ nights")),
    ("maps of the newest night", re.compile(r"pipeline: computed \d+ of \d+ maps")),
)
SAMPLED = re.compile("|".join(pattern.pattern for _, pattern in PHASES))
# Files whose network inputs stand for all images in (e).
INPUT_FILES = 4


@dataclass
class Sample:
    """The ingest's process tree at one moment.

    Attributes
    ----------
    at_s
        Seconds since the command started.
    tree_cpu_s, main_cpu_s
        CPU seconds spent so far by the whole tree, and by the ``calspot`` process
        alone (its threads: the network, batching, store writes).
    """

    at_s: float
    tree_cpu_s: float
    main_cpu_s: float


@dataclass
class Run:
    """One timed command: wall and CPU time, peak memory, what else the machine was doing, and samples at its marked lines."""

    wall_s: float
    cpu_s: float
    tree_peak_rss_gb: float
    largest_process_rss_gb: float
    others_cores: float
    output: str
    marks: list[tuple[str, Sample]]
    last: Sample | None


@dataclass
class Work:
    """CPU and wall time of some work on a number of images."""

    images: int
    cpu_s: float
    wall_s: float

    @property
    def cpu_ms_per_image(self) -> float:
        return 1000 * self.cpu_s / self.images

    @property
    def rate(self) -> float:
        return self.images / self.wall_s


@dataclass
class Window:
    """The steady describing phase of an ingest: between two progress lines, the network built and in its stride.

    Attributes
    ----------
    first, last
        Images the main process had taken from the workers at the two lines.
    embedded
        Images the network embedded in between.
    wall_s, tree_cpu_s, main_cpu_s
        Wall time, and the CPU of the whole tree and of the main process, in between.
    """

    first: int
    last: int
    embedded: int
    wall_s: float
    tree_cpu_s: float
    main_cpu_s: float

    @property
    def images(self) -> int:
        return self.last - self.first


def require_bench_packages() -> None:
    """Stop with the install command when a package of bench/requirements.txt is missing."""
    for name in ("psutil", "uncompresspy"):
        try:
            __import__(name)
        except ImportError:
            raise SystemExit(f"the benchmark needs {name}: {NEEDS}") from None


def simulate(raw: Path, nights: int, biases: int, flats: int, arcs: int) -> list[Path]:
    """Full-size ``.fits.Z`` nights, written once per parameter set (the time it takes is printed)."""
    from core.synthetic import simulate_nights

    stamp = raw / "PARAMETERS"
    wanted = f"nights={nights} biases={biases} flats={flats} arcs={arcs} compress=Z\n"
    if not (stamp.is_file() and stamp.read_text() == wanted):
        shutil.rmtree(raw, ignore_errors=True)
        print(f"simulating {nights} full-size nights into {raw} ...", flush=True)
        start = time.perf_counter()
        simulate_nights(raw, nights=nights, test_nights=0, compress="Z", biases=biases, flats=flats, arcs=arcs)
        stamp.write_text(wanted)
        print(f"simulated in {time.perf_counter() - start:.0f} s", flush=True)
    return sorted(raw.rglob("*.fits.Z"))


def busy_cores_seconds() -> float:
    """CPU time the whole machine has spent busy since boot (all processes), in core-seconds."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU seconds of this process's children that have ended and been waited for, with their own such children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_command(command: list[str], env: dict[str, str]) -> Run:
    """Run a command, sampling its process tree's memory and CPU; fail loudly if it fails.

    The tree is sampled every 0.1 s (memory, and the last CPU figures before the end)
    and at each output line that :data:`SAMPLED` matches (the phases of an ingest).
    """
    import psutil

    busy0, own0, start = busy_cores_seconds(), children_cpu_seconds(), time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    root = psutil.Process(process.pid)
    output: list[str] = []
    marks: list[tuple[str, Sample]] = []

    def read() -> None:
        for line in process.stdout:
            output.append(line)
            if SAMPLED.search(line):
                state = _tree_state(root, start)
                if state is not None:
                    marks.append((line, state[1]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    peak, last = 0, None
    while process.poll() is None:
        state = _tree_state(root, start)
        if state is not None:
            peak, last = max(peak, state[0]), state[1]
        time.sleep(0.1)
    wall = time.perf_counter() - start
    reader.join()
    cpu = children_cpu_seconds() - own0
    others = (busy_cores_seconds() - busy0) - cpu
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{''.join(output)}")
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return Run(wall, cpu, peak / 2**30, largest, max(others, 0.0) / wall, "".join(output), marks, last)


def _tree_state(root: psutil.Process, start: float) -> tuple[int, Sample] | None:
    """Resident memory and CPU of a live process tree; None once its root has ended.

    A process's CPU is its own plus that of the children it has reaped, so that the sum
    over the live tree counts every process of the tree once (one that ends between the
    listing and its reading is missed for that sample).
    """
    import psutil

    try:
        tree = [root, *root.children(recursive=True)]
        times = root.cpu_times()
    except psutil.Error:
        return None
    at, rss, cpu = time.perf_counter() - start, 0, 0.0
    for process in tree:
        try:
            with process.oneshot():
                rss += process.memory_info().rss
                own = times if process is root else process.cpu_times()
        except psutil.Error:
            continue
        cpu += own.user + own.system + own.children_user + own.children_system
    return rss, Sample(at, cpu, times.user + times.system)


def phases(run: Run) -> list[tuple[str, float, float]]:
    """Name, wall seconds and CPU seconds of each phase of an ingest; a phase whose end line is missing joins the next."""
    ends = [(name, found) for name, pattern in PHASES if (found := next((s for line, s in run.marks if pattern.search(line)), None))]
    ends.append(("exit", Sample(run.wall_s, run.cpu_s, math.nan)))
    done, before = [], Sample(0.0, 0.0, 0.0)
    for name, end in ends:
        done.append((name, end.at_s - before.at_s, end.tree_cpu_s - before.tree_cpu_s))
        before = end
    return done


def steady_window(run: Run, images: int, batch_size: int) -> Window | None:
    """The describing phase once the network has embedded two batches, to the last progress line before its end.

    The main process embeds a batch as soon as ``batch_size`` images wait (a file has
    fewer images than a batch), so after ``n`` images it has embedded
    ``batch_size * (n // batch_size)``. None when fewer than two progress lines fall
    in that span.
    """
    progress = [(int(m[1].replace(",", "")), s) for line, s in run.marks if (m := DESCRIBE_PROGRESS.search(line))]
    inside = [(n, s) for n, s in progress if 2 * batch_size <= n < images]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    (first, one), (last, two) = inside[0], inside[-1]
    embedded = batch_size * (last // batch_size - first // batch_size)
    return Window(first, last, embedded, two.at_s - one.at_s, two.tree_cpu_s - one.tree_cpu_s, two.main_cpu_s - one.main_cpu_s)


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


def bare_network(embedder: ResNet50Embedder, batch_size: int, seconds: float) -> tuple[float, float]:
    """Images/s of calspot's embedder and of Keras ``model.predict`` on in-memory batches."""
    size = embedder.input_size
    batch = np.random.default_rng(0).uniform(0, 255, (batch_size, size, size, 3)).astype(np.float32)

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


def decompression(files: Sequence[Path], images: int, parallel: int) -> Work:
    """calspot's decompression of every file (``gzip -dc`` into a memory file), ``parallel`` files at a time.

    The CPU is that of the gzip children (``getrusage(RUSAGE_CHILDREN)``), the work the
    ingest cannot avoid; this process only starts them and waits. ``images`` are the
    image extensions the files hold, for the figures per image.
    """
    from core.fitsio import decompress_lzw_file

    if not (shutil.which("gzip") and hasattr(os, "memfd_create")):
        raise SystemExit("this machine lacks gzip or memory files: calspot decompresses in-process there, which is not measured here")

    def one(path: Path) -> None:
        with path.open("rb") as fh:
            data = decompress_lzw_file(fh)
        if isinstance(data, mmap.mmap):
            data.close()

    cpu0, start = children_cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, files))
    return Work(images, children_cpu_seconds() - cpu0, time.perf_counter() - start)


def network_inputs(files: Sequence[Path], settings: Settings) -> np.ndarray:
    """The real network inputs of :data:`INPUT_FILES` files spread over the data, as the ingest's workers make them."""
    from core.describe import describe_file

    chosen = files[:: max(1, len(files) // INPUT_FILES)][:INPUT_FILES]
    inputs = [x for path in chosen for x in describe_file(path, settings).inputs.values() if x is not None]
    if not inputs:
        raise SystemExit(f"no network input from {[str(p) for p in chosen]}")
    return np.stack(inputs)


def network_on_inputs(embedder: ResNet50Embedder, inputs: np.ndarray, images: int, batch_size: int) -> Work:
    """The embedder on ``images`` of ``inputs`` (repeated) in batches of ``batch_size``, the last one partial, as the ingest calls it.

    The batches are stacked before the clock starts (the ingest's stacking is its own
    work), and one full batch goes through first, untimed: the first call traces the
    model, a fixed cost of the ingest. The CPU is this process's, all threads.
    """
    chosen = inputs[np.arange(images) % len(inputs)]
    batches = [chosen[i : i + batch_size] for i in range(0, images, batch_size)]
    embedder.embed(batches[0])
    cpu0, start = time.process_time(), time.perf_counter()
    for batch in batches:
        embedder.embed(batch)
    return Work(images, time.process_time() - cpu0, time.perf_counter() - start)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "ingest_speed")
    parser.add_argument("--nights", type=int, default=5)
    parser.add_argument("--biases", type=int, default=5, help="biases per arm per night")
    parser.add_argument("--flats", type=int, default=3, help="flats per arm and setting per night")
    parser.add_argument("--arcs", type=int, default=2, help="arcs per arm and setting per night")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, help="calspot's batch size (default: calspot's own)")
    parser.add_argument("--workers", type=int, help="calspot's worker processes (default: calspot's own)")
    parser.add_argument(
        "--naive-files", type=int, default=30, help="run the naive baseline on the first N files only (default 30: the first night); 0: all"
    )
    parser.add_argument("--bare-seconds", type=float, default=15.0)
    args = parser.parse_args()
    require_bench_packages()

    from core.config import Settings
    from core.embed.resnet50 import ResNet50Embedder

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
    sampled = f"{first.last.tree_cpu_s:.1f} s at {first.wall_s - first.last.at_s:.1f} s before the end" if first.last else "no sample"
    print(
        f"    CPU of the process tree: {first.cpu_s:.1f} s by getrusage(RUSAGE_CHILDREN) = "
        f"{first.cpu_s / first.wall_s:.2f} cores on average (psutil's sum over the live tree: {sampled})"
    )
    print(f"    {'phase':<40} {'wall s':>7} {'CPU s':>7}")
    for name, wall_s, cpu_s in phases(first):
        print(f"    {name:<40} {wall_s:7.1f} {cpu_s:7.1f}")
    window = steady_window(first, images, batch_size)

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
    embedder = ResNet50Embedder(weights="random", input_size=args.input_size, seed=0)
    bare_rate, predict_rate = bare_network(embedder, batch_size, args.bare_seconds)
    print(f"    calspot's embedder: {bare_rate:.2f} images/s; Keras model.predict: {predict_rate:.2f} images/s")

    print(f"\n(d) decompression of the {len(files)} files, {cpus} at a time ({load()}) ...", flush=True)
    unpacked = decompression(files, images, cpus)
    print(
        f"    {unpacked.cpu_s:.1f} s CPU of gzip, {unpacked.wall_s:.1f} s wall: "
        f"{unpacked.cpu_ms_per_image:.0f} CPU-ms per image, {unpacked.rate:.2f} images/s"
    )

    inputs = network_inputs(files, Settings(home=args.workdir / "home", input_size=args.input_size))
    print(
        f"\n(e) bare network on {images} inputs (the real inputs of {len(inputs)} images of {INPUT_FILES} files, repeated), "
        f"batches of {batch_size} ({load()}) ...",
        flush=True,
    )
    network = network_on_inputs(embedder, inputs, images, batch_size)
    print(
        f"    {network.cpu_s:.1f} s CPU, {network.wall_s:.1f} s wall: "
        f"{network.cpu_ms_per_image:.0f} CPU-ms per image, {network.rate:.2f} images/s"
    )

    limit = images / (unpacked.wall_s + network.wall_s)
    other_ms = (first.cpu_s - unpacked.cpu_s - network.cpu_s) * 1000 / images
    other_ok = other_ms <= TARGETS["other_ms"]
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
    print(
        f"\ndecompression        = {unpacked.cpu_ms_per_image:.0f} CPU-ms per image, {unpacked.rate:.2f} images/s "
        f"({len(files)} files, {cpus} at a time)"
    )
    print(f"network              = {network.cpu_ms_per_image:.0f} CPU-ms per image, {network.rate:.2f} images/s (batches of {batch_size})")
    print(
        f"limit                = {limit:.2f} images/s ({images} images / ({unpacked.wall_s:.1f} s of decompression "
        f"+ {network.wall_s:.1f} s of network)); ingest {calspot_rate:.2f} images/s"
    )
    if window is None:
        print("steady describing    = not measured (fewer than two progress lines after the network's second batch)")
    else:
        workers_ms = (window.tree_cpu_s - window.main_cpu_s - window.images * unpacked.cpu_s / images) * 1000 / window.images
        main_ms = (window.main_cpu_s - window.embedded * network.cpu_s / images) * 1000 / window.images
        print(
            f"steady describing    = {workers_ms + main_ms:.0f} CPU-ms per image of other work over images {window.first} to "
            f"{window.last} ({window.wall_s:.0f} s, {window.images / window.wall_s:.2f} images/s): workers {workers_ms:.0f} "
            f"beyond decompression, main process {main_ms:.0f} beyond the network"
        )
    print(f"other work           = {other_ms:.0f} CPU-ms per image (target <= {TARGETS['other_ms']:.0f}: {verdict(other_ok)})")
    print(
        f"ingest / limit       = {100 * calspot_rate / limit:.0f} %  (target >= {100 * TARGETS['limit']:.0f} %: "
        f"{verdict(calspot_rate / limit >= TARGETS['limit'])})"
    )


if __name__ == "__main__":
    main()
