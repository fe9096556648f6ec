"""The headers UVES writes in its raw calibration files, as ESO's pipeline reads them.

What a raw UVES file says, and where, decides how ESO's own pipeline (the ``uves_cal_*``
recipes of the Debian package ``cpl-plugin-uves``) and its classification rules
(``uves.oca``) treat it, and calspot's header rules are checked against the same files.
The simulator (:mod:`core.synthetic`) writes its frames through this module.

What ESO's pipeline reads (``uves_pfits.h``, ``uves_dfs.c``, ``uves_qclog.c``):

- ``DET CHIPS`` (1 blue, 2 red) types the arm in the OCA rules; ``INS PATH`` and
  ``INS MODE`` are set by the instrument's optical configuration and are absent from
  biases (and darks), which do not use the optics;
- ``MJD-OBS`` after 2004-04-01 means the "new format": a red file has an empty primary
  HDU and the upper chip (REDU, MIT-LL CCID-20, ``DET CHIP1``) in extension 1, the lower
  chip (REDL, EEV CCD-44, ``DET CHIP2``) in extension 2; each extension's header is
  merged over the primary's, and every chip reads its layout from ``DET OUT1``;
- ``DET OUT1 PRSCX`` / ``OVSCX`` are cut from the left and right edge of the image,
  ``DET OUT1 RON`` (e-), ``GAIN`` (ADU/e-) and ``CONAD`` (e-/ADU) give the noise model;
- ``CTYPEi``, ``CRVALi``, ``CRPIXi``, ``CDELTi`` the pixel grid; ``DET WIN1 BINX/BINY``,
  ``DET READ SPEED`` and, on lamp frames, ``INS SLIT1 NAME`` (``FREE`` for flats and arcs),
  the gratings and the slit (``INS SLIT2`` blue, ``INS SLIT3`` red) group the frames;
- ``BSCALE`` and ``BZERO`` of unsigned 16-bit pixels must be floating-point numbers.

A real UVES chip read at 225 kHz has one output; the simulator's chips have two, one at
each end of the serial register, as ``DET OUTPUTS = 2`` and ``DET OUT2`` say. ESO's
pipeline reads ``DET OUT1`` only, so it takes such a chip for one output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from astropy.io import fits

__all__ = ["BIAS_TYPES", "ChipReadout", "Output", "as_eso_writes", "chip_cards", "primary_header"]

BIAS_TYPES = frozenset({"BIAS", "DARK"})
"""DPR TYPEs taken without the instrument's optics: no INS PATH, INS MODE or slit in their headers."""

_TECH = {"BIAS": "IMAGE", "DARK": "IMAGE"}  # every other calibration here is an echelle spectrum
_SLIT_KEY = {"BLUE": "SLIT2", "RED": "SLIT3"}
_DETECTOR = {"BLUE": "ccdUvB", "RED": "ccdUvR"}
_SLIT = (1.0, 8.0)  # arcsec: width and length of the slit of the lamp calibrations
_MJD_UNIX_EPOCH = 40587.0


@dataclass(frozen=True)
class Output:
    """One read-out port: its conversion factor (e-/ADU) and read noise (ADU)."""

    conad: float
    ron_adu: float


@dataclass(frozen=True)
class ChipReadout:
    """What the headers say about one chip and how it is read out.

    Attributes
    ----------
    index
        ESO's number of the chip, ``n`` in ``DET CHIPn``: 1 for the blue chip and REDU,
        2 for REDL.
    chip_id, name
        ``DET CHIPn ID`` and ``NAME``.
    rows
        Rows of the image (``NAXIS2``).
    nx, prescan, overscan
        Light-sensitive columns, prescan and overscan columns of each output. The first
        output sits at the left edge and reads [prescan][data][overscan] from column 1;
        a second one sits at the right edge and reads its columns mirrored.
    outputs
        The ports, left to right.
    """

    index: int
    chip_id: str
    name: str
    rows: int
    nx: int
    prescan: int
    overscan: int
    outputs: tuple[Output, ...]

    @property
    def naxis1(self) -> int:
        return len(self.outputs) * (self.prescan + self.nx + self.overscan)


