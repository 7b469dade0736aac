"""Places where GitHub's OpenAPI description contradicts what GitHub actually answers.

Each entry is applied to the loaded description before anything is compiled, names the place
by JSON pointer, and says why. Keep this list short and sourced: an entry here makes the
simulator accept something, so it must be something real GitHub really sends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Erratum:
    pointer: str
    fix: Callable[[dict[str, Any]], None]
    why: str


def _nullable(node: dict[str, Any]) -> None:
    node["nullable"] = True


def _all_of_is_any_of(node: dict[str, Any]) -> None:
    node["anyOf"] = node.pop("allOf")


ERRATA: tuple[Erratum, ...] = (
    Erratum(
        "/components/schemas/pull-request-simple/properties/labels/items/properties/description",
        _nullable,
        "A label without a description is listed with \"description\": null (the full "
        "`label` schema says nullable; this inline copy forgot).",
    ),
    Erratum(
        "/paths/~1app~1installations/get/responses/200/content/application~1json/schema/items"
        "/properties/account",
        _all_of_is_any_of,
        "An installation's account is a user OR an enterprise (`installation` in "
        "components says anyOf); this inline copy says allOf, which no account satisfies.",
    ),
)


def apply_errata(spec: dict[str, Any]) -> None:
    for erratum in ERRATA:
        node: Any = spec
        for token in erratum.pointer.removeprefix("/").split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            node = node.get(token) if isinstance(node, dict) else None
        if isinstance(node, dict):
            erratum.fix(node)
