"""GitHub's REST description as a router and a checker of requests and answers for the simulator.

The simulator refuses any call GitHub would not recognise, so the app cannot drift away from the
real API unnoticed. Routing follows GitHub's own: a literal segment beats a parameter, and the
parameters that carry git names or file paths ({path}, {ref}, {branch}, {basehead}) may span
several segments (`refs/heads/feature/x`, `src/app/main.py`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sim.paths import shared_github_dir
from sim.validators.json_schema import Schema, SchemaCompiler
from sim.validators.openapi_errata import apply_errata

_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")

# Git ref names, branch names and file paths contain slashes, and GitHub routes them unescaped.
_SLASHY_PARAMS = frozenset({"path", "ref", "branch", "basehead"})
# `GET /repos/{o}/{r}/contents/` (empty path) lists the repository root.
_MAY_BE_EMPTY = frozenset({"path"})


@dataclass(frozen=True)
class Match:
    template: str
    method: str
    operation_id: str
    params: dict[str, str]


@dataclass(frozen=True)
class _Operation:
    template: str
    method: str
    operation_id: str
    param_names: tuple[str, ...]
    request_body: dict[str, Any] | None


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    slashy: _Node | None = None
    slashy_may_be_empty: bool = False
    # Segments mixing text and parameters, e.g. "{base}...{head}"; a regex per segment.
    patterns: list[tuple[re.Pattern[str], _Node]] = field(default_factory=list)
    operation: _Operation | None = None


_WHOLE_PARAM = re.compile(r"^\{([^{}/]+)\}$")
_INNER_PARAM = re.compile(r"\{([^{}/]+)\}")


def _segment_pattern(segment: str) -> re.Pattern[str]:
    parts: list[str] = []
    last = 0
    for found in _INNER_PARAM.finditer(segment):
        parts.append(re.escape(segment[last : found.start()]))
        parts.append("(.+?)")
        last = found.end()
    parts.append(re.escape(segment[last:]))
    return re.compile("".join(parts) + r"\Z")


def _template_param_names(template: str) -> tuple[str, ...]:
    return tuple(_INNER_PARAM.findall(template))


def _insert(root: _Node, operation: _Operation) -> None:
    node = root
    for segment in _segments(operation.template):
        whole = _WHOLE_PARAM.match(segment)
        if whole and whole.group(1) in _SLASHY_PARAMS:
            if node.slashy is None:
                node.slashy = _Node()
            node.slashy_may_be_empty |= whole.group(1) in _MAY_BE_EMPTY
            node = node.slashy
        elif whole:
            if node.param is None:
                node.param = _Node()
            node = node.param
        elif "{" in segment:
            pattern = _segment_pattern(segment)
            for existing, child in node.patterns:
                if existing.pattern == pattern.pattern:
                    node = child
                    break
            else:
                child = _Node()
                node.patterns.append((pattern, child))
                node = child
        else:
            node = node.literals.setdefault(segment, _Node())
    node.operation = operation


def _segments(path: str) -> list[str]:
    if path in ("", "/"):
        return []
    return path.removeprefix("/").split("/")


_Found = tuple[_Operation, list[str]]


def _walk(node: _Node, segments: list[str], i: int, values: list[str]) -> _Found | None:
    """Depth-first, most specific first: literal, parameter, multi-segment parameter, pattern.

    The "{base}...{head}" compare template thus loses to "{basehead}", so every compare call
    routes to the one current operation.
    """
    if i == len(segments):
        if node.operation is not None:
            return node.operation, values
        if node.slashy is not None and node.slashy_may_be_empty:
            return _walk(node.slashy, segments, i, [*values, ""])
        return None
    segment = segments[i]
    child = node.literals.get(segment)
    if child is not None:
        found = _walk(child, segments, i + 1, values)
        if found:
            return found
    if node.param is not None and segment:
        found = _walk(node.param, segments, i + 1, [*values, unquote(segment)])
        if found:
            return found
    if node.slashy is not None:
        # Shortest span first, so that "/commits/a/b/status" is {ref}=a/b + "/status".
        start = 0 if node.slashy_may_be_empty else 1
        for end in range(i + start, len(segments) + 1):
            spanned = segments[i:end]
            if any(not part for part in spanned[:-1]):
                break
            value = "/".join(unquote(part) for part in spanned)
            found = _walk(node.slashy, segments, end, [*values, value])
            if found:
                return found
    for pattern, pattern_child in node.patterns:
        matched = pattern.match(segment)
        if matched:
            parts = [unquote(group) for group in matched.groups()]
            found = _walk(pattern_child, segments, i + 1, values + parts)
            if found:
                return found
    return None


def _match_of(operation: _Operation, values: list[str]) -> Match:
    return Match(
        template=operation.template,
        method=operation.method,
        operation_id=operation.operation_id,
        params=dict(zip(operation.param_names, values, strict=True)),
    )


def _is_empty_body(body: Any) -> bool:
    return body is None or body == "" or body == b"" or body == {}


class OpenAPIIndex:
    """Routes (method, path) to GitHub operations; checks requests and answers against them."""

    def __init__(self, spec: dict[str, Any]) -> None:
        apply_errata(spec)
        components = spec.get("components", {})
        # Only these can be the target of a $ref the simulator follows; the rest (examples)
        # is most of the 13 MB and is dropped.
        kept = {k: components[k] for k in ("schemas", "requestBodies", "parameters", "responses")
                if k in components}
        self.schemas = SchemaCompiler(kept)
        self._roots: dict[str, _Node] = {}
        self._sources: dict[tuple[str, str], dict[str, Any]] = {}
        self._queries: dict[tuple[str, str], dict[str, _QueryParam]] = {}
        self._bodies: dict[tuple[str, str], Schema | None] = {}
        self._answers: dict[tuple[str, str, int], tuple[bool, Schema | None]] = {}
        for template, item in spec.get("paths", {}).items():
            for method in _METHODS:
                operation = item.get(method)
                if not isinstance(operation, dict):
                    continue
                upper = method.upper()
                source = dict(operation)
                # Parameters shared by every method of a path live on the path item.
                source["parameters"] = [*item.get("parameters", []),
                                        *operation.get("parameters", [])]
                self._sources[(upper, template)] = source
                _insert(
                    self._roots.setdefault(upper, _Node()),
                    _Operation(
                        template=template,
                        method=upper,
                        operation_id=str(operation.get("operationId", "")),
                        param_names=_template_param_names(template),
                        request_body=operation.get("requestBody"),
                    ),
                )

    def __len__(self) -> int:
        return len(self._sources)

    def __repr__(self) -> str:
        return f"OpenAPIIndex({len(self._sources)} operations)"

    @classmethod
    def load(cls, path: Path | None = None) -> OpenAPIIndex:
        """The index of `path` (default: GitHub's description); built once per process."""
        if path is None:
            path = shared_github_dir() / "openapi" / "api.github.com.json"
        return _load(Path(path).resolve())

    def match(self, method: str, path: str) -> Match | None:
        found = self._lookup(method, path)
        if found is None:
            return None
        return _match_of(*found)

    def _lookup(self, method: str, path: str) -> _Found | None:
        root = self._roots.get(method.upper())
        if root is None:
            return None
        return _walk(root, _segments(path), 0, [])

    def check(self, method: str, path: str, body: Any) -> tuple[Match | None, list[str]]:
        """The matched operation and what GitHub would reject about its body ([] when fine)."""
        found = self._lookup(method, path)
        if found is None:
            return None, [f"no such operation: {method.upper()} {path}"]
        return _match_of(*found), self.body_problems(found[0].method, found[0].template, body)

    # --- request bodies ------------------------------------------------------------------------

    def body_problems(self, method: str, template: str, body: Any) -> list[str]:
        source = self._sources[(method, template)]
        request_body = self.schemas.resolve(source.get("requestBody") or {})
        where = f"{method} {template}"
        if not request_body:
            return [] if _is_empty_body(body) else [f"{where} takes no request body"]
        if body is None or body == "" or body == b"":
            return [f"{where} requires a request body"] if request_body.get("required") else []
        media = request_body.get("content", {}).get("application/json")
        if media is None:
            # Raw uploads (markdown text, release assets): nothing structural to check.
            return []
        key = (method, template)
        if key not in self._bodies:
            self._bodies[key] = self.schemas.compile(media.get("schema") or {})
        schema = self._bodies[key]
        return [] if schema is None else [f"{where}: {p}" for p in schema.problems(body)]

    # --- query parameters ----------------------------------------------------------------------

    def query_problems(self, method: str, template: str,
                       query: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """(what GitHub refuses, parameters it does not know and silently ignores)."""
        known = self._query_params(method, template)
        refused: list[str] = []
        unknown: list[str] = []
        for name in dict.fromkeys(query):
            param = known.get(name)
            if param is None:
                unknown.append(name)
                continue
            values = query.getall(name) if hasattr(query, "getall") else [query[name]]
            value = param.parse(values)
            if value is _UNPARSABLE:
                refused.append(f"query parameter '{name}': {values[-1]!r} is not "
                               f"{'an' if param.type == 'integer' else 'a'} {param.type}")
                continue
            refused += [f"query parameter '{name}' {p.removeprefix('the value ')}"
                        for p in param.schema.problems(value)]
        for name, param in known.items():
            if param.required and name not in query:
                refused.append(f"query parameter '{name}' is required")
        return refused, unknown

    def _query_params(self, method: str, template: str) -> dict[str, _QueryParam]:
        key = (method, template)
        if key not in self._queries:
            params: dict[str, _QueryParam] = {}
            for raw in self._sources[key].get("parameters", []):
                param = self.schemas.resolve(raw)
                if not isinstance(param, dict) or param.get("in") != "query":
                    continue
                schema_source = self.schemas.resolve(param.get("schema") or {})
                params[str(param["name"])] = _QueryParam(
                    str(param["name"]), bool(param.get("required")),
                    str(schema_source.get("type") or "string"),
                    self.schemas.compile(param.get("schema") or {}))
            self._queries[key] = params
        return self._queries[key]

    # --- answers -------------------------------------------------------------------------------

    def answer_schema(self, method: str, template: str, status: int) -> tuple[bool, Schema | None]:
        """(GitHub documents this status for the operation, the JSON schema of its body)."""
        key = (method, template, status)
        if key not in self._answers:
            responses = self._sources[(method, template)].get("responses") or {}
            raw = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
            if raw is None:
                self._answers[key] = (False, None)
            else:
                answer = self.schemas.resolve(raw)
                media = (answer.get("content") or {}).get("application/json") or {}
                schema = media.get("schema")
                self._answers[key] = (True, None if schema is None
                                      else self.schemas.compile(schema))
        return self._answers[key]


_UNPARSABLE = object()


@dataclass(frozen=True)
class _QueryParam:
    name: str
    required: bool
    type: str
    schema: Schema

    def parse(self, values: list[str]) -> Any:
        """The JSON value a query string stands for (_UNPARSABLE when it cannot)."""
        if self.type == "array":
            return [part for value in values for part in value.split(",") if part]
        raw = values[-1]
        try:
            if self.type == "integer":
                return int(raw)
            if self.type == "number":
                return float(raw)
        except ValueError:
            return _UNPARSABLE
        if self.type == "boolean":
            return {"true": True, "false": False}.get(raw, _UNPARSABLE)
        return raw


@cache
def _load(path: Path) -> OpenAPIIndex:
    with path.open("rb") as handle:
        return OpenAPIIndex(json.load(handle))
