"""The legacy /api/training/ routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from trainql.domain import TrainingRunFilter, TrainingRunStatus
from trainql.resolvers import training, training_runs
from trainql.rest_compat.bodies import request_fields
from trainql.rest_compat.deps import ContextDep
from trainql.rest_compat.routing import route
from trainql.rest_compat.serializers import (
    train_response,
    training_run_detail,
    training_run_summary,
)
from trainql.training_request import REST_NAMES, TrainRequest

router = APIRouter(prefix="/api/training")


def _page_url(request: Request, page: int) -> str:
    """The request's absolute URL with its filters, at `page` (page 1 drops the parameter,
    as the old API did)."""
    if page == 1:
        return str(request.url.remove_query_params("page"))
    return str(request.url.include_query_params(page=page))


def _query_parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    title = name.replace("_", " ").title()
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"anyOf": [schema, {"type": "null"}], "title": title},
    }


# The list's query parameters and the detail's run id are read from the request by hand
# (below) and described here, as FastAPI described them when it read them. FastAPI's reading
# of them (the checks of each parameter's annotation, a pydantic validation each) had nothing
# to refuse, all being text, and cost 0.4 M of the 8.2 M instructions of a filtered
# page (callgrind, the in-process client included).
LIST_PARAMETERS = {
    "parameters": [
        _query_parameter("page", {"type": "string"}),
        _query_parameter("page_size", {"type": "string"}),
        _query_parameter("status", {"type": "array", "items": {"type": "string"}}),
        _query_parameter("trained_by", {"type": "string"}),
    ]
}


@route(router, "/runs/", methods=["GET"], openapi_extra=LIST_PARAMETERS)
async def training_run_list_view(request: Request, ctx: ContextDep) -> dict[str, Any]:
    query = request.query_params
    # As FastAPI read them: a repeated parameter's last value, every value of `status`.
    page, page_size, trained_by = query.get("page"), query.get("page_size"), query.get("trained_by")
    status = query.getlist("status")
    # `status` may repeat or be comma-separated: ?status=COMPLETED,FAILED.
    statuses = None
    if status:
        names = [name for value in status for name in value.split(",") if name.strip()]
        statuses = training_runs.parse_statuses(names) if names else None
    result = await training_runs.list_training_runs_by_page(
        ctx=ctx,
        run_filter=TrainingRunFilter(statuses=statuses, trained_by=trained_by or None),
        page=page,
        page_size=page_size,
    )
    return {
        "count": result.count,
        "next": _page_url(request, result.page + 1) if result.has_next else None,
        "previous": _page_url(request, result.page - 1) if result.has_previous else None,
        "results": [training_run_summary(run) for run in result.items],
    }


RUN_ID_PARAMETER = {
    "parameters": [
        {
            "name": "run_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "title": "Run Id"},
        }
    ]
}


@route(router, "/runs/{run_id}/", methods=["GET"], openapi_extra=RUN_ID_PARAMETER)
async def training_run_detail_view(request: Request, ctx: ContextDep) -> dict[str, Any]:
    run_id: str = request.path_params["run_id"]
    run = await training_runs.get_training_run(ctx=ctx, run_id=run_id)
    return training_run_detail(run)


def _train_body() -> dict[str, Any]:
    """The body read by hand below, described for the API docs (and the fuzzer that reads
    them): TrainRequest's own JSON schema, its fields spelled as REST spells them."""
    schema = TrainRequest.model_json_schema()
    properties = schema["properties"]
    properties["hyperparameters"] = schema.pop("$defs")["Hyperparameters"]
    for field, alias in REST_NAMES.aliases.items():
        properties[alias] = properties.pop(field)
    return {"requestBody": {"content": {"application/json": {"schema": schema}}}}


@route(router, "/train/", methods=["POST"], status_code=201, openapi_extra=_train_body())
async def train_view(request: Request, ctx: ContextDep) -> JSONResponse:
    result = await training.train_model(
        ctx=ctx,
        fields=await request_fields(request, expected="a JSON object of training parameters"),
        names=REST_NAMES,
    )
    run = result.run
    failure = training.training_failure(result)
    if failure is not None:
        raise failure
    status_code = 201 if run.status == TrainingRunStatus.COMPLETED else 202
    return JSONResponse(train_response(run, result.message), status_code=status_code)
