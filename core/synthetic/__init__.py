"""Simulator of UVES-like raw calibration frames with injected defects.

calspot needs nights of calibrations whose faults are known, to test the pipeline,
to demonstrate the dashboard and to measure detection quality. This package writes
raw files laid out like those of ESO's UVES echelle spectrograph (blue chip in the
primary HDU; red mosaic of two chips, REDU in extension 1 and REDL in 2; two amplifiers
per chip with pre- and overscans; the header keywords ESO writes and its pipeline reads,
see :mod:`core.synthetic.headers`), with the physics an expert checks
(bias levels and read noise per amplifier, column pattern and hot columns, echelle
orders on flats, ThAr-like lines on arcs, photon noise, cosmic rays, saturation),
slow drifts from night to night, an optional intervention, and one of
:data:`DEFECT_FAMILIES` injected into some frames of the last nights. What was
injected, with its magnitude, goes to ``truth.csv``.

Everything is vectorised float32 numpy and seeded: the same seed gives the same
bytes. Noise uses the Gaussian approximation of photon statistics, which is exact
enough at calibration flux levels and much faster than Poisson draws.

The instrument model and the defects live apart:

- :mod:`~core.synthetic.instrument`: arms, chips, grating settings, the layout of a raw
  chip, the chips as built for a seed, the random streams;
- :mod:`~core.synthetic.optics`: where the echelle orders fall, blaze, scattered light;
- :mod:`~core.synthetic.headers`: the header cards UVES writes and ESO's pipeline reads;
- :mod:`~core.synthetic.defects`: the defect families, the draws of their magnitudes and
  their effects on the pixels;
- :mod:`~core.synthetic.frames`: what is taken (:class:`Exposure`) and what comes out
  (:class:`SimulatedFrame`);
- :mod:`~core.synthetic.simulator`: :class:`UvesSimulator`, the pixel model and the drifts;
- :mod:`~core.synthetic.nights`: :func:`simulate_nights`, the nights on disk and ``truth.csv``.
"""

from .defects import DEFECT_FAMILIES, SEVERITIES, defects_for
from .frames import COMPRESSIONS, Exposure, SimulatedFrame
from .instrument import DPR_TYPES, SETTINGS
from .nights import TRUTH_COLUMNS, TRUTH_FILE, simulate_nights
from .simulator import UvesSimulator, simulate_frame

__all__ = [
    "COMPRESSIONS",
    "DEFECT_FAMILIES",
    "DPR_TYPES",
    "SETTINGS",
    "SEVERITIES",
    "TRUTH_COLUMNS",
    "TRUTH_FILE",
    "Exposure",
    "SimulatedFrame",
    "UvesSimulator",
    "defects_for",
    "simulate_frame",
    "simulate_nights",
]
