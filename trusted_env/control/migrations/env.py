"""Alembic environment: migrations run only through `trusted_env.control.db.upgrade`.

The caller passes an open connection (already in a transaction and, on PostgreSQL, holding the
migration lock) in `config.attributes["connection"]`; there is no offline mode.
"""

from __future__ import annotations

from alembic import context

from trusted_env.control.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations with trusted_env.control.db.upgrade(engine).")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
