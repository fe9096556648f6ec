"""The dendrogram of one image type and mode: a night's frames among a sample of their history.

Frames are joined by the cosine distance of their descriptors with average linkage,
as in the proof of concept (:func:`core.cluster.descriptor_linkage`). Cutting the tree
at a height gives clusters: frames whose average distance stays under the cut. The
clusters are numbered from the left of the drawn tree, so that cluster 1 is the
leftmost run of leaves; a cut of a tree always gives contiguous runs of leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.cluster import hierarchy

from .cluster import DendrogramData, dendrogram_data, descriptor_linkage

if TYPE_CHECKING:
    from .config import Settings
    from .store import Store

__all__ = ["DEFAULT_CUT_FRACTION", "FrameTree", "cut_tree", "frame_tree", "tree_image_ids"]

DEFAULT_CUT_FRACTION = 0.7
"""The default cut, as a fraction of the highest merge (scipy's colour threshold)."""


@dataclass(frozen=True)
class FrameTree:
    """A dendrogram of frames and what it leaves out.

    Attributes
    ----------
    image_ids
        ``(n,)`` the frames joined, in the rows of the linkage.
    tonight
        ``(n,)`` whether each frame is of the night shown.
    linkage
        ``(n - 1, 4)`` scipy linkage matrix (cosine distance, average linkage).
    tree
        The coordinates of the links and the leaf order (:class:`core.cluster.DendrogramData`).
    without_descriptor
        Frames of the type left out because they have no descriptor of the embedder.
    """

    image_ids: np.ndarray
    tonight: np.ndarray
    linkage: np.ndarray
    tree: DendrogramData
    without_descriptor: int

    @property
    def leaf_ids(self) -> np.ndarray:
        """The image ids left to right as drawn."""
        return self.image_ids[self.tree.leaves]

    @property
    def max_height(self) -> float:
        """The height of the last merge (0 for identical frames)."""
        return float(self.linkage[:, 2].max()) if len(self.linkage) else 0.0

    @property
    def default_cut(self) -> float:
        """A first cut to show: :data:`DEFAULT_CUT_FRACTION` of the highest merge."""
        return DEFAULT_CUT_FRACTION * self.max_height

    def clusters(self, height: float) -> np.ndarray:
        """Cluster number of each frame (rows of the linkage) when the tree is cut at ``height``."""
        return cut_tree(self.linkage, self.tree.leaves, height)


def cut_tree(linkage: np.ndarray, leaves: Sequence[int], height: float) -> np.ndarray:
    """Clusters of a linkage cut at a height, numbered 1, 2, ... from the left of the drawn tree.

    Parameters
    ----------
    linkage
        ``(n - 1, 4)`` scipy linkage matrix.
    leaves
        The leaf order of its dendrogram (row indices left to right).
    height
        Merges above this distance are cut.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` cluster number of each row.
    """
    leaves = np.asarray(leaves, dtype=int)
    if len(linkage) == 0:
        return np.ones(len(leaves), dtype=int)
    flat = hierarchy.fcluster(np.asarray(linkage, dtype=np.float64), height, criterion="distance")
    numbers: dict[int, int] = {}
    for leaf in leaves:
        numbers.setdefault(int(flat[leaf]), len(numbers) + 1)
    return np.array([numbers[int(label)] for label in flat], dtype=int)


def tree_image_ids(
    store: Store,
    settings: Settings,
    night: str,
    instrument: str,
    image_type: str,
    mode: str,
    fingerprint: str,
    history_per_type: int | None = None,
) -> tuple[list[int], list[int]]:
    """The frames of a type's dendrogram: this night's, and a sample of the nights before it.

    Parameters
    ----------
    history_per_type
        Most history frames (spread over the nights); the settings' ``map_history_per_type`` when None.

    Returns
    -------
    tuple of list of int
        This night's image ids and the history's (those of the same mode), ascending.
    """
    per_group = settings.map_history_per_type if history_per_type is None else history_per_type
    tonight = [r.image_id for r in store.image_rows(night=night, instrument=instrument, image_type=image_type, mode=mode)]
    sample = store.sample_image_ids(
        fingerprint, before=night, per_group=per_group, instrument=instrument, image_type=image_type, seed=settings.seed
    )
    history = [r.image_id for r in store.image_rows(sample, mode=mode)] if sample else []
    return sorted(tonight), sorted(history)


def frame_tree(store: Store, tonight_ids: Sequence[int], history_ids: Sequence[int], fingerprint: str) -> FrameTree | None:
    """The dendrogram of some frames by their descriptors; None when fewer than two have one.

    Parameters
    ----------
    store
        Where the descriptors are.
    tonight_ids, history_ids
        The night's frames and the history's (:func:`tree_image_ids`).
    fingerprint
        The embedder whose descriptors are compared.
    """
    wanted = sorted(set(tonight_ids) | set(history_ids))
    found = store.descriptors(wanted, fingerprint)
    ids = np.array([i for i in wanted if i in found], dtype=np.int64)
    if len(ids) < 2:
        return None
    linkage = descriptor_linkage(np.stack([found[int(i)] for i in ids]))
    night = set(tonight_ids)
    return FrameTree(
        image_ids=ids,
        tonight=np.array([int(i) in night for i in ids], dtype=bool),
        linkage=linkage,
        tree=dendrogram_data(linkage),
        without_descriptor=len(wanted) - len(ids),
    )
