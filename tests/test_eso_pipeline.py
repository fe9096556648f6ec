"""ESO's own UVES pipeline on the simulator's frames.

Runs ``esorex`` with the recipes of Debian's ``cpl-plugin-uves`` (``make test`` installs
both) and is skipped, saying why, where they are missing. The pipeline is the strictest
reader of UVES headers there is: it refuses a frame whose detector layout, pixel grid or
scaling cards are not where a real UVES file has them.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from core.synthetic import simulate_frame

SCALE = 0.1
SEED = 5
RECIPE = "uves_cal_mbias"


@lru_cache(maxsize=1)
def missing_pipeline() -> str | None:
    """Why ESO's UVES pipeline cannot run here, or None when it can."""
    if shutil.which("esorex") is None:
        return "esorex is not installed (make test installs Debian's esorex and cpl-plugin-uves)"
    listed = subprocess.run(["esorex", "--recipes"], capture_output=True, text=True, timeout=120).stdout
    if RECIPE not in listed:
        return f"esorex has no {RECIPE} recipe: install Debian's cpl-plugin-uves"
    return None


@pytest.fixture
def esorex(tmp_path: Path):
    """Run a recipe on tagged frames in a fresh folder; returns the products folder."""
    reason = missing_pipeline()
    if reason:
        pytest.skip(reason)

    def run(recipe: str, frames: list[tuple[Path, str]]) -> Path:
        sof = tmp_path / f"{recipe}.sof"
        sof.write_text("".join(f"{path} {tag}\n" for path, tag in frames))
        out = tmp_path / "products"
        out.mkdir(exist_ok=True)
        done = subprocess.run(
            ["esorex", "--suppress-prefix=TRUE", f"--output-dir={out}", f"--log-dir={tmp_path}", recipe, str(sof)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        errors = [line for line in done.stdout.splitlines() + done.stderr.splitlines() if "ERROR" in line]
        assert done.returncode == 0, f"{recipe} failed:\n" + "\n".join(errors[-12:])
        return out

    return run


def output_levels(hdu: fits.ImageHDU | fits.PrimaryHDU) -> list[float]:
    """Median of each output's overscan: the bias levels of the chip's two outputs."""
    h = hdu.header
    pre, nx, over = (h[f"HIERARCH ESO DET OUT1 {key}"] for key in ("PRSCX", "NX", "OVSCX"))
    scans = (hdu.data[:, pre + nx : pre + nx + over], hdu.data[:, pre + nx + over : pre + nx + 2 * over])
    return sorted(float(np.median(scan)) for scan in scans)


# ESO's products per arm: file, the extension of the raw file its chip comes from, the port in its QC names.
PRODUCTS = {
    "BLUE": [("masterbias_blue.fits", 0, 1)],
    "RED": [("masterbias_redu.fits", 1, 1), ("masterbias_redl.fits", 2, 4)],
}


@pytest.mark.parametrize("arm", ["BLUE", "RED"])
def test_eso_makes_a_master_bias_of_each_chip_from_simulated_biases(esorex, tmp_path: Path, arm: str) -> None:
    raw = []
    for index in range(3):
        frame = simulate_frame(arm, "BIAS", scale=SCALE, seed=SEED, index=index)
        path = tmp_path / frame.filename()
        path.write_bytes(frame.to_bytes())
        raw.append(path)
    products = esorex(RECIPE, [(path, f"BIAS_{arm}") for path in raw])

    with fits.open(raw[0]) as first:
        for name, ext, port in PRODUCTS[arm]:
            with fits.open(products / name) as product:
                master, header = product[0].data, product[0].header
            chip = first[ext]
            # ESO cuts the first output's prescan and overscan off the chip's edges and turns
            # the dispersion along x: the master is the chip's rows by its remaining columns.
            cut = chip.header["HIERARCH ESO DET OUT1 PRSCX"] + chip.header["HIERARCH ESO DET OUT1 OVSCX"]
            assert master.shape == (chip.header["NAXIS1"] - cut, chip.header["NAXIS2"])
            # The master of each chip lies between the levels of that chip's outputs: ESO read
            # the chips from the extensions the simulator wrote them to.
            low, high = output_levels(chip)
            assert low - 1 < header["HIERARCH ESO PRO DATAMED"] < high + 1
            assert header["HIERARCH ESO PRO DATANCOM"] == 3
            assert header[f"HIERARCH ESO QC OUT{port} RON RAW"] > 0
