"""The `trainql` command: serve, migrate, schema, users ..."""

from __future__ import annotations

import enum
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import anyio
import typer

from trainql.config import Settings, get_settings
from trainql.db import migrate as db_migrate
from trainql.db.engine import Database
from trainql.domain import Role
from trainql.errors import TrainqlError
from trainql.logs import configure_logging
from trainql.resolvers import users as user_ops

app = typer.Typer(
    name="trainql",
    help="Train classification models on CSV datasets and keep the record of every run.",
    no_args_is_help=True,
    add_completion=False,
)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(users_app, name="users")

T = TypeVar("T")


class RoleChoice(enum.StrEnum):
    hr_staff = "hr_staff"
    manager = "manager"


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def run_with_db(settings: Settings, operation: Callable[[Database], Awaitable[T]]) -> T:
    """Run an async operation against the configured database, reporting domain errors."""

    async def main() -> T:
        db = Database(settings.database_url)
        try:
            return await operation(db)
        finally:
            await db.dispose()

    try:
        return anyio.run(main)
    except TrainqlError as exc:
        raise fail(exc.message) from exc


def _migrate(settings: Settings) -> None:
    try:
        db_migrate.upgrade(settings.database_url)
    except Exception as exc:
        raise fail(f"could not migrate {settings.database_url}: {exc}") from exc


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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Migrate the database, create `admin` on first start, and serve HTTP and GraphQL."""
    import uvicorn

    from trainql.serving import HTTP_PROTOCOL

    settings = get_settings()
    configure_logging(settings.log_level)
    _migrate(settings)
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    boot = run_with_db(settings, lambda db: user_ops.bootstrap_admin(db=db, password=password))
    if boot is not None:
        typer.secho("First start: created user 'admin' (HR_STAFF, MANAGER).", fg="green")
        if boot.password_generated:
            typer.echo(f"  password: {boot.password}")
        typer.echo(f"  token:    {boot.token}")
        typer.echo("  Shown once: keep them somewhere safe.")
    uvicorn.run(
        "trainql.serving:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        http=HTTP_PROTOCOL,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )


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
    password: Annotated[str | None, typer.Option(help="The password.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
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
    password: Annotated[str | None, typer.Option(help="The new password.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Replace a user's password."""
    settings = get_settings()
    secret = _read_password(password, password_stdin)
    run_with_db(
        settings, lambda db: user_ops.set_password(db=db, username=username, password=secret)
    )
    typer.echo(f"password of {username!r} changed")


def main() -> None:
    app()
