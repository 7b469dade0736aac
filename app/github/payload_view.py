"""A payload view: the few fields of a webhook body that relevance rules read, decoded
without building the rest.

msgspec checks every byte of the JSON as it skips what is not asked for, but allocates only
the declared paths, so an event that cannot matter is judged in a few microseconds instead
of a whole parse (app.server.webhooks). The view is a dict shaped like the payload: a path
that is absent stays absent, a null stays None. Anything the view cannot say for sure (a
field of another type than an object where the path goes on, a body the fast decoder
refuses, bytes that are not UTF-8) gives None: the whole parse then judges, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

Tree = dict[str, "Tree | None"]  # None: a leaf, decoded whole


def _tree(paths: Iterable[str]) -> Tree:
    tree: Tree = {}
    for path in paths:
        node = tree
        *parents, leaf = path.split(".")
        for key in parents:
            child = node.setdefault(key, {})
            if child is None:
                break  # a leaf above already decodes this whole subtree
            node = child
        else:
            node[leaf] = None
    return tree


def _struct(tree: Tree, name: str) -> type:
    fields: list[tuple[str, Any, Any]] = []
    for key, child in sorted(tree.items()):
        if child is None:
            kind: Any = Any
        else:
            kind = _struct(child, f"{name}_{len(fields)}") | None | msgspec.UnsetType
        fields.append((key, kind, msgspec.UNSET))
    # Keys that are not Python identifiers are fine: msgspec maps them by `rename`.
    safe = [(f"f{i}", kind, default) for i, (_, kind, default) in enumerate(fields)]
    rename = {f"f{i}": key for i, (key, _, _) in enumerate(fields)}
    struct: type = msgspec.defstruct(name, safe, rename=rename)
    return struct


class PayloadView:
    """Decodes the `paths` (dotted, e.g. "check_run.check_suite.head_branch") of a body."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = tuple(sorted(set(paths)))
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
            _struct(_tree(self.paths), "View")
        )

    def read(self, body: bytes) -> dict[str, Any] | None:
        """The view of `body`, or None when only the whole parse can say what it holds."""
        if not body.isascii():
            try:
                body.decode("utf-8")  # msgspec does not check the strings it skips
            except UnicodeDecodeError:
                return None
        try:
            decoded = self._decoder.decode(body)
        except (msgspec.DecodeError, RecursionError):  # (a ValidationError is a DecodeError)
            return None
        view: dict[str, Any] = msgspec.to_builtins(decoded)
        return view
