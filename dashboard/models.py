"""The Models page: what the experts' verdicts taught calspot, which model flags now, and training again.

The instrument scientist sees every trained version (who trained it, when, on what,
how well), which one is active per kind, and the learning figures of the last
training: the F1 of the trained judgement against the unsupervised thresholds per
image type and mode, the type network's loss and accuracy per epoch, its accuracy per
type. Activating a version (rolling back is activating an older one) and training now
both score the stored nights again, so that every report shows the active models'
flags, as ``calspot models --activate`` and ``calspot train`` do. What the page shows
comes from :mod:`dashboard.model_rows` and :mod:`dashboard.model_figures`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from core.config import Settings
from core.models import BAD_FRAMES, IMAGE_TYPES, MODEL_KINDS, weights_path
from core.pipeline import rescore
from core.store import Store, StoredModel, StoreError
from core.train import train
from dashboard import access, model_figures, model_rows, widgets
from dashboard.formatting import escape_markdown
from dashboard.night import empty_store_message

TITLE = "Models"
TRAINER_KEY = "models_trained_by"
TRAIN_MESSAGE = "models_training_outcome"
ACTIVATE_MESSAGE = "models_activation_outcome"
VERSION_KEY = "models_version:{kind}"
MODELS_CHANGED = "models_changed"
NO_MODEL_MESSAGE = (
    "No trained model yet: every flag comes from the unsupervised thresholds. To get one, give verdicts "
    "(accept or reject) on flagged frames on the Night page, then press **Train now** below "
    "(or run `calspot train`)."
)
NO_VERDICT_MESSAGE = (
    "Training needs at least one verdict, and the store has none yet: accept or reject flagged frames on the "
    "Night page (or with `calspot label`), then come back here."
)
RATE_FORMAT = "%.3f"
TABLE_ROW_PX = 35


def page() -> None:
    """Draw the Models page."""
    st.title(TITLE)
    settings = widgets.current_settings()
    store = widgets.current_store(settings)
    if not store.nights():
        st.info(empty_store_message(str(settings.home)), icon="🧠")
        return
    models = store.models()
    if models:
        _headline(settings, models)
        _versions(store, settings, models)
    else:
        st.info(NO_MODEL_MESSAGE, icon="🧠")
    _training(store, settings)
    if models:
        _active_bad_frames(model_rows.active_of(models, BAD_FRAMES))
        _last_training(models)


def _headline(settings: Settings, models: Sequence[StoredModel]) -> None:
    """The active model of each kind and its headline number."""
    bad, types = model_rows.active_of(models, BAD_FRAMES), model_rows.active_of(models, IMAGE_TYPES)
    bad_version, f1_column, types_version, accuracy_column = st.columns(4)
    bad_version.metric(
        "Active bad-frame model",
        bad.version if bad else "none",
        help="Judges each frame with the thresholds and classifier tuned on the verdicts; without one, the unsupervised thresholds decide.",
    )
    f1, versus, colour = model_rows.f1_headline(bad)
    f1_column.metric(
        "F1 on the verdicts",
        f1,
        delta=versus,
        delta_color=colour,
        delta_arrow="auto" if colour == "normal" else "off",
        help="Cross-validated: each judged frame is judged by a model fitted without it. The delta compares it with the "
        "unsupervised thresholds on the same verdicts.",
    )
    types_version.metric(
        "Active image-type network",
        types.version if types else "none",
        help="Says which image type and mode a frame's pixels look like (the 'looks like a LAMP,FLAT; the header says BIAS' reasons).",
    )
    accuracy_column.metric(
        "Type accuracy (held out)",
        model_rows.accuracy_headline(types),
        help="Share of frames the network never saw in training whose image type and mode it named right.",
    )
    if types is not None:
        try:
            weights_path(settings.home, types)
        except ValueError as error:
            st.warning(f"{error}. Scoring uses the nearest-neighbour type check instead; train again to replace it.", icon="⚠️")


def _versions(store: Store, settings: Settings, models: Sequence[StoredModel]) -> None:
    """Every trained version, newest first, and the selects that activate one of a kind."""
    st.subheader("Versions")
    st.dataframe(
        model_rows.model_table(models),
        key="models_table",
        hide_index=True,
        column_config={
            "active": st.column_config.TextColumn("", width=36, help="The active model of its kind: the one scoring uses."),
            "version": st.column_config.TextColumn(width=120),
            "kind": st.column_config.TextColumn(width=140),
            "trained (UTC)": st.column_config.TextColumn(width=130),
            "trained by": st.column_config.TextColumn(width=100),
            "learnt from, and how well it does": st.column_config.TextColumn(
                width=720, help="Bad-frame models: F1 on the verdicts, cross-validated, beside the unsupervised thresholds' F1."
            ),
        },
    )
    st.caption(
        "Activating a version makes it the one that scores its kind, and scores the stored nights again so that every "
        "report shows its flags; activating an older version rolls back."
    )
    message = st.session_state.pop(ACTIVATE_MESSAGE, None)
    if message:
        st.success(message)
    kinds = [kind for kind in MODEL_KINDS if model_rows.of_kind(models, kind)]
    changed = st.session_state.pop(MODELS_CHANGED, False)
    for column, kind in zip(st.columns(len(MODEL_KINDS)), kinds, strict=False):
        with column:
            _activation(store, settings, model_rows.of_kind(models, kind), changed)


def _activation(store: Store, settings: Settings, versions: Sequence[StoredModel], changed: bool) -> None:
    """A select of a kind's versions and the button that activates the chosen one.

    The select shows the active version at first, and again once a training or an
    activation ``changed`` the models (set through the session state, so that the
    browser is told to show it).
    """
    by_version = {m.version: m for m in versions}
    kind = versions[0].kind
    key = VERSION_KEY.format(kind=kind)
    if changed or st.session_state.get(key) not in by_version:
        st.session_state[key] = next((m.version for m in versions if m.active), versions[0].version)
    chosen = st.selectbox(
        f"Version of the {model_rows.kind_name(kind)}",
        list(by_version),
        key=key,
        format_func=lambda version: model_rows.version_label(by_version[version]),
    )
    allowed = access.may(access.logged_in(store), "activate")
    if st.button(
        f"Activate {chosen} and rescore",
        key=f"models_activate:{kind}",
        disabled=by_version[chosen].active or not allowed,
        icon=":material/published_with_changes:",
    ):
        _activate(store, settings, chosen)
    if not allowed:
        st.caption(access.refusal(access.logged_in(store), "activate"))


def _activate(store: Store, settings: Settings, version: str) -> None:
    """Make a version active, score the stored nights again with a progress bar, and say how many frames it flags."""
    if not access.may(access.logged_in(store), "activate"):
        st.error(access.refusal(access.logged_in(store), "activate"))
        return
    try:
        model = store.activate_model(version)
    except (KeyError, StoreError) as error:
        st.error(f"{version} was not activated: {error.args[0] if error.args else error}")
        return
    bar = st.progress(0.0, text=f"Scoring the stored nights again with {version}")
    try:
        flagged = rescore(settings, store=store, progress=_progress_to(bar))
    except (ValueError, StoreError, OSError) as error:
        bar.empty()
        st.error(f"{version} is active, but the stored nights could not be scored again: {error}")
        return
    st.session_state[MODELS_CHANGED] = True
    st.session_state[ACTIVATE_MESSAGE] = (
        f"{model.version} is now the active {model_rows.kind_name(model.kind)}; {model_rows.flagged_words(flagged)}."
    )
    st.rerun()


def _training(store: Store, settings: Settings) -> None:
    """The Train now form (only with verdicts in the store), its progress, and what the last training did."""
    st.subheader("Train now")
    verdicts = len(store.labels())
    if verdicts:
        st.caption(
            f"Fits the bad-frame model on the {verdicts} verdict{'s' if verdicts != 1 else ''} stored and the image-type "
            "network on the frames that stand for normal, makes them the active models, and scores the stored nights "
            "again (what `calspot train` does). It may take a few minutes."
        )
    else:
        st.info(NO_VERDICT_MESSAGE, icon="🏷️")
    account = access.logged_in(store)
    allowed = access.may(account, "train")
    with st.form("models_train", border=False):
        if account is None:
            trainer = st.text_input("Trained by", value=st.session_state.get("reviewer_name", ""), key=TRAINER_KEY, placeholder="your name")
        else:
            trainer = account.name
            st.markdown(f"**Trained by:** {escape_markdown(account.name)}")
        submitted = st.form_submit_button(
            "Train now", type="primary", disabled=not verdicts or not allowed, icon=":material/model_training:"
        )
    if not allowed:
        st.caption(access.refusal(account, "train"))
    outcome = st.session_state.pop(TRAIN_MESSAGE, None)
    if outcome:
        done, notes = outcome
        if done:
            st.success("\n\n".join(escape_markdown(line) for line in done))
        if notes:
            (st.info if done else st.warning)("\n\n".join(escape_markdown(line) for line in notes))
    if submitted and allowed:
        _train(store, settings, trainer)


def _train(store: Store, settings: Settings, trainer: str) -> None:
    """Train with a progress bar; the outcome is shown after the page is drawn again with the new models."""
    if not trainer.strip():
        st.error("Say who trains (Trained by): every model records it.")
        return
    bar = st.progress(0.0, text="Reading the verdicts")
    try:
        result = train(store, settings, trainer.strip(), progress=_progress_to(bar))
    except (ValueError, StoreError, OSError) as error:
        bar.empty()
        st.error(f"Training failed: {error}")
        return
    st.session_state["reviewer_name"] = trainer.strip()
    st.session_state[MODELS_CHANGED] = True
    st.session_state[TRAIN_MESSAGE] = model_rows.training_outcome(result)
    st.rerun()


def _progress_to(bar) -> Callable[[str, int, int], None]:
    """A progress callback of :mod:`core.train` and :func:`core.pipeline.rescore` that moves a progress bar."""

    def report(stage: str, done: int, total: int) -> None:
        bar.progress(model_rows.fraction(done, total), text=model_rows.stage_text(stage, done, total))

    return report


def _active_bad_frames(model: StoredModel | None) -> None:
    """Per image type and mode, what the active bad-frames model learnt and how its flags match the verdicts."""
    if model is None:
        st.subheader("Active bad-frame model")
        st.caption("None is active: every flag comes from the unsupervised thresholds.")
        return
    st.subheader(f"Active bad-frame model {model.version}, per image type and mode")
    table = model_rows.bad_frame_table(model.metrics)
    if table.empty:
        st.caption("It holds no image type: none of its verdicts was on a scored calibration frame.")
        return
    st.caption(
        "Recall, precision and F1 of its flags on the verdicts, cross-validated (each frame judged by a model fitted "
        "without it), beside the F1 of the unsupervised thresholds. The threshold factor multiplies the unsupervised "
        "threshold; a classifier on the z-scores needs two rejected and two accepted frames. None: undefined "
        "(no rejected verdict of that type)."
    )
    st.dataframe(
        table,
        key="models_bad_frames",
        hide_index=True,
        height=_table_height(table),
        column_config={
            "threshold factor": st.column_config.NumberColumn(format="%.2f"),
            "recall": st.column_config.NumberColumn(format=RATE_FORMAT),
            "precision": st.column_config.NumberColumn(format=RATE_FORMAT),
            "F1": st.column_config.NumberColumn(format=RATE_FORMAT),
            "F1 unsupervised": st.column_config.NumberColumn(format=RATE_FORMAT),
        },
    )


def _table_height(table) -> int:
    """A table's height in pixels with every row in view (a model has tens of types, not thousands)."""
    return TABLE_ROW_PX * (len(table) + 1) + 3


