"""Trained models: one row per version, one active model per kind, rollback by activating an older one.

A model's numbers are plain JSON in its row; a network's weights are a file in the
home's model folder that the row names with its SHA-256, so that nothing stored here
is ever code that runs when read (:mod:`core.models` loads them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, update

from .database import transaction
from .queries import StorePart
from .records import StoredModel
from .schema import Model


class ModelsPart(StorePart):
    """The store's trained models."""

    def add_model(
        self,
        kind: str,
        trained_by: str,
        counts: Mapping[str, Any],
        metrics: Mapping[str, Any],
        parameters: Mapping[str, Any],
        *,
        weights_file: str | None = None,
        weights_sha256: str | None = None,
        activate: bool = True,
    ) -> StoredModel:
        """Store a newly trained model as the next version of its kind (and make it the active one).

        Raises
        ------
        ValueError
            The trainer's name is empty.
        """
        if not trained_by.strip():
            raise ValueError("a model needs the name of who trained it")
        with transaction(self._sessions) as session:
            count = session.scalar(select(func.count()).select_from(Model).where(Model.kind == kind)) or 0
            if activate:
                session.execute(update(Model).where(Model.kind == kind).values(active=False))
            row = Model(
                version=f"{kind}-{count + 1}",
                kind=kind,
                trained_by=trained_by.strip(),
                active=activate,
                counts=dict(counts),
                metrics=dict(metrics),
                parameters=dict(parameters),
                weights_file=weights_file,
                weights_sha256=weights_sha256,
            )
            session.add(row)
            session.flush()
            return _stored(row)

    def models(self, kind: str | None = None) -> list[StoredModel]:
        """Trained models, newest first (of one kind, when given)."""
        query = select(Model).order_by(Model.id.desc())
        if kind is not None:
            query = query.where(Model.kind == kind)
        with self._sessions() as session:
            return [_stored(row) for row in session.scalars(query)]

    def active_model(self, kind: str) -> StoredModel | None:
        """The model of this kind that scoring uses, or None before the first training."""
        with self._sessions() as session:
            row = session.scalars(select(Model).where(Model.kind == kind, Model.active).order_by(Model.id.desc()).limit(1)).first()
            return None if row is None else _stored(row)

    def activate_model(self, version: str) -> StoredModel:
        """Make a version the active model of its kind (rolling back is activating an older one).

        Raises
        ------
        KeyError
            No model of that version; the message lists the known ones.
        """
        with transaction(self._sessions) as session:
            row = session.scalars(select(Model).where(Model.version == version)).first()
            if row is None:
                known = session.scalars(select(Model.version).order_by(Model.id)).all()
                raise KeyError(f"no model {version!r} in the store; known: {', '.join(known) or 'none yet (run calspot train)'}")
            session.execute(update(Model).where(Model.kind == row.kind, Model.id != row.id).values(active=False))
            row.active = True
            session.flush()
            return _stored(row)


def _stored(row: Model) -> StoredModel:
    return StoredModel(
        model_id=row.id,
        version=row.version,
        kind=row.kind,
        trained_by=row.trained_by,
        active=row.active,
        counts=dict(row.counts or {}),
        metrics=dict(row.metrics or {}),
        parameters=dict(row.parameters or {}),
        weights_file=row.weights_file,
        weights_sha256=row.weights_sha256,
        created_at=row.created_at,
    )
