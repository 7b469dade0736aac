"""Validates GraphQL documents against GitHub's published schema, as GitHub's endpoint would."""

from __future__ import annotations

from functools import cache
from typing import Any

import graphql
from graphql.execution.values import get_variable_values

from sim.paths import shared_github_dir


@cache
def graphql_schema() -> graphql.GraphQLSchema:
    """GitHub's schema, built once per process (about 1 s: parsing 1.2 MB of SDL)."""
    source = (shared_github_dir() / "graphql" / "schema.graphql").read_text(encoding="utf-8")
    # The published SDL fails graphql-core's own checks (a field defined twice on
    # EnterpriseOwnerInfo; deprecated fields implementing non-deprecated interface fields),
    # although GitHub serves it. Those defects do not affect validating documents against it.
    return graphql.build_schema(source, assume_valid_sdl=True, assume_valid=True)


def _describe(error: graphql.GraphQLError) -> str:
    where = ", ".join(f"line {loc.line}, column {loc.column}" for loc in error.locations or [])
    return f"{error.message} ({where})" if where else error.message


def validate_graphql(query: str, variables: dict[str, Any] | None = None) -> list[str]:
    """What GitHub would answer in `errors` before running the query; [] when it is valid."""
    try:
        document = graphql.parse(query)
    except graphql.GraphQLError as error:  # GraphQLSyntaxError is a subclass
        return [_describe(error)]
    schema = graphql_schema()
    problems = [_describe(error) for error in graphql.validate(schema, document)]
    if problems:
        return problems
    if variables is not None and not isinstance(variables, dict):
        return [f"variables must be a JSON object, got {type(variables).__name__}"]
    for definition in document.definitions:
        if not isinstance(definition, graphql.OperationDefinitionNode):
            continue
        coerced = get_variable_values(
            schema, definition.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            problems += [_describe(error) for error in coerced]
    return problems


MAX_PAGE = 100


def pagination_problems(query: str, variables: dict[str, Any] | None = None
                        ) -> list[tuple[str, str]]:
    """(type, message) for every connection asked for without `first`/`last`, or for more than
    100 nodes: GitHub refuses the whole document before running it."""
    document = graphql.parse(query)
    info = graphql.TypeInfo(graphql_schema())
    found: list[tuple[str, str]] = []

    class Pages(graphql.Visitor):
        def enter_field(self, node: graphql.FieldNode, *_: Any) -> None:
            field = info.get_field_def()
            if field is None or not ({"first", "last"} <= set(field.args)):
                return
            if not graphql.get_named_type(field.type).name.endswith("Connection"):
                return
            given = {arg.name.value: graphql.value_from_ast_untyped(arg.value, variables)
                     for arg in node.arguments or ()}
            name = node.name.value
            if given.get("first") is None and given.get("last") is None:
                found.append(("MISSING_PAGINATION_BOUNDARIES",
                              f"You must provide a `first` or `last` value to properly paginate "
                              f"the `{name}` connection."))
            for key in ("first", "last"):
                asked = given.get(key)
                if isinstance(asked, int) and asked > MAX_PAGE:
                    found.append(("EXCESSIVE_PAGINATION",
                                  f"Requesting {asked} records on the `{name}` connection "
                                  f"exceeds the `{key}` limit of {MAX_PAGE} records."))

    graphql.visit(document, graphql.TypeInfoVisitor(info, Pages()))
    return found


MAX_NODES = 500_000


def query_cost(query: str, variables: dict[str, Any] | None = None) -> tuple[int, int]:
    """(nodes, points) of a document, as GitHub counts them before running it: every
    connection is assumed to fill its `first`/`last`; a connection inside another is asked
    once per node of its parent. Nodes: the sum over connections of the nodes they may
    return (at most MAX_NODES, or GitHub refuses the document). Points (the rate limit's
    cost): the requests needed for every connection, over 100, rounded, at least 1.
    (Fields inside named fragments count as if at the top: the app writes inline ones.)"""
    document = graphql.parse(query)
    info = graphql.TypeInfo(graphql_schema())
    nodes = requests = 0
    parents: list[int] = [1]  # nodes of the enclosing connections, outermost first
    pushed: list[bool] = []

    class Cost(graphql.Visitor):
        def enter_field(self, node: graphql.FieldNode, *_: Any) -> None:
            nonlocal nodes, requests
            field = info.get_field_def()
            connection = (
                field is not None and {"first", "last"} <= set(field.args)
                and graphql.get_named_type(field.type).name.endswith("Connection")
            )
            pushed.append(connection)
            if not connection:
                return
            given = {arg.name.value: graphql.value_from_ast_untyped(arg.value, variables)
                     for arg in node.arguments or ()}
            size = max(int(v) for k in ("first", "last")
                       if isinstance(v := given.get(k), int)) if any(
                isinstance(given.get(k), int) for k in ("first", "last")) else 0
            requests += parents[-1]
            nodes += parents[-1] * size
            parents.append(parents[-1] * size)

        def leave_field(self, *_: Any) -> None:
            if pushed.pop():
                parents.pop()

    graphql.visit(document, graphql.TypeInfoVisitor(info, Cost()))
    return nodes, max(1, round(requests / 100))
