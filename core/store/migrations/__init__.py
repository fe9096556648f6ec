"""Alembic revisions of the store's schema, shipped with calspot and run by :mod:`core.store.migrate`.

Revision ``000N`` is schema version N. ``0001`` is the schema as released before
Alembic (stores with a ``schema_info`` table and no ``alembic_version``); every later
change of :mod:`core.store.schema` comes with a revision here, written by hand or
drafted by Alembic against a store at the current head::

    from alembic import command
    from core.store.migrate import alembic_config
    command.revision(alembic_config("sqlite:////tmp/head.sqlite"), "what changed", rev_id="0003", autogenerate=True)

A revision inserts its schema version into ``schema_info``, so that a calspot from
before Alembic refuses a newer store instead of misreading it.
"""
