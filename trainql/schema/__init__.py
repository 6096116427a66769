"""The GraphQL schema: root types composed from one folder per domain."""

from trainql.schema.root import schema

__all__ = ["schema"]
