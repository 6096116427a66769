"""Login, token authentication and token revocation."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio.to_thread

from trainql.db import users as user_store
from trainql.db.engine import Database
from trainql.db.login_throttle import ADDRESS, USERNAME, Admitted, Refused, ThrottleKey
from trainql.db.types import utcnow
from trainql.domain import ApiToken, User
from trainql.errors import AuthenticationError, InvalidCredentials, InvalidInput, TooManyRequests
from trainql.resolvers.context import Context
from trainql.resolvers.permissions import IS_AUTHENTICATED, require
from trainql.security import new_token, token_digest, verify_password
from trainql.services import Services

logger = logging.getLogger("trainql.auth")

# last_used_at is a hint, not an audit log: writing it on every request would turn each read
# into a write, so it is refreshed at most this often.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
AUTH_SCHEMES = ("token", "bearer")
# How long a process answers a token from memory. A revoked token (or a deactivated user)
# is refused by every worker within this time, whatever wrote the change: no entry lives
# longer, and an entry's time starts before the lookup that filled it. Half a second keeps
# the README's one-second guarantee with room for the request itself.
TOKEN_CACHE_TTL_S = 0.5
TOKEN_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class AuthResult:
    token: str
    user: User


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who a request's token names, and which token it is (what `revokeToken` revokes)."""

    user: User
    token_id: int


def _log_login(outcome: str, username: str, client_address: str | None, **fields: object) -> None:
    # One line per attempt, values JSON-quoted so that a username holding spaces, quotes or
    # newlines cannot forge a field or a line. Never the password.
    level = logging.INFO if outcome == "success" else logging.WARNING
    details = "".join(f" {name}={json.dumps(value)}" for name, value in fields.items())
    logger.log(
        level,
        "login %s user=%s address=%s%s",
        outcome,
        json.dumps(username),
        json.dumps(client_address),
        details,
        extra={"event": "login", "outcome": outcome, "user": username, "address": client_address},
    )


async def issue_token(db: Database, user: User) -> str:
    """Create and store a new token for `user`; the plain token is returned once."""
    token = new_token()
    async with db.session() as session:
        await user_store.add_token(session, user_id=user.id, digest=token_digest(token))
    return token


def _throttled(refused: Refused) -> TooManyRequests:
    seconds = refused.retry_after_s
    where = "from this address" if refused.scope == ADDRESS else "for this username"
    return TooManyRequests(
        f"Too many failed login attempts {where}; try again in {seconds} "
        f"second{'' if seconds == 1 else 's'}.",
        retry_after_s=seconds,
    )


async def obtain_token(
    *, ctx: Context, username: str, password: str, client_address: str | None
) -> AuthResult:
    """A new token for valid credentials.

    InvalidCredentials for a wrong password, an unknown or an inactive user (never told
    apart; an unknown user costs the same argon2 verification as a wrong password).
    TooManyRequests, without checking the password, while the username or the client
    address is throttled (db/login_throttle.py); a success forgets both counts.
    """
    missing = {
        name: ["This field is required."]
        for name, value in (("username", username), ("password", password))
        if not value
    }
    if missing:
        raise InvalidInput("username and password are required.", fields=missing)
    throttle = ctx.services.login_throttle
    keys = throttle_keys(username, client_address)
    admitted = await throttle.admit(keys)
    if isinstance(admitted, Refused):
        _log_login(
            "throttled",
            username,
            client_address,
            scope=admitted.scope,
            retry_after_s=admitted.retry_after_s,
        )
        raise _throttled(admitted)
    async with ctx.db.session() as session:
        found = await user_store.get_user_with_hash(session, username=username)
    user, password_hash = found if found else (None, None)
    ok = await anyio.to_thread.run_sync(verify_password, password, password_hash)
    if not ok or user is None or not user.is_active:
        reason = "unknown_user" if user is None else "inactive_user" if ok else "wrong_password"
        _log_login("failure", username, client_address, reason=reason, **_counts(admitted))
        raise InvalidCredentials()
    await throttle.forget(keys)
    token = await issue_token(ctx.db, user)
    _log_login("success", username, client_address)
    return AuthResult(token=token, user=user)


def _counts(admitted: Admitted) -> dict[str, int]:
    return {f"{scope}_attempts": n for scope, n in admitted.attempts.items()}


