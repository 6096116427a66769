"""Logging set-up for the service and the CLI."""

from __future__ import annotations

import logging


class _AlembicChatter(logging.Filter):
    """Drops the two lines Alembic logs on every connection ("Context impl ...", "Will
    assume ... DDL"): they say nothing to an operator, and around a one-line error they
    would bury it. Its "Running upgrade ..." lines stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


def configure_logging(level: str) -> None:
    """Log to stderr at `level`. Each line names its process: with `serve --workers N`
    several processes write to the same stream."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
    )
    logging.getLogger("trainql").setLevel(level)
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _AlembicChatter) for f in migration.filters):
        migration.addFilter(_AlembicChatter())
