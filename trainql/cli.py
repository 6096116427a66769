"""The `trainql` command: serve, migrate, schema, users ..."""

from __future__ import annotations

import contextlib
import enum
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from trainql.config import Settings, get_settings
from trainql.db import migrate as db_migrate
from trainql.db.engine import Database
from trainql.db.preflight import (
    DatabaseNotReady,
    check_database,
    database_error_reason,
    describe_database_error,
    one_line,
    parse_database_url,
    shown_url,
)
from trainql.domain import Role
from trainql.errors import TrainqlError
from trainql.logs import configure_logging
from trainql.resolvers import users as user_ops
from trainql.training_request import PYTHON_NAMES, Hyperparameters, describe

if TYPE_CHECKING:
    from trainql.resolvers.training import TrainModelResult

app = typer.Typer(
    name="trainql",
    help="Train classification models on CSV datasets and keep the record of every run.",
    no_args_is_help=True,
    add_completion=False,
)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(users_app, name="users")
dataset_app = typer.Typer(help="Datasets.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")
playground_app = typer.Typer(
    help="GraphiQL's and Swagger UI's assets, for a /graphql and /api/docs that work offline."
)
app.add_typer(playground_app, name="playground", no_args_is_help=True)

T = TypeVar("T")


class RoleChoice(enum.StrEnum):
    hr_staff = "hr_staff"
    manager = "manager"


def fail(message: str) -> typer.Exit:
    """Print `error: <message>` on stderr; raise the result to exit with status 1."""
    typer.secho(f"error: {one_line(message)}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def run_with_db(settings: Settings, operation: Callable[[Database], Awaitable[T]]) -> T:
    """Run an async operation against the configured database.

    The database is checked first (reachable, migrated: db/preflight.py); that, a domain
    error, or the database failing mid-way each end the command with one line on stderr
    and status 1, never a traceback.
    """
    try:
        check_database(settings.database_url)
    except DatabaseNotReady as exc:
        raise fail(str(exc)) from exc

    async def main() -> T:
        db = Database.for_settings(settings)
        try:
            return await operation(db)
        finally:
            await db.dispose()

    try:
        return anyio.run(main)
    except TrainqlError as exc:
        raise fail(exc.message) from exc
    except (SQLAlchemyError, OSError) as exc:
        described = describe_database_error(exc, settings.database_url)
        if described is None:
            raise
        raise fail(described) from exc


def _migrate(settings: Settings) -> None:
    url = settings.database_url
    try:
        parse_database_url(url)
    except DatabaseNotReady as exc:
        raise fail(str(exc)) from exc
    from alembic.util import CommandError

    try:
        db_migrate.upgrade(url)
    except CommandError as exc:
        # The one Alembic refusal an operator meets: a revision this trainql does not have.
        reason = f"{one_line(str(exc))}; was the database migrated by a newer trainql?"
        raise fail(f"could not migrate the database at {shown_url(url)}: {reason}") from exc
    except Exception as exc:
        reason = database_error_reason(exc) or one_line(f"{type(exc).__name__}: {exc}")
        raise fail(f"could not migrate the database at {shown_url(url)}: {reason}") from exc


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the newest revision."""
    settings = get_settings()
    configure_logging(settings.log_level)
    _migrate(settings)
    typer.echo(f"database at revision {db_migrate.current_revision(settings.database_url)}")


@app.command()
def schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from trainql.schema import schema as graphql_schema

    typer.echo(graphql_schema.as_str())


def _check_can_listen(host: str, port: int) -> None:
    """Fail in one line, before migrating or starting workers, when uvicorn could not bind
    (a port in use, a host that does not resolve or is not ours)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise fail(f"cannot listen on {host}:{port}: {reason} (check --host)") from exc
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: SO_REUSEADDR, so a port left in TIME_WAIT is not "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise fail(
                f"cannot listen on {host}:{port}: {reason} (check --host and --port)"
            ) from exc


