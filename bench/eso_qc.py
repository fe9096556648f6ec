"""calspot's quality numbers beside ESO's QC1 parameters, on the same simulated UVES frames.

ESO's UVES pipeline (Debian packages ``esorex`` and ``cpl-plugin-uves``) runs in a
temporary folder on frames written by :mod:`core.synthetic`, and calspot's numbers
(:func:`core.qc.measure_quality`) are measured on the same files:

- ``uves_cal_mbias`` on three biases of each arm, as simulated: every chip read through
  two outputs whose levels lie 10-25 ADU apart;
- ``uves_cal_mbias`` again on each output cut out into a file of its own, laid out as
  UVES writes a chip read through one port at 225 kHz: [prescan][data][overscan];
- ``uves_cal_orderpos`` on a flat: its order table is what ``uves_cal_mflat`` and
  ``uves_cal_wavecal`` need; ``uves_cal_wavecal`` also needs ESO's ThAr line catalogue.

The numbers:

- ESO ``PRO DATAMED``: median of the master bias (the median of the frames), over the
  pixels within 10 % of the median of its central 100 x 100 pixels, once
  ``DET OUT1 PRSCX`` columns are cut off the left edge of the chip and ``OVSCX`` off the
  right (on a two-output chip the overscans in its middle stay);
- ESO ``QC OUTn RON RAW`` (n = 1 blue and REDU, 4 REDL): the standard deviation of those
  pixels of the *first* raw bias. It is the spread of a raw frame, not the read-out noise
  of an output: fixed column and row pattern, the ramp near the output and hot columns
  less than 10 % above the level are in it, and on a two-output chip the step between
  the outputs' levels. The bench recomputes it with numpy ("raw spread") to show it;
- calspot ``level``: median of the light-sensitive pixels; ``ampN.read_noise``: the noise
  of output N in its overscan, from differences of horizontal neighbours, where there is
  no fixed pattern; ``row_structure`` / ``column_structure``: the robust spread of the
  row and column means around their smooth trend (the fixed pattern);
- "header": the read noise the simulator wrote for the output, ``DET OUTn RON / CONAD``.

Run: ``.venv/bin/python bench/eso_qc.py [--scale 1.0] [--seed 1] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.qc import measure_quality  # noqa: E402
from core.synthetic import SETTINGS, UvesSimulator  # noqa: E402
from core.synthetic.headers import as_eso_writes  # noqa: E402

BIASES = 3
TARGET = 0.02  # relative agreement wanted on levels and read noise
# ESO's master bias products per arm: file, extension of the raw file its chip is read from, port in its QC names.
PRODUCTS = {
    "BLUE": (("masterbias_blue.fits", 0, 1),),
    "RED": (("masterbias_redu.fits", 1, 1), ("masterbias_redl.fits", 2, 4)),
}
OUT = "HIERARCH ESO DET OUT{}"
CATALOGUES = "/usr/share/cpl-plugins"  # where cpl-plugin-uves-calib puts ESO's static calibrations


@dataclass
class Recipe:
    """One esorex run: its products and their primary headers, or the pipeline's first error."""

    name: str
    products: dict[Path, fits.Header] = field(default_factory=dict)
    error: str = ""

    def product(self, name: str) -> fits.Header:
        return next((h for path, h in self.products.items() if path.name == name), fits.Header())

    def tagged(self) -> list[tuple[Path, str]]:
        """The products as the input of another recipe, tagged with their category."""
        return [(path, header["HIERARCH ESO PRO CATG"]) for path, header in self.products.items()]


@dataclass
class Row:
    """One line of the comparison."""

    where: str
    quantity: str
    header: float | None
    calspot: float | None
    calspot_name: str
    eso: float | None
    eso_name: str
    note: str = ""

    def difference(self) -> float | None:
        if self.eso is None or not self.calspot:
            return None
        return self.eso / self.calspot - 1.0


