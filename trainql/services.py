"""What a process shares between requests: settings, the database, and the runtime pieces
(the training executor, background trainings, the run-status poller, the persisted-query
store, the login throttle, the token watch of open sockets), each with its own type, started
and stopped here."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio.to_thread

from trainql.background import BackgroundTasks
from trainql.config import Settings
from trainql.db.engine import Database
from trainql.db.login_throttle import LoginThrottle, ThrottlePolicy, login_throttle_store
from trainql.db.persisted_queries import PersistedQueryStore, persisted_query_store
from trainql.db.status_poller import RunStatusPoller
from trainql.db.token_watch import TokenWatch
from trainql.ml.default_dataset import install_default_dataset
from trainql.ml.executor import TrainingExecutor, create_executor


@dataclass
class Services:
    """Built once per process by create_app() (or the CLI) and shared by every request.

    `start()` before use and `stop()` at the end: the executor exists between the two.
    """

    settings: Settings
    db: Database
    persisted_queries: PersistedQueryStore
    run_statuses: RunStatusPoller
    login_throttle: LoginThrottle
    token_watch: TokenWatch
    trainings: BackgroundTasks = field(default_factory=BackgroundTasks)
    _executor: TrainingExecutor | None = field(default=None, init=False, repr=False)

    @classmethod
    def create(cls, settings: Settings, *, db: Database | None = None) -> Services:
        """The services of `settings` (on `db`, when given, instead of a new Database)."""
        database = db or Database.for_settings(settings)
        return cls(
            settings=settings,
            db=database,
            persisted_queries=persisted_query_store(database, settings.apq_cache_size),
            run_statuses=RunStatusPoller(database, settings.subscription_poll_interval_s),
            login_throttle=login_throttle_store(database, ThrottlePolicy.from_settings(settings)),
            token_watch=TokenWatch(database, ttl_hours=settings.token_ttl_hours),
        )

    @property
    def executor(self) -> TrainingExecutor:
        """Where trainings run (TRAINQL_EXECUTOR)."""
        if self._executor is None:
            raise RuntimeError("Services.start() has not run: there is no training executor")
        return self._executor

    async def start(self) -> None:
        """Create the executor (an unsupported TRAINQL_EXECUTOR fails here, at start) and
        place the default dataset in the data root."""
        self._executor = create_executor(self.settings.executor)
        await anyio.to_thread.run_sync(install_default_dataset, self.settings.data_path)

    async def stop(self) -> None:
        """Cancel background trainings (each records its run as interrupted), stop the
        status poller, the token watch and the executor's workers. The database stays open
        for its owner."""
        await self.trainings.cancel_all()
        await self.run_statuses.stop()
        await self.token_watch.stop()
        executor, self._executor = self._executor, None
        if executor is not None:
            await executor.shutdown()
