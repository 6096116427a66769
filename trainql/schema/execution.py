"""The execution context our schema runs operations with: Strawberry's, plus shortcuts.

graphql-core completes a list of objects item by item and field by field: a resolve-info
object, a resolver call and a completion for every field of every item. A predict answer
for 10,000 rows of three classes is 80,000 such fields, about a second of CPU for what the
model computed in a fifth of that. A list value that can complete itself (a `SelfCompleting`
list) is handed the selection instead, as graphql-core collected it (aliases, fragments,
`@include`/`@skip` and `__typename` applied), and builds the same dicts, in the same key
order, in one pass. A list that does not know a selected field, and any selection with an
incremental-delivery directive, goes graphql-core's general way.

Any other list of objects (a page's edges, its nodes) is completed in one pass too when every
selected field is plain: an attribute, or a resolver that takes nothing but the object (no
info, no arguments, not async, no field extensions), of a type without `is_type_of`, down to
scalars and enums coerced as graphql-core coerces them. A run page of 20 edges is about 220
fields, each of which cost graphql-core a resolve-info object, Strawberry's resolver wrapper
and three completion calls. Anything else about a value (a null in a non-null field, a value a
scalar refuses, a resolver that raises) sends the whole list the general way, which reports
it as graphql-core does; the plain resolvers are then called again, so they must be pure (ours
build a value from the object and nothing else).

A plain field of any object outside such a list (a run by id's scalars, its metrics, its
trainer) is answered the same way, each field on its own: one that is not plain, or whose
value is not, goes through graphql-core's `execute_field`.

How each field and list is answered (its plan) is worked out once per document, not once per
operation: the parser cache hands back the same node objects for a document sent again, and
the plans are kept with its operation node, weakly, so that they go when the cache lets the
document go. A selection that carries any directive (@include and @skip depend on the
operation's variables, @defer on more) is planned per operation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Protocol, runtime_checkable

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    InlineFragmentNode,
    OperationDefinitionNode,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from trainql.schema.node_memo import NodeMemo

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


# A value to its completed form, as graphql-core would answer it; raises NotPlain otherwise.
Complete = Callable[[Any], Any]


# How a plain field is answered: its value from the object, and that value completed.
PlainField = tuple[Callable[[Any], Any], Complete]


class NotPlain(Exception):
    """A value the one-pass completion does not answer: the list goes the general way."""


def _unwrap(type_: GraphQLOutputType) -> GraphQLOutputType:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


# Plans by operation node, for as long as that node lives (while the parser cache keeps its
# document, or a request runs it): a plan never outlives its document.
Plans = dict[tuple[Any, ...], tuple[Any, ...]]
_plans: NodeMemo[OperationDefinitionNode, Plans] = NodeMemo(dict)


class TrainqlExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, letting `SelfCompleting` lists complete themselves,
    and completing plain fields and lists of plain objects in one pass."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per selected field (graphql-core's field details list, kept alive with its entry so
        # that its id is not reused): how to answer it in one pass, or None.
        self._plain_fields: dict[int, tuple[FieldDetailsList, PlainField | None]] = {}
        # The operation's kept plans (see `_plans`), looked up on first use.
        self._operation_plans: Plans | None = None

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        # A plain field (see the module's docstring) of any object, a run by id's among
        # them, is answered without a resolve-info object and Strawberry's wrapper.
        cached = self._plain_fields.get(id(field_details_list))
        if cached is None:
            plan = self._kept_plan(parent_type, field_details_list, self._plain_field)
            cached = (field_details_list, plan)
            self._plain_fields[id(field_details_list)] = cached
        plain = cached[1]
        if plain is not None:
            get, complete = plain
            # NotPlain, or anything a plain resolver raised: the general way reports it.
            with contextlib.suppress(Exception):
                return complete(get(source))
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _plain_field(
        self, parent_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> PlainField | None:
        if self._has_middleware() or not _applied_directives_only(field_details_list):
            return None
        name = field_details_list[0].node.name.value
        if name == TYPENAME:
            return _constant(parent_type.name), _identity
        field = parent_type.fields.get(name)
        getter = None if field is None else _plain_getter(field)
        if field is None or getter is None:
            return None
        complete = self._plain_completer(field.type, field_details_list)
        return None if complete is None else (getter, complete)

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
        elif isinstance(result, list) and not self._has_middleware():
            complete = self._kept_plan(return_type, field_details_list, self._plain_completer)
            if complete is not None:
                # NotPlain, or anything a plain resolver raised: the general way reports it.
                with contextlib.suppress(Exception):
                    return complete(result)
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _kept_plan(
        self,
        type_: Any,
        field_details_list: FieldDetailsList,
        plan: Callable[[Any, FieldDetailsList], Any],
    ) -> Any:
        """`plan(type_, field_details_list)`, worked out once per document for these nodes and
        type unless the selection under them carries a directive (see the module's
        docstring). The entry holds the nodes and the type, so their ids stay theirs."""
        nodes = tuple(details.node for details in field_details_list)
        key = (id(type_), *map(id, nodes), self._has_middleware())
        plans = self._operation_plans
        if plans is None:
            plans = self._operation_plans = _plans.of(self.operation)
        found = plans.get(key)
        if found is not None:
            return found[-1]
        planned = plan(type_, field_details_list)
        if not self._carries_directives(nodes):
            plans[key] = (type_, nodes, planned)
        return planned

    def _carries_directives(self, nodes: tuple[FieldNode, ...]) -> bool:
        """Whether any directive appears on these nodes or anywhere under them, fragments
        included (then what collection keeps of them depends on the operation)."""
        todo: list[Any] = list(nodes)
        spread: set[str] = set()
        while todo:
            node = todo.pop()
            if node.directives:
                return True
            if isinstance(node, FragmentSpreadNode):
                name = node.name.value
                details = self.fragments.get(name)
                if getattr(node, "arguments", None):
                    return True  # fragment arguments (experimental) depend on variables too
                if name in spread or details is None:
                    continue
                spread.add(name)
                if details.definition.directives:
                    return True
                todo.extend(details.definition.selection_set.selections)
            elif isinstance(node, (FieldNode, InlineFragmentNode)) and node.selection_set:
                todo.extend(node.selection_set.selections)
        return False

    def _has_middleware(self) -> bool:
        # Strawberry passes a manager on every request; it holds the extensions that
        # implement `resolve`, which must see every field.
        manager = self.middleware_manager
        return manager is not None and bool(manager.middlewares)

    def _plain_completer(
        self, type_: GraphQLOutputType, field_details_list: FieldDetailsList
    ) -> Complete | None:
        """What completes a value of `type_` for this selection in one pass, or None when
        some selected field is not plain (see the module's docstring)."""
        if isinstance(type_, GraphQLNonNull):
            inner = self._plain_completer(type_.of_type, field_details_list)
            return None if inner is None else _non_null(inner)
        if isinstance(type_, GraphQLList):
            inner = self._plain_completer(type_.of_type, field_details_list)
            return None if inner is None else _list_of(inner)
        if is_leaf_type(type_):
            return _leaf(type_.coerce_output_value)
        if isinstance(type_, GraphQLObjectType) and type_.is_type_of is None:
            return self._plain_object_completer(type_, field_details_list)
        return None  # an interface or a union: graphql-core resolves the type

    def _plain_object_completer(
        self, type_: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Complete | None:
        if any(details.defer_usage is not None for details in field_details_list):
            return None
        grouped, new_defer_usages, _forbidden = self.collect_subfields(type_, field_details_list)
        if new_defer_usages:
            return None
        fields: list[tuple[str, Callable[[Any], Any], Complete]] = []
        for key, details in grouped.items():
            node = details[0].node
            name = node.name.value
            if not _applied_directives_only(details):
                return None
            if name == TYPENAME:
                fields.append((key, _constant(type_.name), _identity))
                continue
            field = type_.fields.get(name)
            getter = None if field is None else _plain_getter(field)
            if getter is None or field is None:
                return None
            complete = self._plain_completer(field.type, details)
            if complete is None:
                return None
            fields.append((key, getter, complete))

        def complete_object(value: Any) -> dict[str, Any] | None:
            if value is None:
                return None
            return {key: complete(get(value)) for key, get, complete in fields}

        return complete_object

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
            if not _applied_directives_only(details):
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


def _applied_directives_only(field_details_list: FieldDetailsList) -> bool:
    """Whether the field's nodes carry no directive but those collection already applied."""
    return all(
        directive.name.value in APPLIED_DIRECTIVES
        for details in field_details_list
        for directive in details.node.directives or ()
    )


def _plain_getter(field: GraphQLField) -> Callable[[Any], Any] | None:
    """How Strawberry gets `field`'s value from its object, when that needs nothing but the
    object: the attribute of a field without a resolver, or the call of a resolver that takes
    only `self`. None for anything else (info, arguments, async, permissions, extensions)."""
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or definition.extensions or field.args:
        return None
    resolver = definition.base_resolver
    if resolver is None:
        # The schema's default resolver; StrawberryConfig's default is getattr.
        if definition.default_resolver is not getattr:
            return None
        return attrgetter(definition.python_name)
    if (
        resolver.is_async
        or resolver.arguments
        or resolver.info_parameter is not None
        or resolver.root_parameter is not None
        or resolver.parent_parameter is not None
        or resolver.self_parameter is None
    ):
        return None
    func = resolver.wrapped_func
    return None if isinstance(func, (staticmethod, classmethod)) else func


def _non_null(inner: Complete) -> Complete:
    def complete_non_null(value: Any) -> Any:
        completed = inner(value)
        if completed is None:
            raise NotPlain  # graphql-core's "Cannot return null for non-nullable field"
        return completed

    return complete_non_null


def _list_of(inner: Complete) -> Complete:
    def complete_list(value: Any) -> list[Any] | None:
        if value is None:
            return None
        if not isinstance(value, (list, tuple)):
            raise NotPlain  # other iterables, awaitables among them, go the general way
        return [inner(item) for item in value]

    return complete_list


def _leaf(coerce: Callable[[Any], Any]) -> Complete:
    def complete_leaf(value: Any) -> Any:
        if value is None or value is Undefined:
            return None
        if isinstance(value, Exception):
            raise NotPlain  # a resolver may return an error to report
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise NotPlain
        return coerced

    return complete_leaf


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _source: value


def _identity(value: Any) -> Any:
    return value


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
