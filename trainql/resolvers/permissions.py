"""Permissions, declared once and used by name: `require(ctx, IS_HR_STAFF)`."""

from __future__ import annotations

from dataclasses import dataclass

from trainql.domain import Dataset, Role, User
from trainql.errors import AuthenticationError, PermissionDenied
from trainql.resolvers.context import Context


@dataclass(frozen=True, slots=True)
class Permission:
    """Who may do something: any authenticated user, or one holding any of `roles`."""

    name: str
    roles: frozenset[Role] | None = None
    denied_message: str = "You do not have permission to perform this action."

    def check(self, user: User | None) -> User:
        if user is None:
            raise AuthenticationError("Authentication credentials were not provided.")
        if self.roles is not None and not user.has_any_role(self.roles):
            allowed = " or ".join(sorted(self.roles))
            raise PermissionDenied(f"{self.denied_message} Required role: {allowed}.")
        return user


IS_AUTHENTICATED = Permission("IsAuthenticated")
IS_HR_STAFF = Permission("IsHRStaff", frozenset({Role.HR_STAFF}))
IS_HR_STAFF_OR_MANAGER = Permission("IsHRStaffOrManager", frozenset({Role.HR_STAFF, Role.MANAGER}))


def require(ctx: Context, permission: Permission) -> User:
    """The caller, when `permission` allows them; otherwise UNAUTHENTICATED or FORBIDDEN."""
    return permission.check(ctx.user)


def require_dataset_access(ctx: Context, dataset: Dataset, *, action: str) -> None:
    """The dataset rule: an ownerless dataset is anyone's; an owned one is its owner's only.

    Anonymous callers on an owned dataset are UNAUTHENTICATED, other users FORBIDDEN with
    "You don't have permission to <action> this dataset".
    """
    if dataset.owner_id is None:
        return
    if ctx.user is None:
        raise AuthenticationError(
            "Authentication credentials were not provided; this dataset has an owner."
        )
    if ctx.user.id != dataset.owner_id:
        raise PermissionDenied(f"You don't have permission to {action} this dataset")
