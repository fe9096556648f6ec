"""Trained models are loaded only from the home's model folder, as the files they were trained into."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from core.models import IMAGE_TYPES, GroupJudge, file_sha256, models_folder, squash, weights_path
from core.store import StoredModel


def stored(weights_file: str | None, digest: str | None = None) -> StoredModel:
    return StoredModel(1, "image-types-1", IMAGE_TYPES, "ana", True, {}, {}, {}, weights_file, digest, datetime.now(UTC))


@pytest.fixture
def weights(tmp_path):
    """A home with one weights file in its model folder; the home and the file."""
    folder = models_folder(tmp_path)
    folder.mkdir()
    path = folder / "image-types-1.weights.h5"
    path.write_bytes(b"numbers only")
    return tmp_path, path


def test_the_file_the_store_names_is_loaded_when_it_is_the_one_trained_into(weights):
    home, path = weights
    assert weights_path(home, stored(path.name, file_sha256(path))) == path.resolve()


@pytest.mark.parametrize("name", ["../elsewhere.weights.h5", "/tmp/elsewhere.weights.h5", "sub/../../x.weights.h5"])
def test_a_path_out_of_the_model_folder_is_never_opened(weights, name):
    home, path = weights
    with pytest.raises(ValueError, match="outside"):
        weights_path(home, stored(name, file_sha256(path)))


def test_a_changed_or_missing_file_or_none_is_refused_with_what_is_wrong(weights):
    home, path = weights
    model = stored(path.name, file_sha256(path))
    path.write_bytes(b"numbers only, and more")
    with pytest.raises(ValueError, match="checksum differs"):
        weights_path(home, model)
    path.unlink()
    with pytest.raises(ValueError, match="is missing"):
        weights_path(home, model)
    with pytest.raises(ValueError, match="has no weights file"):
        weights_path(home, replace(model, weights_file=None))


def test_a_judgement_survives_its_json_unchanged():
    group = GroupJudge(
        threshold_factor=0.6,
        verdicts=12,
        rejected=4,
        features=["level", "noise"],
        mean=np.array([0.1, 0.2]),
        scale=np.array([1.0, 2.0]),
        coef=np.array([1.5, -0.5]),
        intercept=-0.3,
        labelled=np.array([[0.0, 1.0], [1.0, 0.0]]),
        reach=0.8,
        accepted_ratio=0.9,
        rejected_ratio=0.5,
    )
    again = GroupJudge.from_json(group.to_json())
    z = {"level": 3.0, "noise": -1.0}
    assert again.judge(5.0, 6.0, z) == group.judge(5.0, 6.0, z)
    assert again.judge(60.0, 6.0, z) == group.judge(60.0, 6.0, z)


def test_a_judgement_stored_before_the_score_range_was_kept_judges_as_it_did():
    stored = GroupJudge(verdicts=12, rejected=4, features=["level"], mean=np.zeros(1), scale=np.ones(1), coef=np.array([-2.0]))
    stored.labelled = np.zeros((1, 1))
    data = stored.to_json()
    del data["accepted_ratio"], data["rejected_ratio"]
    old = GroupJudge.from_json(data)
    assert old.accepted_ratio is None and old.rejected_ratio is None
    assert old.judge(60.0, 6.0, {"level": 0.0}).trust == pytest.approx(12 / 17)


def test_z_scores_far_out_stay_finite_and_ordered():
    values = squash(np.array([-1e300, -10.0, 0.0, 1.0, np.nan, 1e300]))
    assert np.isfinite(values).all() and values[2] == values[4] == 0.0
    assert list(values[[0, 1, 2, 3, 5]]) == sorted(values[[0, 1, 2, 3, 5]])
