"""calspot's dashboard: ``streamlit run dashboard/app.py``.

The calspot home (settings and store) comes from ``$CALSPOT_HOME``, as for the CLI.
This entry point only sets the page up and routes to the pages; each page is one
module of this package with a ``page()`` function.
"""

import streamlit as st

from dashboard import night


def pages() -> dict[str, list[st.Page]]:
    """The dashboard's pages by section; the night report is the default page."""
    return {
        "Review": [st.Page(night.page, title=night.TITLE, icon="🌙", url_path="night", default=True)],
    }


def main() -> None:
    """Configure the page and run the one the browser asked for."""
    st.set_page_config(page_title="calspot", page_icon="🔭", layout="wide")
    st.navigation(pages(), position="top").run()


if __name__ == "__main__":
    main()