def primary_header(
    *,
    arm: str,
    dpr_type: str,
    date_obs: datetime,
    exptime: float,
    written: datetime,
    arcfile: str,
    chips: Sequence[ChipReadout],
    grating: tuple[str, str, int],
    read_speed: str,
    binning: tuple[int, int] = (1, 1),
) -> fits.Header:
    """The primary header of a raw UVES calibration: what, when, which arm, optics and detector.

    Parameters
    ----------
    arm
        ``BLUE`` or ``RED``.
    dpr_type
        ``HIERARCH ESO DPR TYPE`` (``BIAS``, ``LAMP,FLAT``, ``LAMP,WAVE`` ...); ESO's
        calibration templates also name the target (``OBJECT``) after it.
    date_obs, exptime, written
        Exposure start (UT), exposure time (s) and when the file was written.
    arcfile
        The archive's file name.
    chips
        The chips of the arm (one blue, two red): their number goes to ``DET CHIPS``.
    grating
        Keyword (``GRAT1`` blue, ``GRAT2`` red), common name and central wavelength (nm)
        of the cross-disperser in place.
    read_speed
        ``DET READ SPEED``, e.g. ``225kHz,1x1,low``.
    binning
        ``DET WIN1 BINX`` and ``BINY``.

    Returns
    -------
    astropy.io.fits.Header
        Lamp frames carry ``INS PATH``, ``INS MODE`` and the slit; biases and darks do not.
    """
    grating_key, grating_name, wlen = grating
    unix = (date_obs - datetime(1970, 1, 1)).total_seconds()
    midnight = date_obs.replace(hour=0, minute=0, second=0, microsecond=0)
    header = fits.Header()
    header["ORIGIN"] = ("ESO", "European Southern Observatory")
    header["DATE"] = (written.isoformat(timespec="milliseconds"), "Date the file was written")
    header["TELESCOP"] = ("ESO-VLT-U2", "ESO <TEL>")
    header["INSTRUME"] = ("UVES", "Instrument used")
    header["OBJECT"] = (dpr_type, "Original target")
    header["EXPTIME"] = (exptime, "Total integration time [s]")
    header["MJD-OBS"] = (round(_MJD_UNIX_EPOCH + unix / 86400.0, 8), "Obs start")
    header["DATE-OBS"] = (date_obs.isoformat(timespec="milliseconds"), "Observing date (UT)")
    header["UTC"] = (round((date_obs - midnight).total_seconds(), 3), "[s] UT at start")
    header["PI-COI"] = ("UNKNOWN", "PI-COI name")
    header["OBSERVER"] = ("UNKNOWN", "Name of observer")
    header["ARCFILE"] = (arcfile, "Archive File Name")
    header["HIERARCH ESO DPR CATG"] = ("CALIB", "Observation category")
    header["HIERARCH ESO DPR TYPE"] = (dpr_type, "Observation type")
    header["HIERARCH ESO DPR TECH"] = (_TECH.get(dpr_type, "ECHELLE"), "Observation technique")
    if dpr_type not in BIAS_TYPES:
        header["HIERARCH ESO INS MODE"] = (arm, "Instrument mode used")
        header["HIERARCH ESO INS PATH"] = (arm, "Optical path used")
    header[f"HIERARCH ESO INS {grating_key} ID"] = (grating_name.replace("#", ""), "Grating ID")
    header[f"HIERARCH ESO INS {grating_key} NAME"] = (grating_name, "Grating common name")
    header[f"HIERARCH ESO INS {grating_key} WLEN"] = (wlen, "Grating central wavelength [nm]")
    if dpr_type not in BIAS_TYPES:
        slit = _SLIT_KEY[arm]
        header["HIERARCH ESO INS SLIT1 NAME"] = ("FREE", "Slit common name")
        header[f"HIERARCH ESO INS {slit} WID"] = (_SLIT[0], "Slit width [arcsec]")
        header[f"HIERARCH ESO INS {slit} LEN"] = (_SLIT[1], "Slit length [arcsec]")
    header["HIERARCH ESO DET NAME"] = (_DETECTOR[arm], "Name of detector system")
    header["HIERARCH ESO DET CHIPS"] = (len(chips), "# of chips in detector array")
    header["HIERARCH ESO DET READ SPEED"] = (read_speed, "Readout speed, binning, gain")
    header["HIERARCH ESO DET READ MODE"] = ("normal", "Readout method")
    header["HIERARCH ESO DET WIN1 STRX"] = (1, "Lower left pixel in X")
    header["HIERARCH ESO DET WIN1 STRY"] = (1, "Lower left pixel in Y")
    header["HIERARCH ESO DET WIN1 NX"] = (max(len(c.outputs) * c.nx for c in chips), "# of pixels along X")
    header["HIERARCH ESO DET WIN1 NY"] = (max(c.rows for c in chips), "# of pixels along Y")
    header["HIERARCH ESO DET WIN1 BINX"] = (binning[0], "Binning factor along X")
    header["HIERARCH ESO DET WIN1 BINY"] = (binning[1], "Binning factor along Y")
    header["HIERARCH ESO DET WIN1 UIT1"] = (exptime, "User defined subintegration time")
    header["HIERARCH ESO DET WIN1 DIT1"] = (exptime, "Actual subintegration time")
    return header