def pipeline_missing() -> str | None:
    """Why ESO's UVES pipeline cannot run here, or None."""
    if shutil.which("esorex") is None:
        return "esorex is not installed: `make debian-packages` installs Debian's esorex and cpl-plugin-uves"
    listed = subprocess.run(["esorex", "--recipes"], capture_output=True, text=True, timeout=120).stdout
    if "uves_cal_mbias" not in listed:
        return "esorex has no UVES recipes: install Debian's cpl-plugin-uves"
    return None


def run_recipe(recipe: str, frames: list[tuple[Path, str]], folder: Path) -> Recipe:
    """Run an esorex recipe on tagged frames in ``folder`` (its products and log go there)."""
    folder.mkdir(parents=True, exist_ok=True)
    sof = folder / f"{recipe}.sof"
    sof.write_text("".join(f"{path} {tag}\n" for path, tag in frames))
    done = subprocess.run(
        ["esorex", "--suppress-prefix=TRUE", f"--output-dir={folder}", f"--log-dir={folder}", recipe, str(sof)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    run = Recipe(recipe)
    if done.returncode != 0:
        first = re.search(r"\[1/\d+\] '([^']*)'", done.stderr)
        run.error = first.group(1) if first else f"exit status {done.returncode}"
        return run
    for product in sorted(folder.glob("*.fits")):
        header = fits.getheader(product)
        if "HIERARCH ESO PRO CATG" in header:
            run.products[product] = header
    return run


def merged_header(hdul: fits.HDUList, ext: int) -> fits.Header:
    """The header of an image as readers see it: the primary's cards updated by the extension's."""
    header = hdul[0].header.copy()
    if ext:
        header.update(hdul[ext].header)
    return header


def one_output(hdul: fits.HDUList, output: int) -> fits.HDUList:
    """Each chip of a two-output file reduced to one output, laid out as UVES writes a one-port chip.

    Output 1 keeps the left half of every chip; output 2 the right half, mirrored so that
    its prescan comes first, as an output at ``X = 1`` has it. The output's cards become
    ``DET OUT1``; ``DET OUTPUTS`` is 1.
    """
    hdus: list[fits.PrimaryHDU | fits.ImageHDU] = []
    for ext, hdu in enumerate(hdul):
        header = hdu.header.copy()
        if hdu.data is None:
            hdus.append(fits.PrimaryHDU(header=header))
            continue
        half = hdu.data.shape[1] // 2
        pixels = hdu.data[:, :half] if output == 1 else hdu.data[:, half:][:, ::-1]
        for key in ("CONAD", "GAIN", "RON"):
            header[f"{OUT.format(1)} {key}"] = header[f"{OUT.format(output)} {key}"]
        for key in [k for k in header if k.startswith("ESO DET OUT2")]:
            del header[key]
        header["HIERARCH ESO DET OUTPUTS"] = 1
        for key in ("BSCALE", "BZERO"):
            header.remove(key, ignore_missing=True)
        cls = fits.PrimaryHDU if ext == 0 else fits.ImageHDU
        hdus.append(cls(data=np.ascontiguousarray(pixels), header=header))
    return fits.HDUList(hdus)


def write(hdul: fits.HDUList, path: Path) -> Path:
    as_eso_writes(hdul).writeto(path, overwrite=True)
    return path


def measure(path: Path, ext: int, category: str) -> dict[str, float]:
    with fits.open(path) as hdul:
        return measure_quality(hdul[ext].data, merged_header(hdul, ext), category).metrics


def header_noise(path: Path, ext: int, output: int) -> float:
    """The read noise the file's header gives an output, in ADU."""
    with fits.open(path) as hdul:
        header = merged_header(hdul, ext)
    return header[f"{OUT.format(output)} RON"] / header[f"{OUT.format(output)} CONAD"]


def raw_spread(path: Path, ext: int) -> float:
    """ESO's ``RON RAW`` recomputed: the spread of the cut chip's pixels within 10 % of its central median."""
    with fits.open(path) as hdul:
        header, data = merged_header(hdul, ext), hdul[ext].data.astype(float)
    cut = data[:, header[f"{OUT.format(1)} PRSCX"] : data.shape[1] - header[f"{OUT.format(1)} OVSCX"]]
    rows, cols = cut.shape
    centre = np.median(cut[(rows - 100) // 2 : (rows + 100) // 2 + 1, (cols - 100) // 2 : (cols + 100) // 2 + 1])
    kept = cut[np.abs(cut - centre) <= 0.1 * centre]
    return float(np.std(kept, ddof=1))


def with_structure(numbers: dict[str, float]) -> float | None:
    """calspot's read noise of a one-output image with its row and column pattern added in quadrature."""
    parts = [numbers.get(name) for name in ("amp1.read_noise", "row_structure", "column_structure")]
    return math.sqrt(sum(p * p for p in parts)) if None not in parts else None


def bias_rows(arm: str, paths: list[Path], run: Recipe, output: int | None) -> list[Row]:
    """Level and read noise of each chip of an arm: calspot on the files, ESO on their master."""
    rows = []
    for product, ext, port in PRODUCTS[arm]:
        where = f"{arm} ext{ext}" + ("" if output is None else f" out {'AB'[output - 1]}")
        eso = run.product(product)
        numbers = [measure(path, ext, "bias") for path in paths]
        level = float(np.mean([n["level"] for n in numbers]))
        rows.append(
            Row(where, "bias level", None, level, "level (mean of frames)", eso.get("HIERARCH ESO PRO DATAMED"), "PRO DATAMED", run.error)
        )
        ron, ron_name = eso.get(f"HIERARCH ESO QC OUT{port} RON RAW"), f"QC OUT{port} RON RAW"
        first = numbers[0]
        if output is None:
            # ESO takes the chip for one output: its spread holds the step between the two outputs' levels.
            step = abs(first["amp1.level"] - first["amp2.level"])
            spread = math.sqrt((first["amp1.noise"] ** 2 + first["amp2.noise"] ** 2) / 2 + step**2 / 4)
            note = f"outputs {step:.1f} ADU apart: calspot's numbers give {spread:.2f}"
            for amp in (1, 2):
                name = f"amp{amp}.read_noise"
                rows.append(Row(where, "read noise", header_noise(paths[0], ext, amp), first.get(name), name, ron, ron_name, note))
            continue
        rows.append(
            Row(
                where,
                "read noise",
                header_noise(paths[0], ext, 1),
                first.get("amp1.read_noise"),
                "amp1.read_noise",
                ron,
                ron_name,
                "ESO's holds the fixed pattern",
            )
        )
        rows.append(
            Row(where, "read noise", None, with_structure(first), "read_noise (+) structure", ron, ron_name, "calspot's pattern added")
        )
        rows.append(
            Row(where, "raw spread", None, raw_spread(paths[0], ext), "numpy, ESO's formula", ron, ron_name, "same pixels, same clip")
        )
    return rows


def lamp_rows(arm: str, folder: Path, simulator: UvesSimulator, master: Recipe) -> tuple[list[Row], list[str]]:
    """calspot's flat flux and arc lines beside ESO's flat and arc recipes, and why these did not run."""
    setting = SETTINGS[arm][0]
    flat = write(simulator.frame(arm, "LAMP,FLAT", setting).hdul, folder / "flat.fits")
    arc = write(simulator.frame(arm, "LAMP,WAVE", setting).hdul, folder / "arc.fits")
    notes = []
    orders = run_recipe("uves_cal_orderpos", [(flat, f"ORDER_FLAT_{arm}")], folder / "orderpos")
    flat_qc: dict[str, float] = {}
    if orders.error:
        notes.append(
            f"{arm}: uves_cal_orderpos failed: {orders.error}; uves_cal_mflat and uves_cal_wavecal "
            "need its order table. The simulated orders run along the rows of the raw image; UVES's run "
            "along its columns, which ESO turns into rows: the simulated ones come out vertical"
        )
    else:
        flats = run_recipe("uves_cal_mflat", [(flat, f"FLAT_{arm}"), *orders.tagged(), *master.tagged()], folder / "mflat")
        flat_qc = {k: v for h in flats.products.values() for k, v in h.items() if k.startswith("ESO QC ")}
        notes.append(f"{arm}: uves_cal_mflat: {flats.error or flat_qc}")
    if not list(Path(CATALOGUES).glob("uves-*/cal/*thar*")):
        notes.append(
            f"{arm}: uves_cal_wavecal needs LINE_REFER_TABLE, ESO's ThAr catalogue, which Debian's "
            "cpl-plugin-uves-calib downloads from ESO at install: not here"
        )
    rows = []
    for ext in (0,) if arm == "BLUE" else (1, 2):
        where = f"{arm} ext{ext}"
        rows.append(
            Row(
                where,
                "flat flux",
                None,
                measure(flat, ext, "flat").get("flux"),
                "flux",
                None,
                "uves_cal_mflat",
                "not run" if orders.error else "QC in the notes",
            )
        )
        rows.append(
            Row(where, "arc lines", None, measure(arc, ext, "arc").get("line_count"), "line_count", None, "uves_cal_wavecal", "not run")
        )
    return rows, notes


def print_table(rows: list[Row]) -> None:
    """The comparison as a Markdown table; differences beyond the target are starred."""

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    head = ("frame", "quantity", "header", "calspot", "calspot number", "ESO", "ESO number", "ESO/calspot-1", "note")
    lines = [head]
    for r in rows:
        diff = r.difference()
        shown = "-" if diff is None else f"{100 * diff:+.2f} %" + (" *" if abs(diff) > TARGET else "")
        lines.append((r.where, r.quantity, number(r.header), number(r.calspot), r.calspot_name, number(r.eso), r.eso_name, shown, r.note))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for n, line in enumerate(lines):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="frame size relative to UVES (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="folder to keep the frames and ESO's products in")
    args = parser.parse_args()
    reason = pipeline_missing()
    if reason:
        print(f"ESO's pipeline cannot run: {reason}")
        return 1
    simulator = UvesSimulator(seed=args.seed, scale=args.scale)
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="calspot-eso-") as tmp:
        root = args.keep or Path(tmp)
        for arm in ("BLUE", "RED"):
            folder = root / arm.lower()
            folder.mkdir(parents=True, exist_ok=True)
            frames = [simulator.frame(arm, "BIAS", index=i).hdul for i in range(BIASES)]
            paths = [write(hdul, folder / f"bias{i}.fits") for i, hdul in enumerate(frames)]
            master = run_recipe("uves_cal_mbias", [(p, f"BIAS_{arm}") for p in paths], folder / "master")
            rows += bias_rows(arm, paths, master, None)
            for output in (1, 2):
                cut = [write(one_output(h, output), folder / f"bias{i}_out{output}.fits") for i, h in enumerate(frames)]
                run = run_recipe("uves_cal_mbias", [(p, f"BIAS_{arm}") for p in cut], folder / f"master_out{output}")
                rows += bias_rows(arm, cut, run, output)
            lamp, why = lamp_rows(arm, folder, simulator, master)
            rows += lamp
            notes += why
    print(f"calspot against ESO's UVES pipeline: seed {args.seed}, scale {args.scale}, {BIASES} biases per arm\n")
    print_table(rows)
    print(f"\n* differs by more than {100 * TARGET:.0f} %.")
    print("ESO's RON RAW is the clipped standard deviation of the first raw bias (the 'raw spread' rows recompute")
    print("it): read noise plus the fixed pattern, the output ramp and faint hot columns, and on a two-output chip")
    print("the step between the outputs. calspot's read_noise is the noise of the output in its overscan.")
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
