"""calspot's dashboard: ``streamlit run dashboard/app.py``.

The calspot home (settings and store) comes from ``$CALSPOT_HOME``, as for the CLI.
This entry point only sets the page up, asks for a login where the home has reviewer
accounts (:mod:`dashboard.access`), and routes to the pages; each page is one module
of this package with a ``page()`` function.
"""

import streamlit as st

from dashboard import access, dendrogram, frame, history, maps, models, night, widgets


def pages() -> list[st.Page]:
    """The dashboard's pages, in the order of the morning's work; the night report is the default page.

    One flat list, so that the top bar shows every page as a link rather than one menu.
    """
    return [
        st.Page(night.page, title=night.TITLE, icon=":material/nights_stay:", url_path="night", default=True),
        st.Page(frame.page, title=frame.TITLE, icon=":material/image_search:", url_path=widgets.FRAME_URL_PATH),
        st.Page(maps.page, title=maps.TITLE, icon=":material/scatter_plot:", url_path="maps"),
        st.Page(dendrogram.page, title=dendrogram.TITLE, icon=":material/account_tree:", url_path="dendrogram"),
        st.Page(history.page, title=history.TITLE, icon=":material/timeline:", url_path="history"),
        st.Page(models.page, title=models.TITLE, icon=":material/model_training:", url_path="models"),
    ]


def main() -> None:
    """Configure the page, let the reviewer log in (where the home has accounts), and run the page asked for."""
    st.set_page_config(page_title="calspot", page_icon="🔭", layout="wide")
    settings = widgets.current_settings()
    reviewer = access.signed_in(settings, widgets.current_store(settings))
    navigation = st.navigation(pages(), position="top")
    access.account_bar(reviewer)
    navigation.run()


if __name__ == "__main__":
    main()
