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
