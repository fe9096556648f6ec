"""Cosmic rays: found against the frame's noise model, counted, and cleaned away.

Their load is a quality number of its own (a shower, a long exposure), and they are
removed before profiles, structure, grids and arc lines are measured, or a hit would pass
for a hot column, a corrupted row or an arc line. The test runs inside the one pass over
the pixels (:func:`core.qc.frame_pass.scan_frame`), on blocks of rows that stay in the
CPU cache; these are its rules.

A pixel is a cosmic ray (or a hot pixel) when it exceeds the brighter of the mean of its
upper and lower neighbours and the mean of its left and right neighbours by more than 8
sigma (of this difference, 1.16 pixel sigma, at the neighbours' level). Taking the
brighter direction leaves features extended along a row or a column alone (orders, arc
lines, hot columns); a hit of two adjacent pixels still stands out by half its height.
Each block of rows is tested first against the noise at zero level, the smallest; only
where some pixel of the block passes that is each pixel tested against the noise at its
own level. The hits of a block are replaced once the whole block is tested, each by the
brighter of min(up, down) and min(left, right), which skips its own bright neighbours;
the next block sees the last row of this one cleaned.

The test is then repeated on the neighbours of all the hits, once they are cleaned
(:data:`COSMIC_GROWTH` times): the fainter pixel of a two-pixel hit stands out then; a
track along a row or column is not followed to its end. Arc lines narrower than ~2 px in
both directions can look like cosmic rays and lose their peak pixel; on arcs cleaning
matters all the same, or every hit would count as a line, but hits are not grown there,
or such lines would be eaten. The cosmic-ray fraction is the hits' per mille of the
pixels tested (all but the outermost rows and columns).
"""

BLOCK_ROWS = 64  # rows per block of the cosmic-ray test (fits the CPU cache)
COSMIC_SIGMA = 8.0  # a cosmic ray stands this many sigma above its neighbours
COSMIC_SPREAD = 1.16  # sigma of the neighbour test, in units of the pixel noise
COSMIC_GROWTH = 1  # times the test is repeated around the hits once they are cleaned (not on arcs)
