"""GitHub's REST description as a router and a request-body checker for the simulator.

The simulator refuses any call GitHub would not recognise, so the app cannot drift away from the
real API unnoticed. Routing follows GitHub's own: a literal segment beats a parameter, and the
parameters that carry git names or file paths ({path}, {ref}, {branch}, {basehead}) may span
several segments (`refs/heads/feature/x`, `src/app/main.py`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sim.paths import shared_github_dir

_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")

# Git ref names, branch names and file paths contain slashes, and GitHub routes them unescaped.
_SLASHY_PARAMS = frozenset({"path", "ref", "branch", "basehead"})
# `GET /repos/{o}/{r}/contents/` (empty path) lists the repository root.
_MAY_BE_EMPTY = frozenset({"path"})

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


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


class _Resolver:
    """Follows local `$ref`s ("#/components/schemas/x") into the kept part of the description."""

    def __init__(self, components: dict[str, Any]) -> None:
        self._root = {"components": components}

    def __call__(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/") or seen > 32:
                return {}
            target: Any = self._root
            for token in ref[2:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or token not in target:
                    return {}
                target = target[token]
            schema = target
            seen += 1
        return schema


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _has_type(value: Any, type_name: str) -> bool:
    kinds = _JSON_TYPES.get(type_name)
    if kinds is None:
        return True
    if isinstance(value, bool) and type_name in ("integer", "number"):
        return False
    return isinstance(value, kinds)


def _is_empty_body(body: Any) -> bool:
    return body is None or body == "" or body == b"" or body == {}


class OpenAPIIndex:
    """Routes (method, path) to GitHub operations and checks JSON request bodies against them."""

    def __init__(self, spec: dict[str, Any]) -> None:
        components = spec.get("components", {})
        # Only these can be the target of a request-body $ref; the rest (examples, responses)
        # is most of the 13 MB and is dropped.
        kept = {k: components[k] for k in ("schemas", "requestBodies") if k in components}
        self._resolve = _Resolver(kept)
        self._roots: dict[str, _Node] = {}
        self._operations = 0
        for template, item in spec.get("paths", {}).items():
            for method in _METHODS:
                operation = item.get(method)
                if not isinstance(operation, dict):
                    continue
                upper = method.upper()
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
                self._operations += 1

    def __len__(self) -> int:
        return self._operations

    def __repr__(self) -> str:
        return f"OpenAPIIndex({self._operations} operations)"

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
        """The matched operation and what GitHub would reject about the request ([] when fine)."""
        found = self._lookup(method, path)
        if found is None:
            return None, [f"no such operation: {method.upper()} {path}"]
        return _match_of(*found), self._body_problems(found[0], body)

    def _body_problems(self, operation: _Operation, body: Any) -> list[str]:
        request_body = self._resolve(operation.request_body) if operation.request_body else None
        where = f"{operation.method} {operation.template}"
        if not request_body:
            return [] if _is_empty_body(body) else [f"{where} takes no request body"]
        if body is None or body == "" or body == b"":
            return [f"{where} requires a request body"] if request_body.get("required") else []
        media = request_body.get("content", {}).get("application/json")
        if media is None:
            # Raw uploads (markdown text, release assets): nothing structural to check.
            return []
        problems = self._schema_problems(media.get("schema"), body)
        return [f"{where}: {problem}" for problem in problems]

    # --- body checks -------------------------------------------------------------------------

    def _schema_problems(self, schema: Any, body: Any) -> list[str]:
        schema = self._resolve(schema)
        if not isinstance(schema, dict):
            return []
        problems: list[str] = []
        for part in schema.get("allOf", []):
            problems += self._schema_problems(part, body)
        for key in ("oneOf", "anyOf"):
            alternatives = schema.get(key)
            if alternatives:
                problems += self._alternatives_problems(alternatives, body)
        declared = schema.get("type")
        if body is None and schema.get("nullable"):
            return problems
        if isinstance(declared, str) and not _has_type(body, declared):
            problems.append(f"body must be a JSON {declared}, got {_type_name(body)}")
            return problems
        if not isinstance(body, dict):
            return problems
        required = schema.get("required", [])
        problems += [f"missing required field '{name}'" for name in required if name not in body]
        properties = schema.get("properties", {})
        for name, value in body.items():
            if name in properties:
                problems += self._value_problems(name, properties[name], value)
            elif schema.get("additionalProperties") is False:
                problems.append(f"unknown field '{name}'")
        return problems

    def _alternatives_problems(self, alternatives: list[Any], body: Any) -> list[str]:
        per_alternative = [self._schema_problems(alt, body) for alt in alternatives]
        if any(not problems for problems in per_alternative):
            return []
        if len(per_alternative) == 1:
            return per_alternative[0]
        summary = " | ".join("; ".join(problems) for problems in per_alternative)
        return [f"body matches none of the accepted shapes ({summary})"]

    def _value_problems(self, name: str, schema: Any, value: Any) -> list[str]:
        """Shallow: the JSON type and enum of one top-level field, nothing nested."""
        schema = self._resolve(schema)
        if not isinstance(schema, dict):
            return []
        if value is None and schema.get("nullable"):
            return []
        problems: list[str] = []
        for part in schema.get("allOf", []):
            problems += self._value_problems(name, part, value)
        for key in ("oneOf", "anyOf"):
            alternatives = schema.get(key)
            if alternatives and all(self._value_problems(name, alt, value) for alt in alternatives):
                problems.append(f"field '{name}' has none of the accepted types or values")
        declared = schema.get("type")
        if isinstance(declared, str) and not _has_type(value, declared):
            problems.append(f"field '{name}' must be {declared}, got {_type_name(value)}")
            return problems
        enum = schema.get("enum")
        if enum is not None and value not in enum:
            allowed = ", ".join(str(choice) for choice in enum)
            problems.append(f"field '{name}' must be one of {allowed}; got {value!r}")
        return problems


@cache
def _load(path: Path) -> OpenAPIIndex:
    with path.open("rb") as handle:
        return OpenAPIIndex(json.load(handle))
