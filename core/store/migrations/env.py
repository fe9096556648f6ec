"""Alembic's environment for the store: migrations run on the connection calspot hands over.

:mod:`core.store.migrate` opens the connection, takes the store's write lock and puts
the connection in ``config.attributes["connection"]``; every revision then runs inside
that one transaction. With a ``sqlalchemy.url`` instead (drafting a new revision with
``autogenerate``), Alembic connects by itself.
"""

from alembic import context
from sqlalchemy import create_engine

from core.store.schema import Base


def run_migrations() -> None:
    """Run the revisions Alembic chose on calspot's connection, or on one to ``sqlalchemy.url``."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        _run(connection)
        connection.commit()
    engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
