"""calspot: the morning spot check of an observatory's calibration frames (the library).

No Streamlit, no plotting, no global state: settings are passed in (:mod:`core.config`).
The command line is :mod:`core.cli`; the nightly job is :func:`core.pipeline.ingest`.
"""
