"""The legacy /api/training/ routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from trainql.resolvers import training_runs
from trainql.rest_compat.deps import ContextDep
from trainql.rest_compat.routing import route
from trainql.rest_compat.serializers import training_run_detail

router = APIRouter(prefix="/api/training")


@route(router, "/runs/{run_id}/", methods=["GET"])
async def training_run_detail_view(run_id: str, ctx: ContextDep) -> dict[str, Any]:
    run = await training_runs.get_training_run(ctx=ctx, run_id=run_id)
    return training_run_detail(run)
