"""POST /api-token-auth/: the old token login, JSON or form body."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from trainql.errors import InvalidInput
from trainql.resolvers import auth
from trainql.rest_compat.deps import ContextDep
from trainql.rest_compat.routing import route

router = APIRouter()


async def _credentials(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return dict(await request.form())
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Request body is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise InvalidInput('Expected a JSON object {"username": ..., "password": ...}.')
    return data


@route(router, "/api-token-auth/", methods=["POST"])
async def obtain_auth_token(request: Request, ctx: ContextDep) -> dict[str, str]:
    data = await _credentials(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise InvalidInput(
            "username and password are required strings.",
            fields={
                name: ["This field is required."]
                for name in ("username", "password")
                if not isinstance(data.get(name), str)
            },
        )
    result = await auth.obtain_token(ctx=ctx, username=username, password=password)
    return {"token": result.token}