def chip_cards(header: fits.Header, chip: ChipReadout, binning: tuple[int, int] = (1, 1)) -> None:
    """Add the cards of the HDU that holds a chip: pixel grid, chip, and each output's layout and noise.

    Parameters
    ----------
    header
        The header of the HDU with the chip's pixels (the primary of a blue file, an
        extension of a red one); updated in place.
    chip
        The chip and its outputs.
    binning
        Pixel size in unbinned pixels along x and y (``CDELTi``).
    """
    for axis, step in ((1, binning[0]), (2, binning[1])):
        header[f"CTYPE{axis}"] = ("PIXEL", "Pixel coordinate system")
        header[f"CRVAL{axis}"] = (1.0, "Coordinate at the reference pixel")
        header[f"CRPIX{axis}"] = (1.0, "Reference pixel")
        header[f"CDELT{axis}"] = (float(step), "Binning factor")
    chip_key = f"HIERARCH ESO DET CHIP{chip.index}"
    header[f"{chip_key} ID"] = (chip.chip_id, "Detector chip identification")
    header[f"{chip_key} NAME"] = (chip.name, "Detector chip name")
    header[f"{chip_key} INDEX"] = (chip.index, "Chip index")
    header[f"{chip_key} NX"] = (len(chip.outputs) * chip.nx, "# of pixels along X")
    header[f"{chip_key} NY"] = (chip.rows, "# of pixels along Y")
    header[f"{chip_key} PSZX"] = (15.0, "Size of pixel in X [um]")
    header[f"{chip_key} PSZY"] = (15.0, "Size of pixel in Y [um]")
    header["HIERARCH ESO DET OUTPUTS"] = (len(chip.outputs), "# of outputs")
    for i, output in enumerate(chip.outputs, start=1):
        name = chr(ord("A") + i - 1)
        out = f"HIERARCH ESO DET OUT{i}"
        header[f"{out} ID"] = (name, "Output ID as from manufacturer")
        header[f"{out} NAME"] = (name, "Description of output")
        header[f"{out} INDEX"] = (i, "Output index")
        header[f"{out} X"] = (1 if i == 1 else chip.naxis1, "X location of output")
        header[f"{out} Y"] = (1, "Y location of output")
        header[f"{out} NX"] = (chip.nx, "Valid pixels along X")
        header[f"{out} NY"] = (chip.rows, "Valid pixels along Y")
        header[f"{out} PRSCX"] = (chip.prescan, "Prescan region in X")
        header[f"{out} PRSCY"] = (0, "Prescan region in Y")
        header[f"{out} OVSCX"] = (chip.overscan, "Overscan region in X")
        header[f"{out} OVSCY"] = (0, "Overscan region in Y")
        header[f"{out} CONAD"] = (round(output.conad, 3), "Conversion from ADUs to electrons")
        header[f"{out} GAIN"] = (round(1.0 / output.conad, 3), "Conversion from electrons to ADU")
        header[f"{out} RON"] = (round(output.ron_adu * output.conad, 3), "Readout noise per output (e-)")


def as_eso_writes(hdul: fits.HDUList) -> fits.HDUList:
    """The HDUs as ESO writes unsigned 16-bit pixels: signed integers, ``BZERO = 32768.0``, ``BSCALE = 1.0``.

    astropy writes the two scaling cards as integers, and ESO's pipeline (CPL) refuses a
    ``BSCALE`` that is not a floating-point number. The pixels read back are the same.

    Parameters
    ----------
    hdul
        HDUs as built in memory (``uint16`` images); not changed.

    Returns
    -------
    astropy.io.fits.HDUList
        To be written; HDUs without unsigned 16-bit pixels are the same objects.
    """
    written = []
    for hdu in hdul:
        if hdu.data is None or hdu.data.dtype != np.uint16:
            written.append(hdu)
            continue
        header = hdu.header.copy()
        for key in ("BSCALE", "BZERO"):
            header.remove(key, ignore_missing=True)
        stored = (hdu.data ^ np.uint16(0x8000)).view(np.int16)
        copy = type(hdu)(data=stored, header=header, do_not_scale_image_data=True)
        copy.header["BSCALE"] = (1.0, "Real = stored * BSCALE + BZERO")
        copy.header["BZERO"] = (32768.0, "Unsigned 16-bit pixels")
        written.append(copy)
    return fits.HDUList(written)
