"""Physical quality numbers of one raw calibration image.

What experts check on calibrations every morning (ESO QC1, DESI Nightwatch, Rubin
cp_verify, LCO BANZAI), measured on the raw pixels with numpy and scipy only:

- per amplifier: bias level and read-out noise in the overscan, level and noise of the
  light-sensitive pixels (:mod:`~core.qc.levels`, on the layout of :mod:`~core.qc.layout`);
- the whole image: percentiles, saturation, non-finite pixels (:mod:`~core.qc.levels`,
  :mod:`~core.qc.illumination`), row and column structure, corrupted rows, periodic
  pick-up noise, on biases and darks hot or dead columns (:mod:`~core.qc.structure`),
  cosmic-ray load (:mod:`~core.qc.cosmics`), large-scale illumination: a 3x3 grid and
  gradients (:mod:`~core.qc.illumination`);
- flats: flux, number and contrast of the orders (:mod:`~core.qc.orders`); arcs: flux,
  number, flux and peaks of the emission lines (:mod:`~core.qc.lines`);
- 1-D profiles along both axes, from which the detector measures shifts of orders and
  lines against the reference frames.

:func:`measure_quality` (:mod:`~core.qc.measure`) is the one entry point;
:func:`metric_label` (:mod:`~core.qc.labels`) says what each number is.

Conventions
-----------
- Pixel ``(row, column)`` is numpy's ``(y, x)`` of the array as read from FITS: row 0
  is FITS ``y = 1``, the bottom of the image in ds9.
- *Data* are the light-sensitive pixels of all amplifiers, side by side (pre- and
  overscans removed). *Bias-subtracted* means minus the median of the amplifier's
  overscan where the layout has one, and the raw value otherwise.
- *Robust sigma* is 1.4826 times the median absolute deviation. The *noise* of pixels
  is the robust sigma of differences of horizontal neighbours divided by sqrt(2): the
  read-out order's neighbours, so that structure on scales larger than a pixel (row
  offsets, gradients, orders along the rows) does not inflate it.
- The frame's own noise model, variance = a + b * level (read noise of the overscan
  plus photon noise), fitted on neighbour differences in bins of level, sets the
  thresholds of the cosmic-ray and corrupted-row tests, so that they mean the same on
  a bias and on a bright flat (see :func:`core.qc.noise.fit_noise_model`).
- Integer pixels get a seeded +-0.5 ADU dither before medians are taken, so that
  levels and noise are not stuck to whole ADU (see :func:`core.qc.stats.dither`).
- Cosmic rays are replaced by their neighbours' level before profiles, structure,
  grids and lines are measured.

Speed: every number that needs the whole frame is gathered in one pass over the raw
pixels, compiled by numba (:mod:`~core.qc.frame_pass`: bias subtraction, saturation,
cosmic rays, the sums and the pixels the later numbers read), without a bias-subtracted
copy of the frame; order statistics use a strided subsample of rows (about 2^17 pixels)
and radix selection (:mod:`~core.qc.selection`). numba and scipy are imported by the
functions that use them: reading :data:`QC_VERSION` (a re-ingest of known files) must
not cost a second of imports.
"""

from .labels import metric_label
from .layout import Amplifier, amplifier_layout
from .measure import CATEGORIES, QC_VERSION, Quality, measure_quality

__all__ = [
    "CATEGORIES",
    "QC_VERSION",
    "Amplifier",
    "Quality",
    "amplifier_layout",
    "measure_quality",
    "metric_label",
]
