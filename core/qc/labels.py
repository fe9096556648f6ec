"""Human labels and units of the quality numbers, for the reasons shown to astronomers.

The names of the numbers are a contract between :func:`~core.qc.measure.measure_quality`,
the detector and the reports; the labels say in words what each one is, and in which unit
(the grid and gradients are in ADU on frames without light and relative on flats and arcs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .illumination import RATIO_GRID

_LABELS: Mapping[str, tuple[str, str]] = {
    "bias_level": ("bias level", "ADU"),
    "read_noise": ("read-out noise", "ADU"),
    "level": ("level", "ADU"),
    "noise": ("pixel noise", "ADU"),
    "p01": ("1st percentile", "ADU"),
    "p05": ("5th percentile", "ADU"),
    "p50": ("median", "ADU"),
    "p95": ("95th percentile", "ADU"),
    "p99": ("99th percentile", "ADU"),
    "max": ("maximum", "ADU"),
    "saturated_fraction": ("saturated fraction", "%"),
    "nan_fraction": ("fraction of NaN or infinite pixels", "%"),
    "row_structure": ("row structure (scatter of the row means)", "ADU"),
    "column_structure": ("column structure (scatter of the column means)", "ADU"),
    "bad_row_fraction": ("fraction of corrupted rows", "%"),
    "bad_column_excess": ("summed excess level of hot or dead columns over their neighbours", "ADU"),
    "periodic_noise": ("periodic noise (peak / median power)", ""),
    "periodic_period": ("period of the periodic noise", "px"),
    "cosmic_ray_fraction": ("cosmic-ray fraction", "‰"),
    "flux": ("flux above bias", "ADU"),
    "flux_p99": ("99th percentile of the flux above bias", "ADU"),
    "order_count": ("number of orders", ""),
    "order_contrast": ("order peak / valley ratio", ""),
    "line_count": ("number of arc lines", ""),
    "line_flux": ("total flux in arc lines", "ADU"),
    "line_peak_p90": ("90th percentile of arc-line peaks", "ADU"),
    "profile_bin_rows": ("binning of the row profile", "px"),
    "profile_bin_cols": ("binning of the column profile", "px"),
}


_GRID_ROWS = ("bottom", "middle", "top")
_GRID_COLS = ("left", "centre", "right")


def metric_label(name: str, category: str | None = None) -> tuple[str, str]:
    """Human label and unit of a quality number, for the reasons shown to astronomers.

    Parameters
    ----------
    name
        A metric name, e.g. ``"amp2.level"``, ``"saturated_fraction"``, ``"grid02"``.
    category
        The image category, when known: the grid and gradients are in ADU on biases
        and darks and relative on flats and arcs.

    Returns
    -------
    tuple of str
        ``(label, unit)``, e.g. ``("level, amplifier 2", "ADU")``; an unknown name is
        returned with underscores as spaces and no unit.

    Examples
    --------
    >>> metric_label("amp1.read_noise")
    ('read-out noise, amplifier 1', 'ADU')
    >>> metric_label("grid02", "flat")
    ('level of the bottom-right ninth relative to the whole image', '')
    """
    amplifier = re.fullmatch(r"amp(\w+)\.(\w+)", name)
    if amplifier:
        label, unit = metric_label(amplifier.group(2), category)
        return f"{label}, amplifier {amplifier.group(1)}", unit
    if name in _LABELS:
        return _LABELS[name]
    relative = category in RATIO_GRID
    grid = re.fullmatch(r"grid([0-2])([0-2])", name)
    if grid:
        where = f"{_GRID_ROWS[int(grid.group(1))]}-{_GRID_COLS[int(grid.group(2))]}"
        where = "central" if where == "middle-centre" else where
        if category is None:
            return f"level of the {where} ninth against the whole image (ADU on biases, ratio on flats)", ""
        if relative:
            return f"level of the {where} ninth relative to the whole image", ""
        return f"level of the {where} ninth minus the whole image's", "ADU"
    gradient = re.fullmatch(r"gradient_([xy])", name)
    if gradient:
        label = "horizontal gradient" if gradient.group(1) == "x" else "vertical gradient"
        if category is None:
            return f"{label} (ADU on biases, fraction on flats)", "per 1000 px"
        return (label, "fraction per 1000 px") if relative else (label, "ADU per 1000 px")
    return name.replace("_", " "), ""
