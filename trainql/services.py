"""What a process shares between requests: settings, the database, and the runtime pieces
(the dispatcher that sends trainings to the executor, background trainings, the reconciler,
the run-status poller, the persisted-query store, the login throttle, the token watch of
open sockets, the models loaded for predictions), each with its own type, started and
stopped here."""

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
from trainql.dispatchers import DaskDispatcher, LocalDispatcher, create_dispatcher
from trainql.ml.default_dataset import install_default_dataset
from trainql.ml.model_cache import ModelCache
from trainql.reconciler import Reconciler
from trainql.resolvers.completed_runs import CompletedRuns


@dataclass
class Services:
    """Built once per process by create_app() (or the CLI) and shared by every request.

    `start()` before use and `stop()` at the end: the dispatcher exists between the two.
    """

    settings: Settings
    db: Database
    persisted_queries: PersistedQueryStore
    run_statuses: RunStatusPoller
    login_throttle: LoginThrottle
    token_watch: TokenWatch
    # The models loaded for predictions (TRAINQL_MODEL_CACHE_MB).
    models: ModelCache
    # The COMPLETED runs predictions named, kept since they never change.
    completed_runs: CompletedRuns = field(default_factory=CompletedRuns)
    trainings: BackgroundTasks = field(default_factory=BackgroundTasks)
    # Uploads whose row's COMMIT failed, waiting for the database to say whether it is stored.
    upload_checks: BackgroundTasks = field(default_factory=BackgroundTasks)
    _dispatcher: LocalDispatcher | DaskDispatcher | None = field(
        default=None, init=False, repr=False
    )
    _reconciler: Reconciler | None = field(default=None, init=False, repr=False)

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
            models=ModelCache(max_bytes=int(settings.model_cache_mb * 1024 * 1024)),
        )

    @property
    def dispatcher(self) -> LocalDispatcher | DaskDispatcher:
        """Where trainings are sent (TRAINQL_EXECUTOR)."""
        if self._dispatcher is None:
            raise RuntimeError("Services.start() has not run: there is no training dispatcher")
        return self._dispatcher

    @property
    def reconciler(self) -> Reconciler:
        """This process's reconciler (created by start(), running when it was asked to)."""
        if self._reconciler is None:
            raise RuntimeError("Services.start() has not run: there is no reconciler")
        return self._reconciler

    async def start(self, *, reconcile: bool = True) -> None:
        """Create and start the dispatcher (an executor that cannot be used here fails at
        start: UnsupportedExecutor), place the default dataset in the data root, and start
        the reconciler (every API process runs one; a one-off command such as
        `trainql train` does not)."""
        dispatcher = create_dispatcher(self.settings, self.db, self.trainings)
        await dispatcher.start()
        self._dispatcher = dispatcher
        self._reconciler = Reconciler(db=self.db, settings=self.settings, dispatcher=dispatcher)
        await anyio.to_thread.run_sync(install_default_dataset, self.settings.data_location)
        if reconcile:
            self._reconciler.start()

    async def stop(self) -> None:
        """Stop the reconciler, the dispatcher (trainings running in this process give their
        runs back to the queue, for another process or the next start), the status poller
        and the token watch. The database stays open for its owner."""
        if self._reconciler is not None:
            await self._reconciler.stop()
        # A check cut short keeps its file: a file without a row is the lesser fault.
        await self.upload_checks.cancel_all()
        await self.run_statuses.stop()
        await self.token_watch.stop()
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            await dispatcher.stop()
