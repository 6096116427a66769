"""Predictions over REST: POST /api/training/runs/{id}/predict/ and
POST /api/models/{alias}/predict/, with a JSON body of rows (a JSON answer) or a multipart
CSV `file` (a CSV answer, streamed)."""

from __future__ import annotations

from itertools import chain
from typing import Any

import pydantic_core
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from trainql.errors import InvalidInput
from trainql.http.request_guard import MULTIPART, media_type
from trainql.resolvers import predictions
from trainql.resolvers.predictions import ModelSelector, PredictionResult
from trainql.rest_compat.bodies import request_fields
from trainql.rest_compat.deps import ContextDep
from trainql.rest_compat.routing import route

router = APIRouter(prefix="/api")

JSON_BODY = 'a JSON object {"rows": [{column: value, ...}, ...]}'

# The body is read by hand (JSON rows or a multipart CSV file): described here for the API
# docs and the clients generated from them.
_ROWS_SCHEMA = {
    "type": "object",
    "required": ["rows"],
    "properties": {
        "rows": {
            "type": "array",
            "minItems": 1,
            "description": "One object per row: every input column of the model (null for a "
            "missing value); other keys are ignored. At most TRAINQL_PREDICT_MAX_ROWS.",
            "items": {"type": "object", "additionalProperties": True},
        }
    },
}
_FILE_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "A UTF-8 CSV file with a header row holding every input column.",
        }
    },
}
_ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "training_run_id": {"type": "integer"},
        "model_version": {"type": "string"},
        "predictions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "probabilities": {
                        "type": "object",
                        "additionalProperties": {"type": "number"},
                    },
                },
            },
        },
        "ignored_columns": {"type": "array", "items": {"type": "string"}},
    },
}
PREDICT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _ROWS_SCHEMA},
            "multipart/form-data": {"schema": _FILE_SCHEMA},
        },
    },
    "responses": {
        "200": {
            "description": "JSON rows: a prediction per row. A CSV file: the input columns "
            "plus predicted_<target> and probability_<class> for each class.",
            "content": {
                "application/json": {"schema": _ANSWER_SCHEMA},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
}


@route(
    router,
    "/training/runs/{run_id}/predict/",
    methods=["POST"],
    response_class=Response,
    openapi_extra=PREDICT_OPENAPI,
)
async def predict_with_run(run_id: str, request: Request, ctx: ContextDep) -> Response:
    return await _predict(request, ctx, ModelSelector(training_run_id=run_id))


@route(
    router,
    "/models/{alias}/predict/",
    methods=["POST"],
    response_class=Response,
    openapi_extra=PREDICT_OPENAPI,
)
async def predict_with_alias(alias: str, request: Request, ctx: ContextDep) -> Response:
    return await _predict(request, ctx, ModelSelector(alias=alias))


async def _predict(request: Request, ctx: ContextDep, selector: ModelSelector) -> Response:
    if media_type(request.headers.get("content-type", "").encode("latin-1")) == MULTIPART:
        upload = (await request.form()).get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput(
                "A multipart prediction request needs a CSV file part named `file`.",
                fields={"file": ["This field is required."]},
            )
        result = await predictions.predict_csv(ctx=ctx, selector=selector, file=upload.file)
        return StreamingResponse(
            result.chunks,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="predictions-{result.run.model_version}.csv"'
                ),
                "X-Training-Run-Id": str(result.run.id),
                "X-Model-Version": result.run.model_version,
            },
        )
    fields = await request_fields(request, expected=JSON_BODY)
    if "rows" not in fields:
        raise InvalidInput(f"Expected {JSON_BODY}.", fields={"rows": ["This field is required."]})
    found = await predictions.predict(ctx=ctx, selector=selector, rows=fields["rows"])
    return Response(_answer(found), media_type="application/json")


def _answer(result: PredictionResult) -> bytes:
    """The JSON answer, written without a Python object per row: pydantic_core.to_json (Rust)
    writes every probability at once, and the rows are their classes' prebuilt templates,
    joined and filled with the numbers in one format. The text equals json.dumps' of the
    same dict (compact separators) but for a float json.dumps writes with a 2-digit exponent
    (1e-05 here is 1e-5): each float is written in its shortest round-trip form, so the
    values read back are the model's exactly."""
    prediction = result.prediction
    # `%` in a class name must not read as a placeholder.
    names = [pydantic_core.to_json(c).replace(b"%", b"%%") for c in prediction.classes]
    probabilities = b",".join(name + b":%s" for name in names)
    template = {
        c: b'{"label":' + name + b',"probabilities":{' + probabilities + b"}}"
        for c, name in zip(prediction.classes, names, strict=True)
    }
    numbers = pydantic_core.to_json(list(chain.from_iterable(prediction.probabilities)))
    # One format of every row's template at once: no Python step per row.
    rows = b",".join(map(template.__getitem__, prediction.labels)) % tuple(
        numbers[1:-1].split(b",")
    )
    head = pydantic_core.to_json(
        {"model_version": result.run.model_version, "training_run_id": result.run.id}
    )
    ignored = pydantic_core.to_json(result.ignored_columns)
    return b'%s,"predictions":[%s],"ignored_columns":%s}' % (head[:-1], rows, ignored)
