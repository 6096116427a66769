"""What every resolver receives: the process's services and who is asking."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trainql.config import Settings
from trainql.db.engine import Database
from trainql.domain import User
from trainql.services import Services


@dataclass
class Context:
    """One request's view: the services and the authenticated user (None when anonymous).

    `loaders` holds per-request dataloaders, created on first use, so batching never leaks
    across requests.
    """

    services: Services
    user: User | None = None
    loaders: dict[str, Any] = field(default_factory=dict)
    # The id of the API token `user` authenticated with (what revokeToken revokes).
    token_id: int | None = None

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def db(self) -> Database:
        return self.services.db
