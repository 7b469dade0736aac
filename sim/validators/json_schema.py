"""OpenAPI 3.0 schema objects compiled once into checkers that also trim to the declared shape.

GitHub's REST description uses a small part of JSON Schema (type, nullable, enum, required,
properties, additionalProperties, items, allOf/oneOf/anyOf, a few bounds, pattern, format). A
`Schema` answers two questions about a JSON value:

- `problems(value)`: what the schema rejects (wrong type, missing required field, value not in
  an enum, out of bounds, bad date-time), each with the JSON path where it happened;
- `trim(value)`: the value with every object property the schema does not list removed
  (properties listed by any `allOf` part count, and by the `oneOf`/`anyOf` alternatives the value
  matches), which is how GitHub answers: a list of pull requests carries `pull-request-simple`,
  not the full pull request.

No JSON Schema library trims, and OpenAPI 3.0's `nullable` is not JSON Schema, so this is a
small compiler of its own; compiled nodes are cached per schema object, so each of GitHub's
schemas is compiled once per process however many responses use it.

`oneOf` is checked as "at least one alternative matches": GitHub's description has overlapping
alternatives that real answers match twice.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# At most this many problems are reported per value (a wrong list of 100 items says enough).
_MAX_PROBLEMS = 20


def type_name(value: Any) -> str:
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


def has_type(value: Any, name: str) -> bool:
    kinds = _TYPES.get(name)
    if kinds is None:
        return True
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, kinds)


class Schema:
    """One compiled schema object (see the module docstring)."""

    __slots__ = (
        "additional", "all_of", "any_of", "enum", "format", "items", "max_items", "max_length",
        "maximum", "min_items", "min_length", "minimum", "nullable", "pattern", "properties",
        "ref", "required", "type",
    )

    def __init__(self) -> None:
        self.type: str | None = None
        self.nullable = False
        self.enum: list[Any] | None = None
        self.required: tuple[str, ...] = ()
        self.properties: dict[str, Schema] = {}
        # None: not said (free-form if nothing else is listed); True/False; or a schema.
        self.additional: bool | Schema | None = None
        self.items: Schema | None = None
        self.all_of: list[Schema] = []
        self.any_of: list[Schema] = []  # oneOf and anyOf alike
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.min_length: int | None = None
        self.max_length: int | None = None
        self.min_items: int | None = None
        self.max_items: int | None = None
        self.pattern: re.Pattern[str] | None = None
        self.format: str | None = None
        self.ref: str | None = None

    def __repr__(self) -> str:
        return f"Schema({self.ref or self.type or 'any'})"

    # --- checking ------------------------------------------------------------------------------

    def problems(self, value: Any, where: str = "") -> list[str]:
        found: list[str] = []
        self._check(value, where, found)
        return found[:_MAX_PROBLEMS]

    def accepts(self, value: Any) -> bool:
        found: list[str] = []
        self._check(value, "", found)
        return not found

    def _check(self, value: Any, where: str, found: list[str]) -> None:
        if len(found) >= _MAX_PROBLEMS:
            return
        at = f"'{where}'" if where else "the value"
        if value is None:
            if self.nullable:
                return
            if self.type is not None:
                found.append(f"{at} must be {self.type}, got null")
                return
        for part in self.all_of:
            part._check(value, where, found)
        if self.any_of and not any(alt.accepts(value) for alt in self.any_of):
            best = min((alt.problems(value, where) for alt in self.any_of), key=len)
            found.append(f"{at} matches none of the accepted shapes ({'; '.join(best[:3])})")
        if self.type is not None and not has_type(value, self.type):
            found.append(f"{at} must be {self.type}, got {type_name(value)}")
            return
        if self.enum is not None and value not in self.enum:
            allowed = ", ".join(repr(choice) for choice in self.enum[:12])
            found.append(f"{at} is {value!r}, not one of {allowed}")
        if isinstance(value, str):
            self._check_string(value, at, found)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                found.append(f"{at} is {value}, less than the minimum of {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                found.append(f"{at} is {value}, more than the maximum of {self.maximum:g}")
        elif isinstance(value, list):
            if self.min_items is not None and len(value) < self.min_items:
                found.append(f"{at} needs at least {self.min_items} items")
            if self.max_items is not None and len(value) > self.max_items:
                found.append(f"{at} allows at most {self.max_items} items")
            if self.items is not None:
                for index, item in enumerate(value):
                    self.items._check(item, f"{where}[{index}]", found)
        elif isinstance(value, dict):
            self._check_object(value, where, found)

    def _check_string(self, value: str, at: str, found: list[str]) -> None:
        if self.min_length is not None and len(value) < self.min_length:
            found.append(f"{at} is shorter than {self.min_length} characters")
        if self.max_length is not None and len(value) > self.max_length:
            found.append(f"{at} is longer than {self.max_length} characters")
        if self.pattern is not None and not self.pattern.search(value):
            found.append(f"{at} is {value!r}, which does not match {self.pattern.pattern!r}")
        if self.format == "date-time" and not _DATE_TIME.match(value):
            found.append(f"{at} is {value!r}, not an ISO 8601 date-time")
        elif self.format == "uri" and value and not _URI.match(value):
            # GitHub's own default for an unset URI field is "" (deployment statuses).
            found.append(f"{at} is {value!r}, not a URI")

    def _check_object(self, value: dict[str, Any], where: str, found: list[str]) -> None:
        for name in self.required:
            if name not in value:
                found.append(f"missing required field '{_join(where, name)}'")
        for name, item in value.items():
            child = self.properties.get(name)
            if child is not None:
                child._check(item, _join(where, name), found)
            elif isinstance(self.additional, Schema):
                self.additional._check(item, _join(where, name), found)
            elif self.additional is False and not self._listed_by_parts(name):
                found.append(f"unknown field '{_join(where, name)}'")

    def _listed_by_parts(self, name: str) -> bool:
        return any(name in part.properties or part._listed_by_parts(name) for part in self.all_of)

    # --- trimming ------------------------------------------------------------------------------

    def trim(self, value: Any) -> Any:
        """A copy of `value` holding only what the schema lists (see the module docstring)."""
        if isinstance(value, list):
            items = self._items_schema()
            return [items.trim(x) for x in value] if items is not None else list(value)
        if not isinstance(value, dict):
            return value
        listed: dict[str, Schema] = {}
        if self._collect(value, listed):
            return {k: _trim_with(listed.get(k), v) for k, v in value.items()}
        return {k: listed[k].trim(v) for k, v in value.items() if k in listed}

    def _items_schema(self) -> Schema | None:
        if self.items is not None:
            return self.items
        return next((s for s in (p._items_schema() for p in self.all_of) if s is not None), None)

    def _collect(self, value: dict[str, Any], listed: dict[str, Schema]) -> bool:
        """Fill `listed` with name -> schema; True when the object is free-form (keep all)."""
        free = self.additional is True or isinstance(self.additional, Schema)
        for name, child in self.properties.items():
            listed.setdefault(name, child)
        for part in self.all_of:
            free |= part._collect(value, listed)
        if self.any_of:
            matching = [alt for alt in self.any_of if alt.accepts(value)] or self.any_of
            for alt in matching:
                free |= alt._collect(value, listed)
        says_nothing = (not self.properties and not self.all_of and not self.any_of
                        and self.additional is None and self.type in (None, "object"))
        return free or says_nothing


def dropped_fields(original: Any, trimmed: Any, where: str = "") -> list[str]:
    """Paths of the object fields `trim` removed from `original` (first 20)."""
    found: list[str] = []
    if isinstance(original, dict) and isinstance(trimmed, dict):
        for name, value in original.items():
            if name not in trimmed:
                found.append(_join(where, name))
            else:
                found += dropped_fields(value, trimmed[name], _join(where, name))
    elif isinstance(original, list) and isinstance(trimmed, list):
        for index, (value, kept) in enumerate(zip(original, trimmed, strict=False)):
            # One item says it for all: list items share a shape.
            more = dropped_fields(value, kept, f"{where}[{index}]")
            if more:
                found += more
                break
    return found[:_MAX_PROBLEMS]


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _trim_with(schema: Schema | None, value: Any) -> Any:
    return schema.trim(value) if schema is not None else value


class SchemaCompiler:
    """Compiles schema objects of one OpenAPI description, following its local `$ref`s."""

    def __init__(self, components: dict[str, Any]) -> None:
        self._root = {"components": components}
        self._compiled: dict[int, Schema] = {}
        self._by_ref: dict[str, Schema] = {}
        # Compiled schemas keep their source objects alive, so ids are never reused.
        self._keep: list[Any] = []

    def resolve(self, obj: Any) -> Any:
        """`obj` with its `$ref` chain followed ({} when a reference leads nowhere)."""
        hops = 0
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/") or hops > 32:
                return {}
            target: Any = self._root
            for token in ref[2:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or token not in target:
                    return {}
                target = target[token]
            obj = target
            hops += 1
        return obj

    def named(self, name: str) -> Schema:
        """The compiled `#/components/schemas/<name>`."""
        return self.compile({"$ref": f"#/components/schemas/{name}"})

    def compile(self, source: Any) -> Schema:
        ref = source.get("$ref") if isinstance(source, dict) else None
        if isinstance(ref, str):
            found = self._by_ref.get(ref)
            if found is None:
                found = self.compile(self.resolve(source))
                found.ref = found.ref or ref.rsplit("/", 1)[-1]
                self._by_ref[ref] = found
            return found
        key = id(source)
        found = self._compiled.get(key)
        if found is not None:
            return found
        node = Schema()
        self._compiled[key] = node  # before the children: schemas may refer to themselves
        self._keep.append(source)
        if isinstance(source, dict):
            self._fill(node, source)
        return node

    def _fill(self, node: Schema, source: dict[str, Any]) -> None:
        declared = source.get("type")
        node.type = declared if isinstance(declared, str) else None
        node.nullable = bool(source.get("nullable"))
        if isinstance(source.get("enum"), list):
            # A nullable enum lists null among its values in GitHub's description, or not.
            node.enum = list(source["enum"]) + ([None] if node.nullable else [])
        node.required = tuple(source.get("required") or ())
        node.properties = {name: self.compile(child)
                           for name, child in (source.get("properties") or {}).items()}
        additional = source.get("additionalProperties")
        if isinstance(additional, bool):
            node.additional = additional
        elif isinstance(additional, dict):
            node.additional = self.compile(additional) if additional else True
        if "items" in source:
            node.items = self.compile(source["items"])
        node.all_of = [self.compile(part) for part in source.get("allOf") or ()]
        node.any_of = [self.compile(part) for key in ("oneOf", "anyOf")
                       for part in source.get(key) or ()]
        _bounds(node, source)


def _bounds(node: Schema, source: dict[str, Any]) -> None:
    def number(key: str) -> float | None:
        value = source.get(key)
        return float(value) if isinstance(value, (int, float)) else None

    def whole(key: str) -> int | None:
        value = source.get(key)
        return value if isinstance(value, int) else None

    node.minimum, node.maximum = number("minimum"), number("maximum")
    node.min_length, node.max_length = whole("minLength"), whole("maxLength")
    node.min_items, node.max_items = whole("minItems"), whole("maxItems")
    if isinstance(source.get("pattern"), str):
        try:
            node.pattern = re.compile(source["pattern"])
        except re.error:
            node.pattern = None
    if isinstance(source.get("format"), str):
        node.format = source["format"]
