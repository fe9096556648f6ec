"""calspot's Streamlit dashboard: ``streamlit run dashboard/app.py``.

The pages only display what :mod:`core` computes and record experts' verdicts
through it; ``formatting`` turns report rows into what the pages show and imports
no Streamlit, so that it is tested like any other library code.
"""
