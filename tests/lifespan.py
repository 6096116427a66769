"""Apps started and stopped in-process for tests, with time to spare on a loaded machine."""

from __future__ import annotations

from typing import Any

from asgi_lifespan import LifespanManager

# asgi-lifespan's default of 5 s is what one start takes here when other suites share the
# two cores (the app migrates a fresh database and starts its process pool).
STARTUP_TIMEOUT_S = 60.0


def app_lifespan(app: Any) -> LifespanManager:
    """The app's lifespan (startup on enter, shutdown on exit), bounded by a minute each."""
    return LifespanManager(
        app, startup_timeout=STARTUP_TIMEOUT_S, shutdown_timeout=STARTUP_TIMEOUT_S
    )
