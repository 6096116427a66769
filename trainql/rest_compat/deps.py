"""FastAPI dependencies shared by the legacy routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from trainql.resolvers.auth import authenticate
from trainql.resolvers.context import Context
from trainql.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_context(request: Request) -> Context:
    """The resolver Context: a bad Authorization header is a 401 here, never anonymous."""
    services = get_services(request)
    credentials = await authenticate(services, request.headers.get("authorization"))
    if credentials is None:
        return Context(services=services)
    return Context(services=services, user=credentials.user, token_id=credentials.token_id)


ContextDep = Annotated[Context, Depends(get_context)]
