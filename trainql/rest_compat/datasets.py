"""The legacy dataset routes: PATCH /ai/dataset/{id}/training-status and POST /ai/datasets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile

from trainql.errors import InvalidInput
from trainql.resolvers import datasets
from trainql.rest_compat.bodies import request_fields
from trainql.rest_compat.deps import ContextDep
from trainql.rest_compat.routing import route
from trainql.rest_compat.serializers import dataset_body

router = APIRouter(prefix="/ai")


async def _training_status_field(request: Request) -> object:
    """`training_status` from a form (multipart or urlencoded) or a JSON object body."""
    try:
        fields = await request_fields(request, expected="a form with training_status")
    except InvalidInput:
        # The old API's one answer for any unusable value.
        raise InvalidInput(datasets.INVALID_TRAINING_STATUS) from None
    return fields.get("training_status")


# The body is read by hand (a form or a JSON object, as the old API took it), so FastAPI
# cannot describe it: say it here, for the API docs and for clients generated from them.
_TRAINING_STATUS_SCHEMA = {
    "type": "object",
    "properties": {"training_status": {"type": "string", "enum": ["trained", "not_trained"]}},
    "required": ["training_status"],
}
TRAINING_STATUS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media_type: {"schema": _TRAINING_STATUS_SCHEMA}
            for media_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
                "application/json",
            )
        },
    }
}


@route(
    router,
    "/dataset/{dataset_id}/training-status",
    methods=["PATCH"],
    openapi_extra=TRAINING_STATUS_BODY,
)
async def update_training_status(
    dataset_id: str, request: Request, ctx: ContextDep
) -> dict[str, Any]:
    value = await _training_status_field(request)
    change = await datasets.set_training_status(
        ctx=ctx, dataset_id=dataset_id, training_status=value
    )
    return {
        "success": True,
        "dataset_id": str(change.dataset.id),
        "training_status": change.dataset.training_status.value,
        "message": change.message,
    }


@route(router, "/datasets", methods=["POST"], status_code=201)
async def create_dataset(
    name: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    ctx: ContextDep,
) -> dict[str, Any]:
    created = await datasets.create_dataset(ctx=ctx, name=name, file=file)
    return dataset_body(created)
