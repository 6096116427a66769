"""The tokens of open connections: a revoked or expired token's watcher is called, once."""

from __future__ import annotations

from datetime import timedelta

from tests.auth_support import age_token, serving
from trainql.config import Settings
from trainql.db import users as user_store
from trainql.db.token_watch import TokenWatch
from trainql.security import token_digest


async def test_a_watcher_is_called_once_when_its_token_is_revoked_or_expires(
    settings: Settings,
):
    async with serving(settings, token_ttl_hours=1.0) as served:
        # given: three tokens under watch (a long interval: the test runs each check itself)
        kept, revoked, expired = [await served.factory.account(n) for n in ("kim", "lee", "max")]
        watch = TokenWatch(served.services.db, ttl_hours=1.0, interval_s=3600)
        gone: list[str] = []

        def on_gone(name: str):
            async def record() -> None:
                gone.append(name)

            return record

        ids = {}
        async with served.services.db.read() as conn:
            for account in (kept, revoked, expired):
                token = await user_store.get_token_by_digest(
                    conn, digest=token_digest(account.token)
                )
                assert token is not None
                ids[account.user.username] = token.id
        for name, token_id in ids.items():
            watch.watch(token_id, on_gone(name))
        await watch.check()
        assert gone == []
        # when: one token revoked, one older than the lifetime
        async with served.services.db.session() as session:
            await user_store.delete_tokens(session, token_id=ids["lee"])
        await age_token(served.services, expired.token, timedelta(hours=1, seconds=1))
        await watch.check()
        await watch.check()
        # then
        assert sorted(gone) == ["lee", "max"]
        assert len(watch) == 1
        await watch.stop()


async def test_the_check_task_runs_only_while_something_is_watched(settings: Settings):
    async with serving(settings) as served:
        account = await served.factory.account("kim")
        watch = served.services.token_watch
        handle = watch.watch(account.user.id, _nothing)
        assert watch._task is not None
        watch.unwatch(handle)
        await watch._task  # ends after its next interval, with nothing left to watch
        assert watch._task is None


async def _nothing() -> None:
    return None