def _check_writable_directories(settings: Settings) -> None:
    """Fail in one line when the data root or the model directory cannot be created or
    written (the service needs both: uploads, the default dataset, fitted models)."""
    import tempfile

    for root in (settings.data_location, settings.model_location):
        if not root.is_local:
            continue  # an object store: no directory to make, its credentials checked on use
        variable, directory = root.setting, root.local_path()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise fail(f"cannot write to {directory} ({variable}): {reason}") from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Migrate the database, create `admin` on first start, and serve HTTP and GraphQL."""
    import uvicorn

    from trainql.http.serving import HTTP_PROTOCOL

    settings = get_settings()
    configure_logging(settings.log_level)
    _check_can_listen(host, port)
    _check_writable_directories(settings)
    _migrate(settings)
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    boot = run_with_db(settings, lambda db: user_ops.bootstrap_admin(db=db, password=password))
    if boot is not None:
        typer.secho("First start: created user 'admin' (HR_STAFF, MANAGER).", fg="green")
        if boot.password_generated:
            typer.echo(f"  password: {boot.password}")
        typer.echo(f"  token:    {boot.token}")
        typer.echo("  Shown once: keep them somewhere safe.")
    # Once, here, so that a data root with no room (or read-only) is one clear line and exit
    # status 1 rather than a traceback from every worker's startup.
    from trainql.ml.default_dataset import install_default_dataset

    try:
        install_default_dataset(settings.data_location)
    except TrainqlError as exc:
        raise fail(exc.message) from exc
    if settings.fetch_assets:
        _fetch_browser_assets(settings)
    typer.echo(f"Console: http://{host}:{port}/console")
    uvicorn.run(
        "trainql.http.serving:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        http=HTTP_PROTOCOL,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        # On SIGTERM: stop accepting, let in-flight requests finish for this long, then close
        # what is left and run the shutdown hooks (which record background runs).
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )


# How long `serve` waits on the registry for each step of the one-time asset download: an
# offline machine whose packets are dropped (not refused) costs at most this, once.
ASSET_FETCH_TIMEOUT_S = 10.0


def _fetch_browser_assets(settings: Settings) -> None:
    """Download GraphiQL's and Swagger UI's assets once, when missing, saying so. A failure
    (no internet) is one line: the pages fall back to their CDN; the console needs none."""
    from trainql.playground import assets as playground

    directory = settings.playground_path
    if playground.is_installed(directory, playground.ALL_PACKAGES):
        return
    typer.echo(
        f"Fetching GraphiQL's and Swagger UI's assets once from {settings.npm_registry} "
        f"into {directory} (TRAINQL_FETCH_ASSETS=false skips this)..."
    )
    try:
        installed = playground.install(
            directory,
            registry=settings.npm_registry,
            packages=playground.ALL_PACKAGES,
            timeout=ASSET_FETCH_TIMEOUT_S,
        )
    except (playground.PlaygroundInstallError, OSError) as exc:
        typer.secho(
            f"  could not fetch them ({exc}): /graphql and /api/docs load them from a CDN "
            "until `trainql playground install` succeeds (or the directory is copied from a "
            "connected machine). /console needs nothing from the internet.",
            fg="yellow",
        )
        return
    typer.echo(f"  installed {', '.join(package.folder for package in installed)}.")


# The two ways to give a password, shared by the commands that take one.
PasswordOption = Annotated[str | None, typer.Option(help="The password (or --password-stdin).")]
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin.")
]


def _read_password(password: str | None, password_stdin: bool) -> str:
    if password is not None and password_stdin:
        raise fail("give --password or --password-stdin, not both")
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if password is None:
        raise fail("a password is required: --password PW or --password-stdin")
    return password


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="The new user's name.")],
    role: Annotated[
        list[RoleChoice] | None, typer.Option("--role", help="A role; repeat for several.")
    ] = None,
    password: PasswordOption = None,
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Create a user (no --role: a plain user who can log in but not train or read runs)."""
    settings = get_settings()
    secret = _read_password(password, password_stdin)
    roles = frozenset(Role(r.value.upper()) for r in role or [])
    user = run_with_db(
        settings,
        lambda db: user_ops.create_user(db=db, username=username, password=secret, roles=roles),
    )
    typer.echo(
        f"created user {user.username!r} (id {user.id}) roles: "
        f"{', '.join(sorted(user.roles)) or 'none'}"
    )


@users_app.command("list")
def users_list() -> None:
    """List users and their roles."""
    settings = get_settings()
    found = run_with_db(settings, lambda db: user_ops.list_users(db=db))
    for user in found:
        roles = ", ".join(sorted(user.roles)) or "-"
        typer.echo(f"{user.id}\t{user.username}\t{roles}")


