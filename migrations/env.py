"""Alembic's environment for authdemo, run by Flask-Migrate (`flask --app app db …`) and by init-db.

The database and the models come from the Flask app (AUTHDEMO_DATABASE_URL,
authdemo.models), so this file holds no URL of its own.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
# Alembic's progress lines on the command line; inside a process that already
# logs (the tests, the app) leave its logging alone.
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate = current_app.extensions["migrate"]
target_metadata = migrate.db.metadata


def run_migrations_offline():
    """`flask db upgrade --sql`: print the SQL instead of running it."""
    url = migrate.db.engine.url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, **migrate.configure_args)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run the migrations on the app's engine, in one transaction where the database allows it."""

    def skip_empty_revision(context, revision, directives):
        # `flask db migrate` with no model change writes no empty revision file.
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    options = {"process_revision_directives": skip_empty_revision, **migrate.configure_args}
    with migrate.db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
