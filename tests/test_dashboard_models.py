"""The Models page (AppTest on small homes written through the store's API) and the rows and figures it shows.

The home holds seven nights of bias-like frames (``tests.stored_frames``), scored: two
frames jumped by 30 ADU and are flagged. Models are stored with the store's API and
realistic metrics, or trained through the page from a few verdicts (the home has one
image type, so no type network can be trained: the page says so).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.config import load_settings
from core.models import BAD_FRAMES, IMAGE_TYPES
from core.report import night_report
from core.store import Store, StoredModel, StoreError
from core.train import TrainingResult
from dashboard import model_figures, model_rows
from tests.stored_frames import bias, night_name, scored, store_frames

NIGHTS = 7
PER_NIGHT = 3
JUMPED = {(5, 1), (6, 0)}  # (night, frame) of the frames 30 ADU above the others
BIAS_TYPE, FLAT_TYPE = "MUTCAM_BIAS_ext0", "MUTCAM_FLAT_ext0"
TIMEOUT_S = 90
LEARNT = "learnt from, and how well it does"


def rates(verdicts: int, rejected: int, recall, precision, f1) -> dict:
    return {"verdicts": verdicts, "rejected": rejected, "recall": recall, "precision": precision, "f1": f1}


# A bad-frames model's metrics as core.train stores them: the flats had no rejected verdict (no F1).
BAD_METRICS = {
    "per_type": {
        f"{BIAS_TYPE}|1x1": {
            "image_type": BIAS_TYPE,
            "mode": "1x1",
            "threshold_factor": 0.8,
            "classifier": True,
            "trained": rates(12, 4, 1.0, 0.8, 0.889),
            "unsupervised": rates(12, 4, 0.5, 1.0, 0.667),
        },
        f"{FLAT_TYPE}|1x1": {
            "image_type": FLAT_TYPE,
            "mode": "1x1",
            "threshold_factor": 1.0,
            "classifier": False,
            "trained": rates(3, 0, None, 1.0, None),
            "unsupervised": rates(3, 0, None, 1.0, None),
        },
    },
    "trained": rates(15, 4, 1.0, 0.8, 0.889),
    "unsupervised": rates(15, 4, 0.5, 1.0, 0.667),
}
BAD_COUNTS = {"verdicts": 16, "learnt_from": 15, "rejected": 4, "types": 2}
TYPE_METRICS = {
    "per_type": {
        f"{BIAS_TYPE}|1x1": {"image_type": BIAS_TYPE, "mode": "1x1", "held_out": 5, "accuracy": 1.0},
        f"{FLAT_TYPE}|1x1": {"image_type": FLAT_TYPE, "mode": "1x1", "held_out": 0, "accuracy": None},
    },
    "accuracy": 0.96,
    "held_out": 5,
    "history": {"loss": [1.2, 0.6, 0.3], "accuracy": [0.5, 0.8, 0.95]},
}
TYPE_COUNTS = {"frames": 25, "types": 2, "held_out": 5}


def judge(factor: float) -> dict:
    """Parameters of a bad-frames model whose only judgement multiplies the bias threshold by ``factor``."""
    return {"groups": {f"{BIAS_TYPE}|1x1": {"threshold_factor": factor, "verdicts": 3, "rejected": 1}}}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Seven scored nights of biases, two frames flagged; the home is ``$CALSPOT_HOME``."""
    home = tmp_path / "home"
    monkeypatch.setenv("CALSPOT_HOME", str(home))
    monkeypatch.setenv("CALSPOT_WEIGHTS", "random")
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    settings = load_settings(home)
    store = Store.open(settings)
    rng = np.random.default_rng(3)
    store_frames(store, [bias(rng, n, k, level=30.0 if (n, k) in JUMPED else 0.0) for n in range(NIGHTS) for k in range(PER_NIGHT)])
    for night in range(NIGHTS):
        scored(store, settings, night)
    return home


