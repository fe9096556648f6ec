"""The dendrogram of a type: this night's frames among a sample of their history, cut into clusters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.cluster import hierarchy

from core.config import load_settings
from core.dendrogram import cut_tree, frame_tree, tree_image_ids
from core.embed import expected_fingerprint
from core.store import Store
from tests.analytics_home import (  # noqa: F401 (fixture)
    ARC,
    BIAS,
    BIASES_PER_NIGHT,
    FLAGGED_FILE,
    LAST_NIGHT,
    NIGHTS,
    analytics_home,
    make_home,
)


def opened(home: Path):
    settings = load_settings(home)
    return Store.open(settings), settings, expected_fingerprint(settings)


def test_tonight_among_its_history(analytics_home: Path) -> None:
    store, settings, fingerprint = opened(analytics_home)
    tonight, history = tree_image_ids(store, settings, LAST_NIGHT, "UVES", BIAS, "1x1", fingerprint)
    assert len(tonight) == BIASES_PER_NIGHT and len(history) == BIASES_PER_NIGHT * (len(NIGHTS) - 1)
    assert {r.night for r in store.image_rows(history)} == set(NIGHTS[:-1])
    few = tree_image_ids(store, settings, LAST_NIGHT, "UVES", BIAS, "1x1", fingerprint, history_per_type=2)[1]
    assert len(few) == 2
    tree = frame_tree(store, tonight, history, fingerprint)
    assert len(tree.image_ids) == len(tonight) + len(history) and tree.without_descriptor == 0
    assert tree.tonight.sum() == BIASES_PER_NIGHT
    assert tree.linkage.shape == (len(tree.image_ids) - 1, 4)
    assert sorted(tree.leaf_ids.tolist()) == sorted(tonight + history)
    assert 0 < tree.default_cut < tree.max_height <= 1.0


def test_the_odd_frame_is_a_cluster_of_its_own(analytics_home: Path) -> None:
    store, settings, fingerprint = opened(analytics_home)
    tree = frame_tree(store, *tree_image_ids(store, settings, LAST_NIGHT, "UVES", BIAS, "1x1", fingerprint), fingerprint)
    labels = tree.clusters(tree.default_cut)
    flagged = next(r.image_id for r in store.image_rows(tree.image_ids.tolist()) if r.path.endswith(FLAGGED_FILE))
    alone = labels[list(tree.image_ids).index(flagged)]
    assert labels.max() == 2 and (labels == alone).sum() == 1
    assert len(set(tree.clusters(0.0))) == len(tree.image_ids)
    assert set(tree.clusters(tree.max_height + 0.01)) == {1}


def test_clusters_are_numbered_from_the_left() -> None:
    generator = np.random.default_rng(0)
    descriptors = np.repeat(np.eye(6)[:4], 5, axis=0) + 0.01 * generator.standard_normal((20, 6))
    linkage = hierarchy.linkage(descriptors, "average", metric="cosine")
    leaves = hierarchy.dendrogram(linkage, no_plot=True)["leaves"]
    labels = cut_tree(linkage, leaves, 0.5)
    along = labels[leaves].tolist()
    assert along == sorted(along) and sorted(set(along)) == [1, 2, 3, 4]
    assert cut_tree(np.empty((0, 4)), [0], 0.5).tolist() == [1]


def test_one_frame_or_no_descriptors_make_no_tree(analytics_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, settings, fingerprint = opened(analytics_home)
    tonight, history = tree_image_ids(store, settings, LAST_NIGHT, "UVES", ARC, "580", fingerprint)
    assert (len(tonight), history) == (1, [])
    assert frame_tree(store, tonight, history, fingerprint) is None
    bare, settings, fingerprint = opened(make_home(tmp_path / "bare", monkeypatch, described=False))
    ids = tree_image_ids(bare, settings, LAST_NIGHT, "UVES", BIAS, "1x1", fingerprint)
    assert len(ids[0]) == BIASES_PER_NIGHT and ids[1] == []  # the history sample needs descriptors
    assert frame_tree(bare, *ids, fingerprint) is None