def address_subject(host: str | None) -> str:
    """The address key of a client: its IPv4 address, or the /64 network of an IPv6 one (one
    host commonly holds a whole /64, so single IPv6 addresses would be free to rotate)."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def throttle_keys(username: str, client_address: str | None) -> list[ThrottleKey]:
    """The keys of one attempt, username first (the order every transaction takes them in)."""
    return [ThrottleKey(USERNAME, username), ThrottleKey(ADDRESS, address_subject(client_address))]


def parse_authorization(header: str) -> str:
    """The token in `Token <t>` or `Bearer <t>`; AuthenticationError for anything else."""
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() not in AUTH_SCHEMES:
        raise AuthenticationError(
            "Invalid Authorization header. Use 'Token <token>' or 'Bearer <token>'."
        )
    return parts[1]


class TokenCache:
    """Tokens found in the last `ttl` seconds, by digest, with their users.

    Only tokens that were found are kept (an unknown token is looked up every time), and at
    most `capacity` of them: when full, expired entries go first, then the oldest.
    """

    def __init__(
        self,
        ttl: float = TOKEN_CACHE_TTL_S,
        capacity: int = TOKEN_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self.clock = clock
        self._entries: dict[str, tuple[float, ApiToken]] = {}

    def started(self) -> float:
        """The time a lookup starts at: pass it to `put` with what the lookup found."""
        return self.clock()

    def get(self, digest: str) -> ApiToken | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if self.clock() - entry[0] >= self.ttl:
            del self._entries[digest]
            return None
        return entry[1]

    def put(self, digest: str, token: ApiToken, *, looked_up_at: float) -> None:
        if len(self._entries) >= self.capacity and digest not in self._entries:
            now = self.clock()
            for key in [k for k, (at, _) in self._entries.items() if now - at >= self.ttl]:
                del self._entries[key]
            if len(self._entries) >= self.capacity:
                del self._entries[next(iter(self._entries))]
        self._entries[digest] = (looked_up_at, token)

    def touched(self, digest: str, at: datetime) -> None:
        """The token's last_used_at was just written: keep the entry's copy in step, so the
        requests it still answers do not write it again."""
        entry = self._entries.get(digest)
        if entry is not None:
            looked_up_at, token = entry
            self._entries[digest] = (looked_up_at, dataclasses.replace(token, last_used_at=at))

    def forget_token(self, token_id: int) -> None:
        """Drop a token now (this process revoked it; the others follow within `ttl`)."""
        for digest in [d for d, (_, token) in self._entries.items() if token.id == token_id]:
            del self._entries[digest]


# One cache per database (an app has one; tests make many), gone with it.
_token_caches: weakref.WeakKeyDictionary[Database, TokenCache] = weakref.WeakKeyDictionary()


def token_cache(db: Database) -> TokenCache:
    """This process's token cache for `db`."""
    cache = _token_caches.get(db)
    if cache is None:
        cache = _token_caches[db] = TokenCache()
    return cache


async def find_token(db: Database, digest: str) -> ApiToken | None:
    """The token with this digest and its active user, or None: the one token lookup of the
    request path.

    A token found in the last TOKEN_CACHE_TTL_S seconds (half a second) is answered from
    this process's memory, so a revocation (or a user deactivated) is seen within that time
    by every worker and instance, and at once by the process that revoked it. Unknown
    tokens are read every time.
    """
    cache = token_cache(db)
    cached = cache.get(digest)
    if cached is not None:
        return cached
    looked_up_at = cache.started()
    async with db.read() as conn:
        found = await user_store.get_token_by_digest(conn, digest=digest)
    if found is not None:
        cache.put(digest, found, looked_up_at=looked_up_at)
    return found


async def authenticate(services: Services, authorization: str | None) -> Credentials | None:
    """Who an Authorization header names, None without a header.

    A header that is present but malformed, names an unknown or revoked token, or a token
    older than TRAINQL_TOKEN_TTL_HOURS, is an AuthenticationError: a caller is never
    silently treated as anonymous. Refreshes the token's last_used_at at most once a
    minute (one conditional UPDATE, so workers do not all write it).
    """
    if authorization is None:
        return None
    digest = token_digest(parse_authorization(authorization))
    found = await find_token(services.db, digest)
    if found is None:
        raise AuthenticationError("Invalid token.")
    now = utcnow()
    ttl_hours = services.settings.token_ttl_hours
    if found.expired(ttl_hours, now):
        assert ttl_hours is not None
        hours = f"{ttl_hours:g} hour{'' if ttl_hours == 1 else 's'}"
        raise AuthenticationError(
            f"Token expired: tokens are valid for {hours} after they are issued "
            "(TRAINQL_TOKEN_TTL_HOURS). Obtain a new one with POST /api-token-auth/ or the "
            "obtainToken mutation."
        )
    if found.last_used_at is None or now - found.last_used_at >= TOKEN_TOUCH_INTERVAL:
        async with services.db.session() as session:
            await user_store.touch_token(
                session, token_id=found.id, at=now, unless_since=now - TOKEN_TOUCH_INTERVAL
            )
        token_cache(services.db).touched(digest, now)
    return Credentials(user=found.user, token_id=found.id)


async def revoke_token(*, ctx: Context) -> bool:
    """Revoke the token the caller authenticated with: from the next request on it is an
    unknown token, in this process at once and on every other worker and instance within
    TOKEN_CACHE_TTL_S (half a second). UNAUTHENTICATED for an anonymous caller. False when
    the token was already gone (revoked by a concurrent request)."""
    user = require(ctx, IS_AUTHENTICATED)
    if ctx.token_id is None:
        raise AuthenticationError("This request carries no token to revoke.")
    async with ctx.db.session() as session:
        revoked = await user_store.delete_tokens(session, token_id=ctx.token_id)
    token_cache(ctx.db).forget_token(ctx.token_id)
    logger.info(
        "token revoked user=%s token_id=%d",
        json.dumps(user.username),
        ctx.token_id,
        extra={"event": "token_revoked", "user": user.username},
    )
    return revoked > 0
