"""The simulator's REST dispatch table, keyed by GitHub's own (method, OpenAPI path template).

Handler modules register themselves with `@route("GET", "/repos/{owner}/{repo}")`; a handler
gets a `Ctx` and returns a `Reply` (or raises `ApiError`, answered the way GitHub answers).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from multidict import MultiMapping

if TYPE_CHECKING:
    from sim.github.repo import SimRepo
    from sim.github.server import GitHubSim

DOCS = "https://docs.github.com/rest"


class ApiError(Exception):
    """An error answer in GitHub's shape: {"message", "documentation_url", "errors"?, ...}."""

    def __init__(self, status: int, message: str, *, errors: list[Any] | None = None,
                 extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "documentation_url": DOCS}
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        body["status"] = str(self.status)
        return body


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation_failed(*errors: dict[str, Any]) -> ApiError:
    return ApiError(422, "Validation Failed", errors=list(errors))


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # The handler built a fuller object on purpose (a full pull request for a list that GitHub
    # answers with `pull-request-simple`): trim it to the documented schema without complaint.
    # Otherwise a field the schema does not list is a simulator bug, recorded as a violation.
    short_shape: bool = False


@dataclass
class Ctx:
    sim: GitHubSim
    method: str
    path: str
    template: str
    params: dict[str, str]
    query: MultiMapping[str]
    body: Any
    actor: str | None  # login of who is calling; None when anonymous
    installation_id: int | None  # set for installation tokens
    url: str  # the full request URL (for Link headers)

    @property
    def repo(self) -> SimRepo:
        repo = self.sim.repos.get(f"{self.params['owner']}/{self.params['repo']}".lower())
        if repo is None or not self.sim.can_see(self, repo):
            raise not_found()
        return repo

    @property
    def login(self) -> str:
        if self.actor is None:
            raise ApiError(401, "Requires authentication")
        return self.actor

    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, default)

    def int_arg(self, name: str, default: int) -> int:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise ApiError(400, f"Invalid value for '{name}': {raw!r}") from None

    def field(self, name: str, default: Any = None) -> Any:
        if isinstance(self.body, dict):
            return self.body.get(name, default)
        return default

    def paginate(self, items: Sequence[Any], *,
                 default_per_page: int = 30) -> tuple[list[Any], dict[str, str]]:
        """One page of `items` and the Link header GitHub would send with it."""
        per_page = max(1, min(self.int_arg("per_page", default_per_page), 100))
        page = max(1, self.int_arg("page", 1))
        start = (page - 1) * per_page
        chunk = list(items[start : start + per_page])
        last = max(1, -(-len(items) // per_page))
        links: list[str] = []

        def link(p: int, rel: str) -> str:
            params = [(k, v) for k, v in self.query.items() if k != "page"]
            params.append(("page", str(p)))
            base = self.url.split("?", 1)[0]
            return f'<{base}?{urlencode(params)}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        return chunk, ({"Link": ", ".join(links)} if links else {})


Handler = Callable[[Ctx], Awaitable[Reply] | Reply]
ROUTES: dict[tuple[str, str], Handler] = {}

H = TypeVar("H", bound=Handler)


def route(method: str, template: str) -> Callable[[H], H]:
    def register(handler: H) -> H:
        key = (method.upper(), template)
        if key in ROUTES:
            raise RuntimeError(f"route registered twice: {method} {template}")
        ROUTES[key] = handler
        return handler

    return register


async def call_handler(handler: Handler, ctx: Ctx) -> Reply:
    result = handler(ctx)
    if inspect.isawaitable(result):
        return await result
    return result
