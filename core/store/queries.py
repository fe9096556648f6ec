"""Query pieces that several families of tables share, and the base of the store's parts.

An image's descriptor and quality numbers belong to its file's content (hash and
extension), not to the image row; its latest score and latest verdict are the rows
of highest id (scores and labels are append-only). Lists of ids are sent in chunks:
SQLite binds at most 32 766 parameters in one statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from .direct import Sql
from .records import HEADER_TYPE_KEYWORD
from .schema import Descriptor, File, Image, Label, Quality, Score

ID_CHUNK = 10_000
Key = TypeVar("Key", int, str)


class StorePart:
    """What every part of :class:`core.store.Store` shares: the factory of its sessions."""

    _sessions: sessionmaker[Session]


def session_sql(session: Session) -> Sql:
    """The session's own DB-API connection (in its transaction), for the plain statements of :mod:`core.store.direct`."""
    connection = session.connection()
    return Sql(connection.connection.driver_connection, connection.dialect.name)


def chunks(ids: Iterable[Key], size: int = ID_CHUNK) -> Iterator[list[Key]]:
    """The distinct ids (or content hashes) in lists of at most ``size``, for ``IN (...)`` conditions."""
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def image_filters(
    *,
    night: str | None = None,
    nights: Sequence[str] | None = None,
    image_type: str | None = None,
    mode: str | None = None,
    instrument: str | None = None,
    image_ids: Sequence[int] | None = None,
) -> list:
    """The WHERE conditions on images that the given filters make (none given: every image)."""
    wanted = [
        (night, lambda: Image.night == night),
        (nights, lambda: Image.night.in_(list(nights))),
        (image_type, lambda: Image.image_type == image_type),
        (mode, lambda: Image.mode == mode),
        (instrument, lambda: Image.instrument == instrument),
        (image_ids, lambda: Image.id.in_(list(image_ids))),
    ]
    return [condition() for value, condition in wanted if value is not None]


def descriptor_of_image(fingerprint: str):
    """Join condition: the descriptor of an image's content by one embedder."""
    return and_(Descriptor.content_hash == File.content_hash, Descriptor.ext == Image.ext, Descriptor.fingerprint == fingerprint)


def quality_of_image(qc_version: str):
    """Join condition: the quality numbers of an image's content of one QC version."""
    return and_(Quality.content_hash == File.content_hash, Quality.ext == Image.ext, Quality.qc_version == qc_version)


def latest_score_of_image():
    """Join condition: an image's latest score (one index seek per image)."""
    latest = select(func.max(Score.id)).where(Score.image_id == Image.id).correlate(Image).scalar_subquery()
    return Score.id == latest


def latest_label_of_image():
    """Join condition: an image's latest verdict (one index seek per image)."""
    latest = select(func.max(Label.id)).where(Label.image_id == Image.id).correlate(Image).scalar_subquery()
    return Label.id == latest


def header_type():
    """What the header says an image is: ESO's data-product type, else the label the rules gave."""
    return func.coalesce(func.nullif(Image.header[HEADER_TYPE_KEYWORD].as_string(), ""), Image.label)


def latest_verdicts(session: Session, image_ids: Sequence[int]) -> dict[int, str]:
    """The latest verdict of each image that has one."""
    verdicts: dict[int, str] = {}
    for chunk in chunks(image_ids):
        latest = select(func.max(Label.id)).where(Label.image_id.in_(chunk)).group_by(Label.image_id).scalar_subquery()
        verdicts.update(session.execute(select(Label.image_id, Label.verdict).where(Label.id.in_(latest))).all())
    return verdicts


def latest_file_verdicts(session: Session, file_ids: Sequence[int]) -> dict[int, str]:
    """Latest verdict on whole files (labels without an image: unreadable files)."""
    verdicts: dict[int, str] = {}
    for chunk in chunks(file_ids):
        latest = (
            select(func.max(Label.id)).where(Label.file_id.in_(chunk), Label.image_id.is_(None)).group_by(Label.file_id).scalar_subquery()
        )
        verdicts.update(session.execute(select(Label.file_id, Label.verdict).where(Label.id.in_(latest))).all())
    return verdicts


def latest_flags(session: Session, image_ids: Sequence[int]) -> dict[int, bool]:
    """Whether each scored image's latest score flagged it."""
    flags: dict[int, bool] = {}
    for chunk in chunks(image_ids):
        latest = select(func.max(Score.id)).where(Score.image_id.in_(chunk)).group_by(Score.image_id).scalar_subquery()
        flags.update(session.execute(select(Score.image_id, Score.flagged).where(Score.id.in_(latest))).all())
    return flags
