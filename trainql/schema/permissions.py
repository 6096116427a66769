"""Helpers that give GraphQL resolvers the request's resolver Context."""

from __future__ import annotations

from typing import TYPE_CHECKING

from strawberry.types import Info

from trainql.resolvers.context import Context

if TYPE_CHECKING:
    from trainql.schema.context import GraphQLContext


def ctx_of(info: Info[GraphQLContext, None]) -> Context:
    """The resolver Context of this GraphQL request."""
    return info.context.ctx
