"""The one error family.

Each transport maps it in one place: schema/errors.py and rest_compat/errors.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class TrainqlError(Exception):
    """A domain error: `code` is the GraphQL `extensions.code`, `http_status` the REST status."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"
    http_status: ClassVar[int] = 500
    # Seconds a client should wait before trying again (the Retry-After header), for errors
    # that say the server cannot do it now rather than that the request is wrong.
    retry_after_s: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def extensions(self) -> dict[str, Any]:
        """What GraphQL adds under `extensions` besides the code."""
        return {}


class AuthenticationError(TrainqlError):
    """No credentials where they are required, or credentials that are wrong."""

    code = "UNAUTHENTICATED"
    http_status = 401


class TooManyRequests(TrainqlError):
    """Refused until a wait ends (a login throttled after failed attempts).

    `retry_after_s` is the wait in whole seconds, rounded up: REST sends it as `Retry-After`,
    GraphQL as `extensions.retryAfterSeconds`.
    """

    code = "TOO_MANY_REQUESTS"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def extensions(self) -> dict[str, Any]:
        return {"retryAfterSeconds": self.retry_after_s}


class PermissionDenied(TrainqlError):
    """Authenticated, but lacking the role or ownership the operation needs."""

    code = "FORBIDDEN"
    http_status = 403


class NotFound(TrainqlError):
    """No such object (or one the caller may not know exists)."""

    code = "NOT_FOUND"
    http_status = 404


class InvalidInput(TrainqlError):
    """Input that fails validation; `fields` maps each field to what was wrong with it."""

    code = "BAD_USER_INPUT"
    http_status = 400

    def __init__(self, message: str, *, fields: Mapping[str, Sequence[str]] | None = None) -> None:
        super().__init__(message)
        self.fields: dict[str, list[str]] = {k: list(v) for k, v in (fields or {}).items()}

    def extensions(self) -> dict[str, Any]:
        return {"fields": self.fields} if self.fields else {}


class MalformedRequest(InvalidInput):
    """A request that is not well formed for this service (not UTF-8, nested too deeply, of a
    content type no route accepts, not a GraphQL request): refused before anything ran."""

    code = "BAD_REQUEST"


class InvalidCredentials(InvalidInput):
    """A login with an unknown username or a wrong password (the two are never told apart)."""

    def __init__(self) -> None:
        super().__init__("Unable to log in with provided credentials.")


class PayloadTooLarge(InvalidInput):
    """A request body (an upload, a JSON or form body) over the configured limit."""

    http_status = 413

    @classmethod
    def upload(cls, max_bytes: int) -> PayloadTooLarge:
        """The one wording of the upload size refusal (uploads and the HTTP body guard)."""
        return cls(
            f"The upload is larger than the limit of {max_bytes // (1024 * 1024)} MB "
            "(TRAINQL_MAX_UPLOAD_MB)."
        )

    @classmethod
    def body(cls, max_bytes: int) -> PayloadTooLarge:
        """The refusal of a JSON or form body over TRAINQL_MAX_BODY_KB."""
        return cls(
            f"The request body is larger than the limit of {max_bytes // 1024} KB "
            "(TRAINQL_MAX_BODY_KB) for JSON and form bodies; dataset files go in a "
            "multipart upload."
        )

    @classmethod
    def predict_body(cls, max_bytes: int, max_rows: int) -> PayloadTooLarge:
        """The refusal of a JSON prediction body over its bound (see RequestLimits)."""
        return cls(
            f"The request body is larger than the limit of {max_bytes // 1024} KB for JSON "
            f"predictions (room for TRAINQL_PREDICT_MAX_ROWS = {max_rows} rows); send larger "
            "batches as a CSV file (multipart `file`)."
        )


class DatabaseUnavailable(TrainqlError):
    """The database cannot be reached (down, restarting, or no pooled connection came free
    in time). Nothing was done: the client may retry the same request shortly."""

    code = "SERVICE_UNAVAILABLE"
    http_status = 503
    retry_after_s = 1

    def __init__(self) -> None:
        super().__init__("The database is unavailable; retry shortly.")


class InsufficientStorage(TrainqlError):
    """A file could not be written: the storage is full (or over quota) or read-only.
    Nothing partial was kept."""

    code = "INSUFFICIENT_STORAGE"
    http_status = 507


class ModelUnavailable(TrainqlError):
    """A run that cannot predict: not COMPLETED, its model file gone or changed since it was
    trained, or trained before the service recorded what predicting needs. The message says
    which, and what to do."""

    code = "MODEL_UNAVAILABLE"
    http_status = 409


class DatasetInvalid(TrainqlError):
    """A dataset that cannot be read, or lacks what training needs."""

    code = "DATASET_INVALID"
    http_status = 400


class TrainingFailed(TrainqlError):
    """Fitting raised; the run was recorded FAILED with the message."""

    code = "TRAINING_FAILED"
    http_status = 500

    def __init__(self, message: str, *, training_run_id: int) -> None:
        super().__init__(message)
        self.training_run_id = training_run_id

    def extensions(self) -> dict[str, Any]:
        return {"trainingRunId": self.training_run_id}


class TrainingStorageFull(TrainingFailed):
    """The training ran but its model could not be written (storage full or read-only);
    the run was recorded FAILED saying so."""

    code = "INSUFFICIENT_STORAGE"
    http_status = 507