def _last_training(models: Sequence[StoredModel]) -> None:
    """The learning figures of the newest model of each kind (active or not)."""
    bad, types = model_rows.newest_of(models, BAD_FRAMES), model_rows.newest_of(models, IMAGE_TYPES)
    st.subheader("Last training")
    st.caption(
        " · ".join(
            f"{m.version}: trained {m.created_at:%Y-%m-%d %H:%M} UTC by {escape_markdown(m.trained_by)}{' (active)' if m.active else ''}"
            for m in (bad, types)
            if m is not None
        )
    )
    table = model_rows.bad_frame_table(bad.metrics) if bad else None
    if table is None or table.empty:
        st.caption("No bad-frame model trained on verdicts yet: no F1 to show.")
    else:
        st.plotly_chart(model_figures.f1_figure(*model_rows.f1_groups(table)), key="models_f1_chart", config={"displaylogo": False})
    if types is None:
        st.caption("No image-type network trained yet: it needs two image types with five good frames each.")
        return
    curves, accuracy = st.columns([2, 3], gap="medium")
    with curves:
        history = types.metrics.get("history") or {}
        if history.get("loss") or history.get("accuracy"):
            st.plotly_chart(model_figures.epochs_figure(history), key="models_epochs_chart", config={"displaylogo": False})
        else:
            st.caption(f"{types.version} stored no learning history.")
    with accuracy:
        st.markdown(f"**Image-type classification by {types.version}** (accuracy on held-out frames)")
        per_type = model_rows.type_accuracy_table(types.metrics)
        st.dataframe(
            per_type,
            key="models_type_accuracy",
            hide_index=True,
            height=_table_height(per_type),
            column_config={
                "held out": st.column_config.NumberColumn(width="small"),
                "accuracy": st.column_config.NumberColumn("accuracy [%]", format="%.2f", width="small"),
            },
        )
