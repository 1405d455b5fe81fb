"""Alembic's environment: the studio passes an open connection (studio/state/database.py);
the command line (writing new migrations) uses the scratch URL of alembic.ini."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from studio.state.models import Base

config = context.config
target_metadata = Base.metadata


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)  # SQLite alters tables by copying them
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = engine_from_config(config.get_section(config.config_ini_section, {}),
                                prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as scratch:
        run(scratch)
