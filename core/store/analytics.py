"""What the maps and clusterings need from the store: samples of the history, and their results.

A map or a clustering is computed once and stored under a key that names everything
it depends on (the set of images, the method, its parameters, the embedder
fingerprint); saving the same key again changes nothing. Its arrays are ``.npy``
bytes. The sample of a type's history is drawn in the database, through its indexes
and the nights of each type (``type_nights``), so that it costs the same on a store of
a million images as on one of a thousand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from itertools import groupby
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, ColumnElement, Connection, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from .database import transaction
from .queries import StorePart, chunks, descriptor_of_image
from .records import StoredClustering, StoredMap, pack_array, unpack_array
from .schema import Clustering, Descriptor, File, Image, Label, Map, Score, TypeNight

# Nights are visited in the order of the fractional parts of i * (golden ratio): every
# prefix of that order is spread evenly over the nights (its gaps take at most three sizes).
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
# Frames within a night are ranked by a seeded permutation of their ids (modulo a prime).
_PRIME = 2_147_483_647
_NIGHTS_PER_QUERY = 5_000


class AnalyticsPart(StorePart):
    """Samples of the history, stored maps and stored clusterings."""

    def sample_image_ids(
        self,
        fingerprint: str,
        *,
        before: str | None = None,
        per_group: int,
        instrument: str | None = None,
        image_type: str | None = None,
        seed: int = 0,
    ) -> list[int]:
        """Up to ``per_group`` images of each (image type, mode), spread over its nights.

        Only images with a descriptor of ``fingerprint`` count, from nights before
        ``before`` (every night when None); copies of a file stored under another path
        are left out. A group with more nights than ``per_group`` gives one image from
        each of ``per_group`` nights spread evenly over its history; a group with fewer
        nights gives every night its share. The same seed gives the same sample.

        Returns
        -------
        list of int
            Image ids, ascending.
        """
        if per_group <= 0:
            return []
        conditions = []
        if instrument is not None:
            conditions.append(Image.instrument == instrument)
        if image_type is not None:
            conditions.append(Image.image_type == image_type)
        rng = np.random.default_rng(seed)
        offset = float(rng.random())
        multiplier, shift = (int(v) for v in rng.integers(1, _PRIME, size=2))
        sampled: list[int] = []
        with self._sessions() as session:
            connection = session.connection()  # plain rows: no ORM loading
            for group_type, group_mode in _groups(connection, conditions):
                in_group = [*conditions, Image.image_type == group_type, Image.mode == group_mode]
                nights = _nights(connection, group_type, group_mode, instrument, before)
                order = [nights[i] for i in np.argsort((offset + np.arange(len(nights)) * _GOLDEN) % 1.0, kind="stable")]
                ranked = partial(_ranked_images, connection, in_group, fingerprint, multiplier, shift)
                sampled += _spread(order, per_group, ranked)
        return sorted(sampled)

    def revision(self) -> tuple[int, ...]:
        """A token that changes whenever frames, descriptors, scores, verdicts or maps are added.

        The dashboard keeps what it derives from the store (a map with its frames' rows,
        say) under this token, and so reads it anew after an ingest, a rescore or a
        verdict, by any process. These tables only grow; the number of images is counted
        as well, for a store whose newest image was removed.
        """
        tables = (Image.id, Descriptor.id, Score.id, Label.id, Map.id)
        with self._sessions() as session:
            newest = session.execute(select(*(select(func.coalesce(func.max(column), 0)).scalar_subquery() for column in tables))).one()
            images = session.execute(select(func.count()).select_from(Image)).scalar_one()
        return (*(int(value) for value in newest), int(images))

    def save_map(
        self,
        key: str,
        scope: str,
        method: str,
        params: Mapping[str, Any],
        fingerprint: str,
        image_ids: Sequence[int],
        coordinates: np.ndarray,
    ) -> None:
        """Store a map's coordinates (``coordinates[i]`` is where ``image_ids[i]`` sits); once per key.

        Raises
        ------
        ValueError
            The coordinates are not one (x, y) pair per image.
        """
        ids = np.asarray(image_ids, np.int64).reshape(-1)
        points = np.asarray(coordinates, np.float32)
        if points.shape != (len(ids), 2):
            raise ValueError(f"a map needs one (x, y) per image: {len(ids)} images, coordinates of shape {points.shape}")
        self._save_once(
            Map(
                key=key,
                scope=scope,
                method=method,
                params=dict(params),
                fingerprint=fingerprint,
                images=len(ids),
                image_ids=pack_array(ids),
                coordinates=pack_array(points),
            )
        )

    def stored_map(self, key: str) -> StoredMap | None:
        """The map stored under a key, or None."""
        with self._sessions() as session:
            row = session.scalars(select(Map).where(Map.key == key)).first()
        return None if row is None else _stored_map(row)

    def latest_map(self, scope: str, method: str, fingerprint: str) -> StoredMap | None:
        """The newest map of a scope by one method and embedder, or None."""
        with self._sessions() as session:
            row = session.scalars(
                select(Map).where(Map.scope == scope, Map.method == method, Map.fingerprint == fingerprint).order_by(Map.id.desc()).limit(1)
            ).first()
        return None if row is None else _stored_map(row)

    def save_clustering(
        self,
        key: str,
        scope: str,
        method: str,
        params: Mapping[str, Any],
        fingerprint: str,
        image_ids: Sequence[int],
        labels: np.ndarray,
        names: Mapping[int, str],
    ) -> None:
        """Store a clustering (``labels[i]`` is the cluster of ``image_ids[i]``) and its clusters' names; once per key.

        Raises
        ------
        ValueError
            The labels are not one integer per image.
        """
        ids = np.asarray(image_ids, np.int64).reshape(-1)
        clusters = np.asarray(labels)
        if clusters.shape != (len(ids),) or not (clusters.size == 0 or np.issubdtype(clusters.dtype, np.integer)):
            raise ValueError(
                f"a clustering needs one integer label per image: {len(ids)} images, labels {clusters.dtype} of shape {clusters.shape}"
            )
        self._save_once(
            Clustering(
                key=key,
                scope=scope,
                method=method,
                params=dict(params),
                fingerprint=fingerprint,
                images=len(ids),
                image_ids=pack_array(ids),
                labels=pack_array(clusters.astype(np.int64)),
                names={str(int(k)): str(v) for k, v in names.items()},
            )
        )

    def stored_clustering(self, key: str) -> StoredClustering | None:
        """The clustering stored under a key, or None."""
        with self._sessions() as session:
            row = session.scalars(select(Clustering).where(Clustering.key == key)).first()
        if row is None:
            return None
        return StoredClustering(
            key=row.key,
            scope=row.scope,
            method=row.method,
            params=dict(row.params or {}),
            fingerprint=row.fingerprint,
            image_ids=unpack_array(row.image_ids),
            labels=unpack_array(row.labels),
            names={int(k): v for k, v in (row.names or {}).items()},
            created_at=row.created_at,
        )

    def _save_once(self, row: Map | Clustering) -> None:
        """Insert a map or clustering unless its key is stored (by this process or another, meanwhile)."""
        table = type(row)
        try:
            with transaction(self._sessions) as session:
                if session.scalars(select(table.id).where(table.key == row.key)).first() is None:
                    session.add(row)
        except IntegrityError:
            with self._sessions() as session:
                if session.scalars(select(table.id).where(table.key == row.key)).first() is None:
                    raise


def _stored_map(row: Map) -> StoredMap:
    return StoredMap(
        key=row.key,
        scope=row.scope,
        method=row.method,
        params=dict(row.params or {}),
        fingerprint=row.fingerprint,
        image_ids=unpack_array(row.image_ids),
        coordinates=unpack_array(row.coordinates),
        created_at=row.created_at,
    )


def _groups(connection: Connection, conditions: list) -> list[tuple[str, str]]:
    """The distinct (image type, mode) pairs among the images, one index seek each (a loose index scan).

    The types first, each the smallest after the one before, then each type's modes
    the same way: every step a seek of the images' type index, whatever the number of
    images.
    """
    groups: list[tuple[str, str]] = []
    image_type = _smallest(connection, Image.image_type, conditions)
    while image_type is not None:
        of_type = [*conditions, Image.image_type == image_type]
        mode = _smallest(connection, Image.mode, of_type)
        while mode is not None:
            groups.append((image_type, mode))
            mode = _smallest(connection, Image.mode, of_type, after=mode)
        image_type = _smallest(connection, Image.image_type, conditions, after=image_type)
    return groups


def _smallest(connection: Connection, column: InstrumentedAttribute, conditions: list, after: str | None = None) -> str | None:
    """The smallest value of an image column among the images that meet the conditions (after ``after``), or None."""
    later = [] if after is None else [column > after]
    return connection.execute(select(func.min(column)).where(*conditions, *later)).scalar()


def _nights(connection: Connection, image_type: str, mode: str, instrument: str | None, before: str | None) -> list[str]:
    """The nights with images of a type and mode (of an instrument, before a night), oldest first.

    Read from ``type_nights``, a few thousand rows for ten years of a type, not from its
    images, and handed over joined in one string (nights hold no comma).
    """
    conditions = [TypeNight.image_type == image_type, TypeNight.mode == mode]
    if instrument is not None:
        conditions.append(TypeNight.instrument == instrument)
    if before is not None:
        conditions.append(TypeNight.night < before)
    joined = connection.execute(select(func.aggregate_strings(TypeNight.night, ",")).where(*conditions)).scalar()
    return sorted(dict.fromkeys(joined.split(","))) if joined else []


def _ranked_images(
    connection: Connection,
    in_group: list,
    fingerprint: str,
    multiplier: int,
    shift: int,
    nights: Sequence[str],
    quota: int,
) -> list[tuple[int, str, int]]:
    """(image id, night, rank within its night) of the first ``quota`` described images of each night.

    The images of each night are ranked by a seeded permutation of their ids; only
    images with a descriptor of ``fingerprint`` that are not copies count. The ranking
    reads the images' index alone, and only each night's first ``quota`` are then
    looked up for a descriptor: a night of hundreds of images costs a few lookups. A
    night where one of them has no descriptor is ranked again with every image looked
    up, so that the answer is the same either way.
    """
    permuted = (cast(Image.id, BigInteger) * multiplier + shift) % _PRIME
    found: list[tuple[int, str, int]] = []
    for start in range(0, len(nights), _NIGHTS_PER_QUERY):
        conditions = [*in_group, Image.night.in_(nights[start : start + _NIGHTS_PER_QUERY])]
        if quota == 1:
            candidates, sizes = _first_of_nights(connection, conditions, permuted, multiplier, shift)
        else:
            candidates, sizes = _firsts_of_nights(connection, conditions, multiplier, shift, quota)
        described = _described(connection, [i for ids in candidates.values() for i in ids], fingerprint)
        short = [night for night, ids in candidates.items() if len(ids) < sizes[night] and not described.issuperset(ids)]
        for night, ids in candidates.items():
            if night not in short:
                found += [(image_id, night, k + 1) for k, image_id in enumerate(i for i in ids if i in described)]
        if short:
            found += _ranked_described(connection, [*in_group, Image.night.in_(short)], fingerprint, permuted, quota)
    return found


def _first_of_nights(
    connection: Connection, conditions: list, permuted: ColumnElement[int], multiplier: int, shift: int
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Each night's first image in the permutation, and its number of images: one row per night.

    The database gives each night's smallest permuted id, and the permutation is undone
    here, modulo the prime (where ``multiplier`` has an inverse): a night of hundreds of
    images sends one row, not its hundreds of ids.
    """
    rows = connection.execute(select(Image.night, func.min(permuted), func.count()).where(*conditions).group_by(Image.night)).all()
    inverse = pow(multiplier, -1, _PRIME)
    return {night: [(smallest - shift) * inverse % _PRIME] for night, smallest, _ in rows}, {night: images for night, _, images in rows}


