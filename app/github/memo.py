"""A per-evaluation memo of GitHub reads: each fact is read once while one evaluation runs.

`memoized(gh)` is a client for one evaluation (a head judged, its incident run, its revert
opened), never for the process: it is dropped when the evaluation ends, so nothing in it can
go stale beyond that. Within it:

- a GET asked again (same URL, same Accept) is answered from the first answer, and a GET
  asked while the same one is in flight waits for it: `asyncio.gather` of reads that share
  a fact sends it once. A 404 is a fact too (a file that is not there); other errors are not
  kept, so the next asker tries again.
- a write forgets what it may have changed, once it is answered (or failed: a 422 says the
  state moved): a write to issues, pull requests, labels or comments forgets those reads
  (and issue search); any other write, or a GraphQL mutation, forgets every read but the
  content-addressed ones (a commit, tree or blob by its full sha never changes).

Blobs are never kept (read once, and large). A GraphQL query is kept like a GET; any
write but one to issues, pull requests, labels or comments forgets it, and those forget the
queries that name such things (or merging).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Mapping
from typing import Any

from gidgethub import BadRequest, sansio
from gidgethub.abc import JSON_CONTENT_TYPE

from app.github.client import GitHubClient

_REPO_PATH = re.compile(r"/repos/[^/]+/[^/]+/(?P<rest>[^?]*)")
_IMMUTABLE = re.compile(r"^(git/(commits|trees)/[0-9a-f]{40}|commits/[0-9a-f]{40})$")
# A GraphQL query that may read what an issue, pull request, label or comment write changes.
_ISSUE_WORDS = re.compile(r"pullrequest|issue|label|comment|merge|review", re.IGNORECASE)
_ISSUE_FAMILY = re.compile(r"^(issues|pulls|labels)(/|$)|/(comments|pulls)$")

_Answer = tuple[Any, str | None, int]


def _rest(url: str) -> str | None:
    """The part of a repository URL after /repos/owner/name/, without the query."""
    found = _REPO_PATH.search(url)
    return found.group("rest") if found else None


def _issue_family(url: str) -> bool:
    rest = _rest(url)
    if rest is None:
        return "/search/issues" in url
    return bool(_ISSUE_FAMILY.search(rest))


def _immutable(url: str) -> bool:
    rest = _rest(url)
    return rest is not None and bool(_IMMUTABLE.match(rest))


class MemoClient(GitHubClient):
    """GitHubClient with a memo of reads; build it with `memoized`."""

    _memo: dict[tuple[str, str], asyncio.Future[_Answer]]

    def __init__(self, inner: GitHubClient) -> None:
        self.__dict__.update(inner.__dict__)
        self._memo = {}
        self._queries: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self.reads_saved = 0

    def forget(self, *, issues_only: bool = False) -> None:
        for query in list(self._queries):
            if not issues_only or _ISSUE_WORDS.search(query[0]):
                del self._queries[query]
        for key in list(self._memo):
            url = key[0]
            if _immutable(url):
                continue
            if issues_only and not _issue_family(url):
                continue
            del self._memo[key]

    async def _make_request(
        self,
        method: str,
        url: str,
        url_vars: Mapping[str, Any] | None,
        data: Any,
        accept: str,
        jwt: str | None = None,
        oauth_token: str | None = None,
        content_type: str = JSON_CONTENT_TYPE,
        extra_headers: dict[str, str] | None = None,
    ) -> _Answer:
        def send() -> Awaitable[_Answer]:
            return super(MemoClient, self)._make_request(
                method, url, url_vars, data, accept, jwt, oauth_token, content_type,
                extra_headers,
            )  # fmt: skip

        filled = sansio.format_url(url, url_vars or {}, base_url=self.base_url)
        if method != "GET" or data != b"" or extra_headers or "/git/blobs/" in filled:
            if method in ("GET", "HEAD"):
                return await send()
            try:
                return await send()
            finally:
                self.forget(issues_only=_issue_family(filled))
        key = (filled, f"{accept}|{jwt is not None}|{oauth_token or ''}")
        shared = self._memo.get(key)
        if shared is None:
            shared = asyncio.ensure_future(send())
            self._memo[key] = shared
            shared.add_done_callback(lambda done: self._settled(key, done))
        else:
            self.reads_saved += 1
        return await asyncio.shield(shared)

    def _settled(self, key: tuple[str, str], done: asyncio.Future[_Answer]) -> None:
        if done.cancelled():
            self._memo.pop(key, None)
            return
        error = done.exception()
        if error is None or (isinstance(error, BadRequest) and error.status_code == 404):
            return
        if self._memo.get(key) is done:
            del self._memo[key]  # not a fact: the next asker tries again

    async def graphql(self, query: str, *, endpoint: str | None = None, **variables: Any) -> Any:
        if query.lstrip().startswith("mutation"):
            try:
                return await super().graphql(query, endpoint=endpoint, **variables)
            finally:
                self.forget()
        key = (query, json.dumps([endpoint, variables], sort_keys=True, default=str))
        shared = self._queries.get(key)
        if shared is None:
            shared = asyncio.ensure_future(super().graphql(query, endpoint=endpoint, **variables))
            self._queries[key] = shared
            shared.add_done_callback(lambda done: self._query_settled(key, done))
        else:
            self.reads_saved += 1
        return await asyncio.shield(shared)

    def seed_get(self, url: str, data: Any) -> None:
        """What `getitem(url)` answers in this evaluation, known from another read (a whole
        listing that holds what `url` would filter)."""
        filled = sansio.format_url(url, {}, base_url=self.base_url)
        key = (filled, f"{sansio.accept_format()}|False|")
        known: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        known.set_result((data, None, 200))
        self._memo.setdefault(key, known)

    def seed(self, query: str, answer: Any, **variables: Any) -> None:
        """What `graphql(query, **variables)` answers in this evaluation, read by a query
        that asked for it along with other things."""
        key = (query, json.dumps([None, variables], sort_keys=True, default=str))
        known: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        known.set_result(answer)
        self._queries.setdefault(key, known)

    def _query_settled(self, key: tuple[str, str], done: asyncio.Future[Any]) -> None:
        if done.cancelled() or done.exception() is not None:
            if self._queries.get(key) is done:
                del self._queries[key]  # not a fact: the next asker tries again


def memoized(gh: GitHubClient) -> GitHubClient:
    """A memo of `gh`'s reads for one evaluation (`gh` itself when it is one already, or
    not a GitHubClient: a test's fake)."""
    if isinstance(gh, MemoClient) or type(gh) is not GitHubClient:
        return gh
    return MemoClient(gh)
