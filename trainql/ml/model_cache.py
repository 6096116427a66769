"""The models a process has loaded for predictions: bounded in bytes, least recently used out.

Keyed by run id and model digest, so a run whose recorded digest changed can never be
answered by the old entry. Loads happen in a worker thread, never on the event loop, and
once per key however many requests ask at the same time (single flight: the first starts
the load, the others await the same future). Before an entry is used, its file is looked
at again (its size and modification stamp; on an object store at most every
`remote_check_interval_s`): a file that changed or vanished drops the entry, and the next
load says why the model cannot be used (ml/serving.load_serving_model).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio.to_thread

from trainql.ml.serving import FileVersion, ServingModel, file_version
from trainql.storage_root import is_local

logger = logging.getLogger("trainql.model_cache")

REMOTE_CHECK_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True)
class ModelKey:
    run_id: int
    sha256: str


@dataclass(slots=True)
class _Entry:
    model: ServingModel
    location: str
    checked_at: float


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What the cache holds and has done since the process started."""

    models: int
    bytes: int
    max_bytes: int
    loads: int
    hits: int
    evictions: int
    invalidations: int


@dataclass
class ModelCache:
    """See the module docstring. One per process (Services.models)."""

    max_bytes: int
    remote_check_interval_s: float = REMOTE_CHECK_INTERVAL_S
    # Called on the event loop after each load (the served process settles its heap then:
    # a first load imports the whole conversion stack; http/serving.settle_heap).
    after_load: Callable[[], None] | None = field(default=None, repr=False)
    _entries: OrderedDict[ModelKey, _Entry] = field(default_factory=OrderedDict, repr=False)
    _loading: dict[ModelKey, asyncio.Future[ServingModel]] = field(default_factory=dict, repr=False)
    _bytes: int = 0
    loads: int = 0
    hits: int = 0
    evictions: int = 0
    invalidations: int = 0

    def stats(self) -> CacheStats:
        return CacheStats(
            models=len(self._entries),
            bytes=self._bytes,
            max_bytes=self.max_bytes,
            loads=self.loads,
            hits=self.hits,
            evictions=self.evictions,
            invalidations=self.invalidations,
        )

    def __contains__(self, key: ModelKey) -> bool:
        return key in self._entries

    async def get(
        self, key: ModelKey, location: str, load: Callable[[], ServingModel]
    ) -> ServingModel:
        """The model of `key`: cached when its file is unchanged, else loaded by `load`
        (blocking; run in a worker thread, once for all concurrent callers). Whatever `load`
        raises reaches every caller that waited for it, and nothing is cached."""
        entry = self._entries.get(key)
        if entry is not None:
            if await self._unchanged(entry):
                self._entries.move_to_end(key)
                self.hits += 1
                return entry.model
            self._drop(key)
            self.invalidations += 1
            logger.info("The model file of run %d changed or vanished; dropped", key.run_id)
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(key, location, load))
            self._loading[key] = pending
            pending.add_done_callback(lambda _done: self._loading.pop(key, None))
        # Shielded: a caller that goes away does not cancel the load the others wait for.
        return await asyncio.shield(pending)

    async def _unchanged(self, entry: _Entry) -> bool:
        if is_local(entry.location):
            # One stat: microseconds, cheaper than a trip to a worker thread.
            return file_version(entry.location) == entry.model.version
        now = time.monotonic()
        if now - entry.checked_at < self.remote_check_interval_s:
            return True
        current: FileVersion | None = await anyio.to_thread.run_sync(file_version, entry.location)
        entry.checked_at = now
        return current == entry.model.version

    async def _load(
        self, key: ModelKey, location: str, load: Callable[[], ServingModel]
    ) -> ServingModel:
        self.loads += 1
        started = time.perf_counter()
        model = await anyio.to_thread.run_sync(load)
        logger.info(
            "Loaded the model of run %d (%d KB as ONNX) in %.2fs",
            key.run_id,
            model.nbytes // 1024,
            time.perf_counter() - started,
        )
        self._keep(key, location, model)
        if self.after_load is not None:
            self.after_load()
        return model

    def _keep(self, key: ModelKey, location: str, model: ServingModel) -> None:
        if model.nbytes > self.max_bytes:
            logger.warning(
                "The model of run %d (%d KB) is larger than TRAINQL_MODEL_CACHE_MB allows "
                "(%d KB): it is used for this request and not kept",
                key.run_id,
                model.nbytes // 1024,
                self.max_bytes // 1024,
            )
            return
        self._drop(key)
        while self._entries and self._bytes + model.nbytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)
            self.evictions += 1
            logger.info("Evicted the model of run %d (least recently used)", oldest.run_id)
        self._entries[key] = _Entry(model=model, location=location, checked_at=time.monotonic())
        self._bytes += model.nbytes

    def _drop(self, key: ModelKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.model.nbytes