def _firsts_of_nights(
    connection: Connection, conditions: list, multiplier: int, shift: int, quota: int
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Each night's first ``quota`` images in the permutation, and its number of images."""
    rows = connection.execute(select(Image.night, Image.id).where(*conditions)).all()
    rows.sort(key=lambda row: (row[0], (row[1] * multiplier + shift) % _PRIME))
    ranked = {night: [image_id for _, image_id in group] for night, group in groupby(rows, key=lambda row: row[0])}
    return {night: ids[:quota] for night, ids in ranked.items()}, {night: len(ids) for night, ids in ranked.items()}


def _described(connection: Connection, image_ids: Sequence[int], fingerprint: str) -> set[int]:
    """Which of these images have a descriptor of ``fingerprint`` and are not copies of a file stored under another path."""
    usable: set[int] = set()
    for chunk in chunks(image_ids):
        usable.update(
            connection.execute(
                select(Image.id)
                .join(File, Image.file_id == File.id)
                .join(Descriptor, descriptor_of_image(fingerprint))
                .where(Image.id.in_(chunk), File.duplicate_of.is_(None))
            )
            .scalars()
            .all()
        )
    return usable


def _ranked_described(
    connection: Connection, conditions: list, fingerprint: str, permuted: ColumnElement[int], quota: int
) -> list[tuple[int, str, int]]:
    """(image id, night, rank) of the first ``quota`` described images of each night, every image looked up."""
    rank = func.row_number().over(partition_by=Image.night, order_by=permuted)
    ranked = (
        select(Image.id, Image.night, rank.label("rank"))
        .join(File, Image.file_id == File.id)
        .join(Descriptor, descriptor_of_image(fingerprint))
        .where(*conditions, File.duplicate_of.is_(None))
        .subquery()
    )
    return [tuple(row) for row in connection.execute(select(ranked.c.id, ranked.c.night, ranked.c.rank).where(ranked.c.rank <= quota))]


def _spread(order: Sequence[str], per_group: int, ranked: Callable[[Sequence[str], int], list[tuple[int, str, int]]]) -> list[int]:
    """Up to ``per_group`` image ids from nights visited in ``order``, as evenly as the nights allow.

    ``ranked(nights, quota)`` gives the first ``quota`` images of each of those nights
    (fewer where a night has fewer with a descriptor). With at least as many nights as
    images wanted, one image per night, the nights taken in order, skipping those
    without any; otherwise, or when the nights ran out, a share per night: first every
    night's first image, then every night's second, and so on.
    """
    if not order:
        return []
    if len(order) >= per_group:
        picked: list[int] = []
        start = 0
        while len(picked) < per_group and start < len(order):
            chosen = order[start : start + per_group - len(picked)]
            start += len(chosen)
            picked += [image_id for image_id, _, _ in ranked(chosen, 1)]
        if len(picked) == per_group or not picked:
            return picked
    position = {night: k for k, night in enumerate(order)}
    quota = max(2, math.ceil(per_group / len(order)))
    while True:
        found = ranked(order, quota)
        per_night: dict[str, int] = {}
        for _, night, _ in found:
            per_night[night] = per_night.get(night, 0) + 1
        if len(found) >= per_group or max(per_night.values(), default=0) < quota:
            break
        quota *= 2
    found.sort(key=lambda row: (row[2], position[row[1]]))
    return [image_id for image_id, _, _ in found[:per_group]]