@users_app.command("set-password")
def users_set_password(
    username: Annotated[str, typer.Argument(help="Whose password to change.")],
    password: PasswordOption = None,
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Replace a user's password."""
    settings = get_settings()
    secret = _read_password(password, password_stdin)
    run_with_db(
        settings, lambda db: user_ops.set_password(db=db, username=username, password=secret)
    )
    typer.echo(f"password of {username!r} changed")


@users_app.command("revoke-tokens")
def users_revoke_tokens(
    username: Annotated[str, typer.Argument(help="Whose tokens to revoke.")],
) -> None:
    """Revoke every API token of a user: each stops working at once, on every server."""
    settings = get_settings()
    count = run_with_db(settings, lambda db: user_ops.revoke_tokens(db=db, username=username))
    typer.echo(f"revoked {count} token{'' if count == 1 else 's'} of {username!r}")


@dataset_app.command("generate")
def dataset_generate(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    rows: Annotated[int, typer.Option("--rows", min=3, help="Number of rows.")] = 357,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed, the same file.")] = 42,
) -> None:
    """Write a synthetic HR future-skills dataset (the default dataset's columns)."""
    from trainql.ml.generator import write_future_skills_csv

    written = write_future_skills_csv(out, rows, seed=seed)
    typer.echo(f"wrote {written} rows to {out}")


@playground_app.command("install")
def playground_install(
    force: Annotated[bool, typer.Option(help="Download again what is already installed.")] = False,
) -> None:
    """Download GraphiQL (with React and React DOM) and Swagger UI from the npm registry
    (TRAINQL_NPM_REGISTRY) into TRAINQL_PLAYGROUND_DIR, so GET /graphql and GET /api/docs
    serve them instead of using a CDN."""
    from trainql.playground import assets as playground

    settings = get_settings()
    directory = settings.playground_path
    try:
        installed = playground.install(
            directory, registry=settings.npm_registry, packages=playground.ALL_PACKAGES, force=force
        )
    except (playground.PlaygroundInstallError, OSError) as exc:
        raise fail(f"could not install the playground: {exc}") from exc
    for package in installed:
        typer.echo(f"installed {package.folder}")
    state = "are" if installed else "were already"
    typer.echo(
        f"GraphiQL's and Swagger UI's assets {state} in {directory}; "
        "GET /graphql and GET /api/docs serve them."
    )


@app.command()
def train(
    cli: typer.Context,
    *,
    # Named as TrainRequest names the fields (a test checks they are all here, but
    # `background`: the command waits for its training).
    dataset_path: Annotated[
        str | None, typer.Option("--dataset", help=describe("dataset_path"))
    ] = (None),
    dataset_id: Annotated[str | None, typer.Option(help=describe("dataset_id"))] = None,
    target_column: Annotated[str | None, typer.Option(help=describe("target_column"))] = None,
    test_split: Annotated[float | None, typer.Option(help=describe("test_split"))] = None,
    n_estimators: Annotated[
        int | None, typer.Option(help=describe("n_estimators", Hyperparameters))
    ] = None,
    max_depth: Annotated[int | None, typer.Option(help=describe("max_depth", Hyperparameters))] = (
        None
    ),
    min_samples_split: Annotated[
        int | None, typer.Option(help=describe("min_samples_split", Hyperparameters))
    ] = None,
    model_version: Annotated[str | None, typer.Option(help=describe("model_version"))] = None,
    notes: Annotated[str | None, typer.Option(help=describe("notes"))] = None,
    user: Annotated[str, typer.Option(help="Train as this HR_STAFF user.")] = "admin",
) -> None:
    """Train a model exactly as trainModel does, as the given user, and print its metrics."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from trainql.resolvers import training as training_ops
    from trainql.resolvers.context import Context
    from trainql.services import Services

    settings = get_settings()
    configure_logging("WARNING")
    fields = train_request_fields({k: v for k, v in cli.params.items() if k != "user"})
    console = Console()

    async def operation(db: Database) -> TrainModelResult:
        services = Services.create(settings, db=db)
        found = await user_ops.get_user(db=db, username=user)
        # A one-off command: no reconciler (it would take other processes' runs).
        await services.start(reconcile=False)
        try:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                progress.add_task(f"Training as {user!r}", total=None)
                return await training_ops.train_model(
                    ctx=Context(services=services, user=found), fields=fields, names=PYTHON_NAMES
                )
        finally:
            await services.stop()

    result = run_with_db(settings, operation)
    print_run(console, result)
    if result.run.status != "COMPLETED":
        raise typer.Exit(code=1)


@app.command()
def predict(
    *,
    csv: Annotated[
        Path, typer.Option("--csv", help="The rows to predict: a CSV file with a header row.")
    ],
    run: Annotated[int | None, typer.Option("--run", help="A COMPLETED run's id.")] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="A COMPLETED run's model version.")
    ] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="A model alias.")] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the predictions here (default: standard output)."),
    ] = None,
    user: Annotated[str, typer.Option(help="Predict as this HR_STAFF or MANAGER user.")] = "admin",
) -> None:
    """Predict every row of a CSV file with a trained model, exactly as the REST route does:
    the input columns plus predicted_<target> and probability_<class> for each class."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from trainql.resolvers import predictions as prediction_ops
    from trainql.resolvers.context import Context
    from trainql.services import Services

    settings = get_settings()
    configure_logging("WARNING")
    if sum(given is not None for given in (run, version, alias)) != 1:
        raise fail("give exactly one of --run, --version or --alias")
    selector = prediction_ops.ModelSelector(training_run_id=run, model_version=version, alias=alias)
    console = Console(stderr=True)

    async def operation(db: Database) -> int:
        services = Services.create(settings, db=db)
        found = await user_ops.get_user(db=db, username=user)
        ctx = Context(services=services, user=found)
        if not csv.is_file():
            raise fail(f"{csv} is not a file: --csv names the CSV file of rows to predict")
        size = csv.stat().st_size
        with (
            csv.open("rb") as source,
            _output(out) as target,
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                # Only on a terminal: in a pipe or a log the bar would only add noise.
                disable=not console.is_terminal,
            ) as progress,
        ):
            task = progress.add_task(f"Checking {csv.name}", total=None)
            result = await prediction_ops.predict_csv(ctx=ctx, selector=selector, file=source)
            progress.update(task, description="Predicting", total=size, completed=0)
            async for chunk in result.chunks:
                target.write(chunk)
                progress.update(task, completed=min(source.tell(), size))
        console.print(
            f"{result.rows} rows predicted with run {result.run.id} "
            f"(model_version {result.run.model_version})"
            + (
                f"; ignored columns: {', '.join(result.ignored_columns)}"
                if result.ignored_columns
                else ""
            )
        )
        return result.rows

    run_with_db(settings, operation)


