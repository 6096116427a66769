"""The legacy /api/training/ routes."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from trainql.domain import TrainingRunStatus
from trainql.errors import InvalidInput, TrainingFailed
from trainql.resolvers import training, training_runs
from trainql.rest_compat.deps import ContextDep
from trainql.rest_compat.routing import route
from trainql.rest_compat.serializers import train_response, training_run_detail

router = APIRouter(prefix="/api/training")


@route(router, "/runs/{run_id}/", methods=["GET"])
async def training_run_detail_view(run_id: str, ctx: ContextDep) -> dict[str, Any]:
    run = await training_runs.get_training_run(ctx=ctx, run_id=run_id)
    return training_run_detail(run)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Request body is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise InvalidInput("Expected a JSON object of training parameters.")
    return data


@route(router, "/train/", methods=["POST"], status_code=201)
async def train_view(request: Request, ctx: ContextDep) -> JSONResponse:
    result = await training.train_model(
        ctx=ctx, request=await _json_object(request), background_field="async_training"
    )
    run = result.run
    if run.status == TrainingRunStatus.FAILED:
        raise TrainingFailed(result.message, training_run_id=run.id)
    status_code = 201 if run.status == TrainingRunStatus.COMPLETED else 202
    return JSONResponse(train_response(run, result.message), status_code=status_code)
