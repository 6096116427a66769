"""Logging set-up for the service and the CLI."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    """Log to stderr at `level`. Each line names its process: with `serve --workers N`
    several processes write to the same stream."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
    )
    logging.getLogger("trainql").setLevel(level)
