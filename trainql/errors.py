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


class InvalidCredentials(InvalidInput):
    """A login with an unknown username or a wrong password (the two are never told apart)."""

    def __init__(self) -> None:
        super().__init__("Unable to log in with provided credentials.")


class PayloadTooLarge(InvalidInput):
    """A request body (an upload) over the configured limit."""

    http_status = 413

    @classmethod
    def upload(cls, max_bytes: int) -> PayloadTooLarge:
        """The one wording of the upload size refusal (uploads and the HTTP body guard)."""
        return cls(
            f"The upload is larger than the limit of {max_bytes // (1024 * 1024)} MB "
            "(TRAINQL_MAX_UPLOAD_MB)."
        )


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
