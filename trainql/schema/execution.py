"""The execution context our schema runs operations with: Strawberry's, plus one shortcut.

graphql-core completes a list of objects item by item and field by field: a resolve-info
object, a resolver call and a completion for every field of every item. A predict answer
for 10,000 rows of three classes is 80,000 such fields, about a second of CPU for what the
model computed in a fifth of that. A list value that can complete itself (a `SelfCompleting`
list) is handed the selection instead, as graphql-core collected it (aliases, fragments,
`@include`/`@skip` and `__typename` applied), and builds the same dicts, in the same key
order, in one pass. A list that does not know a selected field, and any selection with an
incremental-delivery directive, goes graphql-core's general way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

TYPENAME = "__typename"
# Directives collect_subfields has already applied; any other (@stream) is graphql-core's.
APPLIED_DIRECTIVES = frozenset({"include", "skip"})


@dataclass(frozen=True, slots=True)
class SelectedField:
    """One entry of a collected selection: the response key it is answered under, the
    field's name, and for a field of object type (or a list of them) its own selection."""

    key: str
    name: str
    selection: Selection | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """What was selected on an object type, in response order."""

    type_name: str
    fields: tuple[SelectedField, ...]


@runtime_checkable
class SelfCompleting(Protocol):
    """A list field's value that completes itself for a selection on its item type."""

    def complete(self, selection: Selection) -> list[dict[str, Any]] | None:
        """The completed items (what graphql-core would build), or None when a selected
        field is not one this list completes: then each item is completed the general way,
        by iterating the list."""
        ...


def _unwrap(type_: GraphQLOutputType) -> GraphQLOutputType:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


class TrainqlExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, letting `SelfCompleting` lists complete themselves."""

    def complete_list_value(  # noqa: PLR0917 (graphql-core's signature)
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        if isinstance(result, SelfCompleting):
            selection = self._selection(_unwrap(return_type), field_details_list)
            completed = None if selection is None else result.complete(selection)
            if completed is not None:
                return completed
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _selection(
        self, type_: GraphQLOutputType, field_details_list: FieldDetailsList
    ) -> Selection | None:
        """The collected selection on object type `type_`, with the sub-selections of its
        object-typed fields; None where graphql-core must decide (deferred fragments, a
        directive other than @include/@skip, an abstract type)."""
        if not isinstance(type_, GraphQLObjectType):
            return None
        if any(details.defer_usage is not None for details in field_details_list):
            return None
        grouped, new_defer_usages, _forbidden = self.collect_subfields(type_, field_details_list)
        if new_defer_usages:
            return None
        fields: list[SelectedField] = []
        for key, details in grouped.items():
            node = details[0].node
            name = node.name.value
            if any(
                directive.name.value not in APPLIED_DIRECTIVES
                for d in details
                for directive in d.node.directives or ()
            ):
                return None
            field = type_.fields.get(name)
            if name == TYPENAME or field is None or node.selection_set is None:
                fields.append(SelectedField(key, name))
                continue
            selection = self._selection(_unwrap(field.type), details)
            if selection is None:
                return None
            fields.append(SelectedField(key, name, selection))
        return Selection(type_.name, tuple(fields))


def keyed_template(selection: Selection, constants: dict[str, Any]) -> dict[str, Any]:
    """A dict with every response key of `selection` in order: each field named in
    `constants` holding its value, `__typename` its type's name, the rest None (to be
    assigned per item; assigning an existing key keeps its place)."""
    template: dict[str, Any] = {}
    for field in selection.fields:
        if field.name == TYPENAME:
            template[field.key] = selection.type_name
        else:
            template[field.key] = constants.get(field.name)
    return template
