"""What the simulator is asked to take (:class:`Exposure`) and what it gives back (:class:`SimulatedFrame`).

A simulated frame is written as the archive delivers it: ESO's header cards and pixel
scaling, optionally compressed (Unix compress or gzip) and, for the ``truncated_file``
defect, cut short; its rows of ``truth.csv`` say what was injected where.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time

import ncompress
from astropy.io import fits

from . import headers
from .instrument import ARMS, BIAS, exposure_time

COMPRESSIONS: Mapping[str, str] = {"none": ".fits", "Z": ".fits.Z", "gz": ".fits.gz"}
"""File name suffix of each supported compression."""


CALIBRATION_WINDOW = (time(10, 0), time(12, 0))  # UT, the morning after the night
FIRST_NIGHT = "2025-01-01"  # night 0 of a simulation unless told otherwise


@dataclass(frozen=True)
class Exposure:
    """What the observatory was asked to take: one raw file.

    Parameters
    ----------
    night
        Index of the night since the start of the simulation (drives the drifts).
    arm
        ``BLUE`` or ``RED``.
    dpr_type
        ``BIAS``, ``LAMP,FLAT`` or ``LAMP,WAVE`` (as in ``HIERARCH ESO DPR TYPE``).
    setting
        Grating central wavelength in nm. Biases carry the grating in place, which
        does not change their pixels.
    index
        Number of this exposure among those of the same night, arm, type and setting.
    date_obs
        Start of the exposure, UT.
    """

    night: int
    arm: str
    dpr_type: str
    setting: int
    index: int
    date_obs: datetime

    @property
    def exptime(self) -> float:
        """Exposure time in seconds (the setting's lamp time; 0 for a bias)."""
        return exposure_time(self.dpr_type, ARMS[self.arm].setting(self.setting))

    @property
    def date_obs_iso(self) -> str:
        """``DATE-OBS`` as ESO writes it: ISO 8601, UT, milliseconds."""
        return self.date_obs.isoformat(timespec="milliseconds")

    @property
    def stem(self) -> str:
        """The archive file name without suffix: ``UVES.<DATE-OBS>``."""
        return f"UVES.{self.date_obs_iso}"

    @property
    def image_exts(self) -> tuple[int, ...]:
        """HDU numbers that hold pixels: ``(0,)`` for blue, ``(1, 2)`` for red."""
        return tuple(chip.ext for chip in ARMS[self.arm].chips)


@dataclass(eq=False)
class SimulatedFrame:
    """One simulated raw file, with what was injected into it.

    Attributes
    ----------
    hdul
        The file's HDUs (blue: pixels in the primary; red: empty primary, ext 1 and 2).
    exposure
        What was taken: night, arm, type, setting, time.
    defect
        The injected family, or ``''`` for a good frame.
    details
        Image extension -> description of the defect there, with its magnitude. Only
        the extensions the defect hit are present.
    truncate_at
        For ``truncated_file``: the fraction of the written bytes that is kept.
    after_intervention
        Whether this lamp frame was taken after an intervention (orders, lines and
        lamp flux have jumped: a new normal, not a defect). Biases do not change.
    """

    hdul: fits.HDUList
    exposure: Exposure
    defect: str = ""
    details: dict[int, str] = field(default_factory=dict)
    truncate_at: float | None = None
    after_intervention: bool = False

    def filename(self, compress: str = "none") -> str:
        """Archive file name, e.g. ``UVES.2025-01-02T10:03:04.567.fits.Z``."""
        return self.exposure.stem + file_suffix(compress)

    def to_bytes(self, compress: str = "none") -> bytes:
        """The file as written to disk: FITS, compressed, truncated if that is the defect."""
        buffer = io.BytesIO()
        headers.as_eso_writes(self.hdul).writeto(buffer)
        data = _compress(buffer.getvalue(), compress)
        if self.truncate_at is not None:
            data = data[: int(len(data) * self.truncate_at)]
        return data

    def truth_rows(self, path: str, night: str) -> list[dict[str, str]]:
        """Rows of ``truth.csv`` for this file (one per image extension).

        Parameters
        ----------
        path
            The file's path relative to the simulation folder (posix).
        night
            The night's name, ``YYYY-MM-DD``.
        """
        exposure = self.exposure
        rows = []
        for ext in exposure.image_exts:
            hit = ext in self.details
            rows.append(
                {
                    "path": path,
                    "ext": str(ext),
                    "night": night,
                    "arm": exposure.arm,
                    "dpr_type": exposure.dpr_type,
                    "setting": "" if exposure.dpr_type == BIAS else str(exposure.setting),
                    "defect": self.defect if hit else "",
                    "detail": self.details[ext] if hit else ("after intervention" if self.after_intervention else ""),
                }
            )
        return rows


def file_suffix(compress: str) -> str:
    if compress not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compress!r}; known: {', '.join(COMPRESSIONS)}")
    return COMPRESSIONS[compress]


def _compress(data: bytes, compress: str) -> bytes:
    file_suffix(compress)
    if compress == "Z":
        return ncompress.compress(data)
    if compress == "gz":
        return gzip.compress(data, compresslevel=1, mtime=0)
    return data
