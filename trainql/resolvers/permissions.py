"""Permissions, declared once and used by name: `require(ctx, IS_HR_STAFF)`."""

from __future__ import annotations

from dataclasses import dataclass

from trainql.domain import Role, User
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
