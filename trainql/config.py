"""The one Settings object. Nothing else in trainql reads the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from trainql.storage_root import StorageRoot

DEFAULT_STATE_DIR = Path(".trainql")


class Settings(BaseSettings):
    """Configuration, read from `TRAINQL_*` environment variables (and a `.env` file)."""

    model_config = SettingsConfigDict(
        env_prefix="TRAINQL_", env_file=".env", extra="ignore", validate_default=True
    )

    state_dir: Path = Field(
        DEFAULT_STATE_DIR, description="Where the embedded database, data and models live."
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL; default a SQLite file in the state directory. "
        "postgresql://user@host/db uses psycopg 3.",
    )
    data_root: Path | str | None = Field(
        None,
        description="Datasets are read from here (default <state_dir>/data): a directory, or "
        "an fsspec URL (file:///shared/data, s3://bucket/prefix).",
    )
    model_dir: Path | str | None = Field(
        None,
        description="Fitted models are written here (default <state_dir>/models): a directory, "
        "or an fsspec URL as for data_root.",
    )
    admin_password: SecretStr | None = Field(
        None, description="Password of the `admin` user created on first start (else random)."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed by CORS."
    )
    log_level: str = Field("INFO", description="Python logging level.")
    training_timeout_s: float = Field(
        3600.0, gt=0, description="A training that runs longer is stopped and FAILED."
    )
    max_upload_mb: int = Field(100, gt=0, description="Largest accepted dataset upload.")
    max_body_kb: int = Field(
        1024,
        gt=0,
        description="Largest accepted JSON or form request body (uploads have "
        "max_upload_mb); a larger one is refused with 413 before it is read whole.",
    )
    max_json_depth: int = Field(
        32,
        ge=2,
        description="Deepest nesting of arrays and objects in a JSON request body; deeper "
        "is refused with 400 before it is parsed.",
    )
    predict_max_rows: int = Field(
        10_000,
        ge=1,
        description="Most rows one JSON prediction request may hold (CSV uploads are held to "
        "max_upload_mb instead).",
    )
    model_cache_mb: float = Field(
        512.0,
        gt=0,
        description="Memory the models loaded for predictions may take in each process (their "
        "ONNX form); the least recently used are dropped beyond it.",
    )
    database_pool_size: int = Field(
        10,
        ge=1,
        description="Database connections each process keeps open, per pool (one for reads, "
        "one for sessions).",
    )
    database_max_overflow: int = Field(
        20, ge=0, description="Connections opened beyond each pool's size under load."
    )
    database_pool_timeout_s: float = Field(
        10.0,
        gt=0,
        description="How long a request waits for a free database connection before it is "
        "answered 503.",
    )
    database_connect_timeout_s: float = Field(
        5.0, gt=0, description="How long opening a PostgreSQL connection may take."
    )
    shutdown_grace_s: int = Field(
        25,
        ge=0,
        description="On SIGTERM, how long `trainql serve` lets in-flight requests finish "
        "before it closes them and shuts down.",
    )
    executor: str = Field(
        "local",
        description="`local` (a process pool in each API process) or `dask://host:8786` "
        "(a dask.distributed scheduler; needs PostgreSQL and shared storage).",
    )
    training_lease_s: float = Field(
        30.0,
        gt=0,
        description="How long a run's lease lasts without a heartbeat (renewed every third of "
        "it while the run trains); a run whose lease ran out is retried or failed.",
    )
    training_max_attempts: int = Field(
        3,
        ge=1,
        description="Most executions of one run whose worker was lost before it is FAILED "
        "('worker lost').",
    )
    reconcile_interval_s: float = Field(
        5.0,
        gt=0,
        description="How often each API process looks for runs that nobody runs (a QUEUED run "
        "never dispatched, a RUNNING run whose lease ran out).",
    )
    record_retry_s: float = Field(
        300.0,
        ge=0,
        description="How long a finished training keeps trying to record its outcome while "
        "the database is unreachable.",
    )
    dask_split_fit_min_rows: int = Field(
        200_000,
        ge=0,
        description="With the Dask executor on two workers or more, a training split of at "
        "least this many rows fits its forest with joblib's Dask backend: its trees are built "
        "across the workers.",
    )
    crash_before_dispatch: bool = Field(
        False,
        description="Tests only: the process exits right after recording a run, before "
        "dispatching it (a crash at the worst moment).",
    )
    graphql_max_depth: int = Field(
        12,
        ge=1,
        description="Deepest nesting of fields with selections in a GraphQL operation "
        "(`{ me { username } }` is 1; introspection fields are not counted).",
    )
    graphql_max_aliases: int = Field(
        30, ge=0, description="Most aliased fields a GraphQL document may hold."
    )
    graphql_max_tokens: int = Field(
        2000, ge=1, description="Most lexical tokens a GraphQL document may hold."
    )
    graphql_max_root_fields: int = Field(
        20, ge=1, description="Most top-level fields a GraphQL operation may select."
    )
    graphql_introspection: bool = Field(
        True, description="Answer introspection queries (GraphiQL needs them)."
    )
    graphql_max_batch: int = Field(
        10, ge=0, description="Most operations in one batched HTTP request (0: no batching)."
    )
    playground_dir: Path | None = Field(
        None,
        description="GraphiQL's and Swagger UI's assets, installed by `trainql playground "
        "install` (or the first `trainql serve`) and served from here when present "
        "(default <state_dir>/playground).",
    )
    npm_registry: str = Field(
        "https://registry.npmjs.org",
        description="The npm registry (or mirror) `trainql playground install` downloads from.",
    )
    fetch_assets: bool = Field(
        True,
        description="Whether `trainql serve` downloads GraphiQL's and Swagger UI's assets "
        "once, on start, when they are missing from the playground directory.",
    )
    apq_cache_size: int = Field(
        1000, ge=1, description="Most automatic persisted queries kept (least recently used go)."
    )
    subscription_poll_interval_s: float = Field(
        0.5,
        gt=0,
        le=60,
        description="How often a trainingRunUpdated subscription reads its run's status from "
        "the database (one primary-key read per open subscription).",
    )
    graphql_ws_max_subscriptions: int = Field(
        10, ge=1, description="Most operations one WebSocket connection may run at once."
    )
    graphql_ws_init_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A WebSocket that sends no connection_init within this time is closed (4408).",
    )
    token_ttl_hours: float | None = Field(
        None,
        gt=0,
        description="Lifetime of an API token, counted from when it was issued; unset: tokens "
        "never expire (what the legacy clients expect).",
    )
    login_free_failures: int = Field(
        5,
        ge=1,
        description="Failed logins for one username answered at once; after the last of them "
        "the next attempt must wait `login_delay_s`.",
    )
    login_free_failures_per_address: int = Field(
        20,
        ge=1,
        description="The same for one client address (higher: several people may share an "
        "address behind a NAT or proxy).",
    )
    login_delay_s: float = Field(
        1.0, gt=0, description="The first wait; each further failure doubles it."
    )
    login_max_delay_s: float = Field(900.0, gt=0, description="The longest wait.")
    login_window_s: float = Field(
        86400.0,
        gt=0,
        description="Failed logins are forgotten once this long has passed since the last "
        "attempt (a successful login forgets them at once).",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _valid_origins(cls, value: list[str]) -> list[str]:
        # The WebSocket origin check (Strawberry's) refuses anything but scheme://host[:port]:
        # say so at startup, naming the variable, rather than when the router is built.
        from strawberry.http.websocket_origin import normalize_allowed_origins

        try:
            normalize_allowed_origins(value)
        except ValueError as exc:
            raise ValueError(f"TRAINQL_CORS_ORIGINS: {exc}") from None
        return value

    @field_validator("data_root", "model_dir", mode="before")
    @classmethod
    def _path_or_url(cls, value: object) -> object:
        # A URL stays text (Path would fold its `//`); anything else is a directory path.
        if isinstance(value, str) and "://" not in value:
            return Path(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError("log_level must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return level

    @model_validator(mode="after")
    def _login_waits(self) -> Settings:
        if self.login_delay_s > self.login_max_delay_s:
            raise ValueError(
                "TRAINQL_LOGIN_DELAY_S must not exceed TRAINQL_LOGIN_MAX_DELAY_S "
                f"({self.login_delay_s:g} > {self.login_max_delay_s:g})"
            )
        # A wait longer than the window would be forgotten before it ends.
        if self.login_window_s < self.login_max_delay_s:
            raise ValueError(
                "TRAINQL_LOGIN_WINDOW_S must be at least TRAINQL_LOGIN_MAX_DELAY_S "
                f"({self.login_window_s:g} < {self.login_max_delay_s:g})"
            )
        return self

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.state_dir / 'trainql.db').as_posix()}"
        if self.data_root is None:
            self.data_root = self.state_dir / "data"
        if self.model_dir is None:
            self.model_dir = self.state_dir / "models"
        if self.playground_dir is None:
            self.playground_dir = self.state_dir / "playground"
        return self

    @property
    def data_location(self) -> StorageRoot:
        """The data root as a storage location (a directory or an fsspec URL)."""
        assert self.data_root is not None
        return StorageRoot.of(self.data_root, setting="TRAINQL_DATA_ROOT")

    @property
    def model_location(self) -> StorageRoot:
        """The model directory as a storage location (a directory or an fsspec URL)."""
        assert self.model_dir is not None
        return StorageRoot.of(self.model_dir, setting="TRAINQL_MODEL_DIR")

    @property
    def data_path(self) -> Path:
        """The data root as an absolute local path (ValueError for an object-store URL)."""
        return self.data_location.local_path()

    @property
    def models_path(self) -> Path:
        """The model directory as an absolute local path (ValueError for an object-store URL)."""
        return self.model_location.local_path()

    @property
    def uses_dask(self) -> bool:
        """TRAINQL_EXECUTOR names a Dask scheduler."""
        return self.executor.strip().lower().startswith("dask://")

    @property
    def playground_path(self) -> Path:
        """The GraphiQL asset directory, resolved to an absolute path."""
        assert self.playground_dir is not None
        return self.playground_dir.resolve()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
