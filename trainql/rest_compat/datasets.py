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


@route(router, "/dataset/{dataset_id}/training-status", methods=["PATCH"])
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