def open_store(home: Path) -> Store:
    return Store.open(load_settings(home))


def judged(home: Path) -> None:
    """Verdicts on night 5: its flagged frame rejected, the two others accepted."""
    store = open_store(home)
    for row in night_report(store, night_name(5)):
        store.add_label(row["path"], row["ext"], "reject" if row["flagged"] else "accept", "ana")


def with_models(home: Path) -> None:
    """Two bad-frames versions (the newer active) and a type network (no weights file) in the home's store."""
    store = open_store(home)
    store.add_model(BAD_FRAMES, "ana", BAD_COUNTS, BAD_METRICS, judge(0.1))
    store.add_model(BAD_FRAMES, "ben", BAD_COUNTS, BAD_METRICS, judge(1.0))
    store.add_model(IMAGE_TYPES, "ben", TYPE_COUNTS, TYPE_METRICS, {})


def models_page() -> None:
    from dashboard import models

    models.page()


def open_page(**state) -> AppTest:
    """A fresh session of the Models page, with some session state set first, run once."""
    at = AppTest.from_function(models_page, default_timeout=TIMEOUT_S)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def flagged_total(store: Store) -> int:
    return sum(row["flagged"] for night in store.nights() for row in night_report(store, night))


def table_with(at: AppTest, column: str):
    """The first table of the page with this column (the versions, the bad-frame table, the type accuracy)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def chart(at: AppTest, index: int) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


# The page.


def dashboard_pages() -> None:
    import streamlit as st

    from dashboard import app

    st.text(" ".join(f"{p.url_path}:{p.title}" for p in app.pages()))


def test_the_page_follows_history_in_the_dashboard() -> None:
    at = AppTest.from_function(dashboard_pages, default_timeout=TIMEOUT_S).run()
    pages = at.text[0].value.split()
    assert pages[pages.index("history:History") + 1] == "models:Models"


def test_an_empty_home_says_how_to_fill_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALSPOT_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    at = open_page()
    assert at.title[0].value == "Models"
    assert "calspot ingest PATH" in at.info[0].value


def test_without_models_or_verdicts_the_page_says_how_to_get_a_model_and_cannot_train(home: Path) -> None:
    at = open_page()
    info = [i.value for i in at.info]
    assert any("No trained model yet" in text and "Night page" in text and "calspot train" in text for text in info)
    assert any("Training needs at least one verdict" in text for text in info)
    assert button(at, "Train now").disabled
    assert not at.get("plotly_chart") and not at.dataframe


def test_stored_models_with_their_versions_metrics_and_figures(home: Path) -> None:
    with_models(home)
    at = open_page()
    headline = {m.label: (m.value, m.proto.delta) for m in at.metric}
    assert headline["Active bad-frame model"][0] == "bad-frames-2"
    assert headline["F1 on the verdicts"] == ("0.889", "+0.222 vs unsupervised 0.667")
    assert headline["Active image-type network"][0] == "image-types-1"
    assert headline["Type accuracy (held out)"][0] == "96.00 %"
    # The type network's weights file is missing: scoring cannot use it, and the page says so.
    assert "image-types-1" in at.warning[0].value and "nearest-neighbour type check" in at.warning[0].value

    versions = table_with(at, LEARNT)
    assert list(versions["version"]) == ["image-types-1", "bad-frames-2", "bad-frames-1"]
    assert list(versions["active"]) == ["●", "●", ""]
    assert list(versions["trained by"]) == ["ben", "ben", "ana"]
    assert versions[LEARNT][0] == "25 frames of 2 types and modes; accuracy 96.00 % on 5 held-out frames"
    assert versions[LEARNT][1] == "15 verdicts (4 rejected) on 2 types and modes; F1 0.889 cross-validated (unsupervised 0.667)"

    per_type = table_with(at, "threshold factor")
    assert list(per_type["image type"]) == [BIAS_TYPE, FLAT_TYPE, "all types"]
    assert list(per_type["F1"][:1]) == [pytest.approx(0.889)] and math.isnan(per_type["F1"][1])

    f1 = chart(at, 0)
    assert [t["name"] for t in f1["data"]] == ["trained on the verdicts (cross-validated)", "unsupervised thresholds"]
    assert f1["data"][0]["text"] == ["0.89", "-"]
    epochs = chart(at, 1)
    assert [t["x"] for t in epochs["data"]] == [[1, 2, 3], [1, 2, 3]]
    accuracy = table_with(at, "held out")
    assert list(accuracy["held out"]) == [5, 0, 5]
    assert math.isnan(accuracy["accuracy"][1]) and accuracy["accuracy"][2] == pytest.approx(96.0)


def test_rolling_back_through_the_page_activates_the_older_version_and_rescores(home: Path) -> None:
    with_models(home)
    store = open_store(home)
    before = flagged_total(store)
    at = open_page()
    assert at.selectbox(key="models_version:bad-frames").value == "bad-frames-2"
    assert button(at, "Activate bad-frames-2 and rescore").disabled  # already active
    at.selectbox(key="models_version:bad-frames").set_value("bad-frames-1").run()
    button(at, "Activate bad-frames-1 and rescore").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.active_model(BAD_FRAMES).version == "bad-frames-1"
    assert store.active_model(IMAGE_TYPES).version == "image-types-1"  # the other kind is left as it was
    # bad-frames-1 puts the bias threshold at a tenth: the nights scored again flag more frames.
    after = flagged_total(store)
    assert after > before
    assert f"bad-frames-1 is now the active bad-frame model; {NIGHTS} nights scored again: {after} frames flagged." in [
        s.value for s in at.success
    ]
    assert all("bad-frames-1" in row["model_version"] for row in night_report(store, night_name(NIGHTS - 1)))
    assert list(table_with(at, LEARNT)["active"]) == ["●", "", "●"]
    assert at.selectbox(key="models_version:bad-frames").value == "bad-frames-1"


def test_training_through_the_page_stores_an_active_bad_frame_model_and_says_what_it_could_not_train(home: Path) -> None:
    judged(home)
    at = open_page()
    assert "3 verdicts stored" in at.caption[0].value
    at.text_input(key="models_trained_by").input("ana")
    button(at, "Train now").click().run()
    assert not at.exception, [e.value for e in at.exception]
    store = open_store(home)
    [model] = store.models()
    assert (model.version, model.kind, model.trained_by, model.active) == ("bad-frames-1", BAD_FRAMES, "ana", True)
    [done] = [s.value for s in at.success]
    assert "Trained bad-frames-1, now the active bad-frame model: 3 verdicts (1 rejected)" in done
    assert f"{NIGHTS} nights scored again" in done
    assert any("No image-type network: an image-type network needs two types" in i.value for i in at.info)
    assert list(table_with(at, LEARNT)["version"]) == ["bad-frames-1"]
    assert all("bad-frames-1" in row["model_version"] for row in night_report(store, night_name(NIGHTS - 1)))
    assert at.session_state["reviewer_name"] == "ana"


def test_training_needs_the_name_of_who_trains(home: Path) -> None:
    judged(home)
    at = open_page()
    button(at, "Train now").click().run()
    assert "Say who trains" in at.error[0].value
    assert open_store(home).models() == []


def test_the_reviewer_name_given_elsewhere_is_offered(home: Path) -> None:
    judged(home)
    at = open_page(reviewer_name="ben")
    assert at.text_input(key="models_trained_by").value == "ben"


def test_a_training_that_fails_says_why_in_one_line(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    judged(home)

    def fails(*args, **kwargs):
        raise StoreError("the store is read-only")

    monkeypatch.setattr("dashboard.models.train", fails)
    at = open_page(reviewer_name="ana")
    button(at, "Train now").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Training failed: the store is read-only"]


# The rows and figures.


def stored(kind: str, version: str, model_id: int, *, active: bool, metrics: dict, counts: dict) -> StoredModel:
    return StoredModel(model_id, version, kind, "ana", active, counts, metrics, {}, None, None, datetime(2025, 3, model_id, 14, 5))


def test_the_model_table_marks_the_active_version_and_says_what_each_learnt() -> None:
    models = [
        stored(IMAGE_TYPES, "image-types-1", 3, active=True, metrics=TYPE_METRICS, counts=TYPE_COUNTS),
        stored(BAD_FRAMES, "bad-frames-2", 2, active=False, metrics={"trained": {}, "unsupervised": {}}, counts={}),
        stored(BAD_FRAMES, "bad-frames-1", 1, active=True, metrics=BAD_METRICS, counts=BAD_COUNTS),
    ]
    table = model_rows.model_table(models)
    assert list(table.columns) == model_rows.MODEL_COLUMNS
    assert list(table["active"]) == ["●", "", "●"]
    assert list(table["kind"]) == ["image-type network", "bad-frame model", "bad-frame model"]
    assert list(table["trained (UTC)"]) == ["2025-03-03 14:05", "2025-03-02 14:05", "2025-03-01 14:05"]
    assert table[LEARNT][1] == "0 verdicts (0 rejected) on 0 types and modes; F1 -"
    assert table[LEARNT][2].endswith("F1 0.889 cross-validated (unsupervised 0.667)")
    # A rollback: the newest model is not the active one.
    assert model_rows.active_of(models, BAD_FRAMES).version == "bad-frames-1"
    assert model_rows.newest_of(models, BAD_FRAMES).version == "bad-frames-2"
    assert model_rows.active_of(models[1:], IMAGE_TYPES) is None


def test_the_bad_frame_table_with_undefined_rates() -> None:
    table = model_rows.bad_frame_table(BAD_METRICS)
    assert list(table.columns) == model_rows.BAD_FRAME_COLUMNS
    assert list(table["image type"]) == [BIAS_TYPE, FLAT_TYPE, "all types"]
    assert list(table["verdicts"]) == [12, 3, 15] and list(table["rejected"]) == [4, 0, 4]
    assert list(table["classifier"]) == ["yes", "no", ""]
    assert table["threshold factor"][0] == pytest.approx(0.8) and math.isnan(table["threshold factor"][2])
    assert math.isnan(table["recall"][1]) and math.isnan(table["F1"][1]) and math.isnan(table["F1 unsupervised"][1])
    assert table["precision"][1] == 1.0
    assert (table["F1"][2], table["F1 unsupervised"][2]) == (pytest.approx(0.889), pytest.approx(0.667))
    assert model_rows.bad_frame_table({"per_type": {}, "trained": {}, "unsupervised": {}}).empty


def test_the_type_accuracy_table_in_per_cent() -> None:
    table = model_rows.type_accuracy_table(TYPE_METRICS)
    assert list(table["image type"]) == [BIAS_TYPE, FLAT_TYPE, "all types"]
    assert table["accuracy"][0] == pytest.approx(100.0) and math.isnan(table["accuracy"][1])
    assert model_rows.type_accuracy_table({}).empty


def test_headlines_and_undefined_ones() -> None:
    bad = stored(BAD_FRAMES, "bad-frames-1", 1, active=True, metrics=BAD_METRICS, counts=BAD_COUNTS)
    assert model_rows.f1_headline(bad) == ("0.889", "+0.222 vs unsupervised 0.667", "normal")
    same = {"trained": rates(3, 1, 1.0, 1.0, 1.0), "unsupervised": rates(3, 1, 1.0, 1.0, 1.0)}
    assert model_rows.f1_headline(stored(BAD_FRAMES, "bad-frames-3", 3, active=True, metrics=same, counts={})) == (
        "1.000",
        "same as unsupervised",
        "off",
    )
    undefined = stored(BAD_FRAMES, "bad-frames-2", 2, active=True, metrics={"trained": rates(3, 0, None, 1.0, None)}, counts={})
    assert model_rows.f1_headline(undefined) == ("-", None, "off")
    assert model_rows.f1_headline(None) == ("-", None, "off")
    network = stored(IMAGE_TYPES, "image-types-1", 3, active=True, metrics=TYPE_METRICS, counts=TYPE_COUNTS)
    assert model_rows.accuracy_headline(network) == "96.00 %"
    assert model_rows.accuracy_headline(None) == "-"


def test_progress_words() -> None:
    assert model_rows.stage_text("bad-frame model", 0, 1) == "Fitting the bad-frame model on the verdicts"
    assert model_rows.stage_text("type network (held-out check)", 12, 40) == "Type network, held-out check: epoch 12 of 40"
    assert model_rows.stage_text("type network", 40, 40) == "Type network, on every frame: epoch 40 of 40"
    assert model_rows.stage_text("score", 3, 9) == "Scoring the stored nights again: night 3 of 9"
    assert model_rows.fraction(3, 9) == pytest.approx(1 / 3)
    assert model_rows.fraction(0, 0) == 1.0


def test_what_a_training_did_in_words() -> None:
    bad = stored(BAD_FRAMES, "bad-frames-1", 1, active=True, metrics=BAD_METRICS, counts=BAD_COUNTS)
    done, notes = model_rows.training_outcome(
        TrainingResult(models=[bad], rescored={"2025-03-01": 1, "2025-03-02": 0}, notes=["no image-type network: one type only"])
    )
    assert done == [
        "Trained bad-frames-1, now the active bad-frame model: 15 verdicts (4 rejected) on 2 types and modes; "
        "F1 0.889 cross-validated (unsupervised 0.667).",
        "2 nights scored again: 1 frame flagged with the new models.",
    ]
    assert notes == ["No image-type network: one type only."]
    assert model_rows.training_outcome(TrainingResult(notes=["no bad-frame model: no verdict yet"])) == (
        [],
        ["No bad-frame model: no verdict yet."],
    )


def test_the_f1_figure_draws_no_bar_where_f1_is_undefined() -> None:
    names, trained, unsupervised, verdicts = model_rows.f1_groups(model_rows.bad_frame_table(BAD_METRICS))
    assert names == [f"{BIAS_TYPE} · 1x1", f"{FLAT_TYPE} · 1x1"] and verdicts == [12, 3]
    figure = model_figures.f1_figure([*names, "<b>odd</b> · no mode"], [*trained, 1.0], [*unsupervised, 0.5], [*verdicts, 1])
    mine, theirs = figure.data
    assert list(mine.x) == [pytest.approx(0.889), 0.0, 1.0] and list(mine.text) == ["0.89", "-", "1.00"]
    assert list(theirs.x) == [pytest.approx(0.667), 0.0, 0.5]
    assert mine.y[0] == f"{BIAS_TYPE} · 1x1<br>12 verdicts" and mine.y[2] == "&lt;b&gt;odd&lt;/b&gt; · no mode<br>1 verdict"
    many = model_figures.f1_figure([f"T{i}" for i in range(12)], [0.5] * 12, [0.5] * 12, [2] * 12)
    assert many.layout.height > figure.layout.height  # every type keeps its row readable


def test_the_epochs_figure_puts_accuracy_in_per_cent_on_its_own_axis() -> None:
    figure = model_figures.epochs_figure(TYPE_METRICS["history"])
    loss, accuracy = figure.data
    assert list(loss.x) == [1, 2, 3] and list(loss.y) == [1.2, 0.6, 0.3]
    assert list(accuracy.y) == pytest.approx([50.0, 80.0, 95.0]) and accuracy.yaxis == "y2"
    [only] = model_figures.epochs_figure({"loss": [0.5, 0.4]}).data
    assert only.name == "loss (cross-entropy)"