@contextlib.contextmanager
def _output(out: Path | None) -> Iterator[IO[bytes]]:
    """Standard output, or a file at `out` that appears whole once the block succeeds (a
    temporary file beside it until then, removed if the block raises)."""
    if out is None:
        yield sys.stdout.buffer
        sys.stdout.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with partial.open("wb") as handle:
            yield handle
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def train_request_fields(options: dict[str, Any]) -> dict[str, Any]:
    """The options given (not None) as TrainRequest's fields, hyperparameters nested."""
    given = {name: value for name, value in options.items() if value is not None}
    fields = {n: v for n, v in given.items() if n not in Hyperparameters.model_fields}
    hyperparameters = {n: v for n, v in given.items() if n in Hyperparameters.model_fields}
    if hyperparameters:
        fields["hyperparameters"] = hyperparameters
    return fields


def print_run(console: Any, result: TrainModelResult) -> None:
    """The run's outcome and metrics as tables."""
    from rich.table import Table

    run = result.run
    console.print(f"run {run.id}  model_version {run.model_version}  {run.status}")
    console.print(result.message)
    if run.status != "COMPLETED":
        return
    summary = Table("metric", "value", title="Test split")
    for name in ("accuracy", "precision", "recall", "f1_score"):
        summary.add_row(name, f"{getattr(run, name):.4f}")
    summary.add_row("samples (train / test)", f"{run.train_samples} / {run.test_samples}")
    summary.add_row("duration", f"{run.training_duration_seconds:.2f}s")
    console.print(summary)
    per_class = Table("class", "accuracy", "precision", "recall", "f1", "support")
    for label, m in (run.details.per_class_metrics if run.details else {}).items():
        per_class.add_row(
            label,
            f"{m.accuracy:.4f}",
            f"{m.precision:.4f}",
            f"{m.recall:.4f}",
            f"{m.f1_score:.4f}",
            str(m.support),
        )
    console.print(per_class)
    console.print(f"model: {run.model_path}")


def settings_problem(exc: ValidationError) -> str:
    """What is wrong with the TRAINQL_* environment, in one line naming each variable."""
    problems = []
    for error in exc.errors():
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        location = error.get("loc") or ()
        if location:
            variable = "TRAINQL_" + str(location[0]).upper()
            problems.append(f"{variable}={error.get('input')!r}: {message}")
        else:
            problems.append(message)
    return "; ".join(problems)


def main() -> None:
    """The console script: the commands, with a bad configuration reported in one line."""
    try:
        app()
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        typer.secho(
            f"error: invalid configuration: {one_line(settings_problem(exc))}",
            err=True,
            fg=typer.colors.RED,
        )
        sys.exit(1)
