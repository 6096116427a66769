"""POST /api-token-auth/: the old token login, JSON or form body."""

from __future__ import annotations

from fastapi import APIRouter, Request

from trainql.errors import InvalidInput
from trainql.resolvers import auth
from trainql.rest_compat.bodies import request_fields
from trainql.rest_compat.deps import ContextDep
from trainql.rest_compat.routing import route

router = APIRouter()


# The body is read by hand (a JSON object or a form, as the old API took it): described here
# for the API docs and the clients generated from them.
_CREDENTIALS = {
    "type": "object",
    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
    "required": ["username", "password"],
}
CREDENTIALS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media_type: {"schema": _CREDENTIALS}
            for media_type in (
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            )
        },
    }
}


@route(router, "/api-token-auth/", methods=["POST"], openapi_extra=CREDENTIALS_BODY)
async def obtain_auth_token(request: Request, ctx: ContextDep) -> dict[str, str]:
    data = await request_fields(
        request, expected='a JSON object {"username": ..., "password": ...} or a form'
    )
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
    result = await auth.obtain_token(
        ctx=ctx,
        username=username,
        password=password,
        client_address=request.client.host if request.client else None,
    )
    return {"token": result.token}
