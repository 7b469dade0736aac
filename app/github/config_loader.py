"""Reads a repository's `.github/buildsheriff.yml` as Probot's config plugin does, cached.

- The repository's own file at the ref asked for; when it has none, the organization's
  `.github` repository's file applies (when the App is installed there: otherwise GitHub
  answers 404 and the defaults apply).
- `_extends: other-repo`, `owner/repo` or `repo:path.yml` inherits from that file (on its
  default branch), which may extend another, up to MAX_EXTENDS_DEPTH files; a loop or a
  missing base is reported as an error of the file that names it. Keys merge shallowly:
  the first file that sets a key wins.

Parsing and validation are app.core.config's; this is the fetching and the cache.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus

from cachetools import TTLCache
from gidgethub import BadRequest, QueryError

from app.core.config import (
    CONFIG_PATH,
    EXTENDS_KEY,
    FILE_KEY,
    ConfigError,
    ConfigFile,
    ConfigSource,
    RepoConfig,
    build_config,
    chain_error,
    parse_extends,
    read_config_file,
)
from app.github.client import GitHubClient

ORG_CONFIG_REPO = ".github"
_BLOB = "__typename ... on Blob { text isBinary isTruncated byteSize }"
# The repository's file and its organization's, both first looks in one request.
PAIR_QUERY = (
    "query($owner: String!, $name: String!, $expression: String!, $orgOwner: String!, "
    "$orgName: String!, $orgExpression: String!) { "
    "repo: repository(owner: $owner, name: $name) { "
    f"object(expression: $expression) {{ {_BLOB} }} }} "
    "org: repository(owner: $orgOwner, name: $orgName) { "
    f"object(expression: $orgExpression) {{ {_BLOB} }} }} "
    "}"
)
# A file's text (or why it cannot be read); None: there is no such file.
_Read = tuple[str | None, list[ConfigError]] | None


@dataclass(frozen=True)
class LoadedConfig:
    config: RepoConfig
    errors: tuple[ConfigError, ...] = ()
    sources: tuple[str, ...] = ()  # files read, the repository's own (or the org's) first
    asked: frozenset[str] = frozenset()  # repositories asked (lower case), found or not


def _decode_contents(item: object) -> tuple[str | None, list[ConfigError]]:
    """The text of a contents-API answer, or why it could not be read."""
    if not isinstance(item, Mapping) or item.get("type") != "file":
        return None, [ConfigError(FILE_KEY, f"`{CONFIG_PATH}` is not a file; the defaults apply")]
    content = item.get("content") or ""
    if item.get("encoding") != "base64" or (not content and item.get("size")):
        # Above 1 MB the contents API omits the content (encoding "none").
        return None, [
            ConfigError(FILE_KEY, f"`{CONFIG_PATH}` is too large to read; the defaults apply")
        ]
    try:
        return base64.b64decode(content).decode("utf-8-sig"), []
    except (binascii.Error, ValueError):
        return None, [
            ConfigError(FILE_KEY, f"`{CONFIG_PATH}` is not UTF-8 text; the defaults apply")
        ]


class RepoConfigLoader:
    """Loads and caches per (repository, ref).

    Only "not found" means defaults: any other failure propagates, because guessing
    defaults for a repo that set `auto_revert: false` could revert against its wishes.
    """

    def __init__(self, *, ttl: float = 300.0, timer: Callable[[], float] = time.monotonic) -> None:
        self._cache: TTLCache[tuple[str, str], LoadedConfig] = TTLCache(
            maxsize=1024, ttl=ttl, timer=timer
        )
        # owner -> its `.github` repository's file (None: none): every repository of an
        # organization without a file of its own asks for it, so it is asked once
        self._org_files: TTLCache[str, tuple[str | None, list[ConfigError]] | None] = TTLCache(
            maxsize=256, ttl=ttl, timer=timer
        )

    async def load(self, gh: GitHubClient, repo: str, ref: str) -> LoadedConfig:
        """The config of `repo` at `ref` (its default branch when empty)."""
        key = (repo.lower(), ref)  # GitHub treats owner/name case-insensitively
        cached = self._cache.get(key)
        if cached is None:
            cached = await self._load(gh, repo, ref)
            self._cache[key] = cached
        return cached

    def invalidate(self, repo: str) -> int:
        """Forget every config that read `repo`'s file (a push changed it); for an
        organization's `.github` repository, every config of the organization. Returns
        how many were dropped."""
        wanted = repo.lower()
        owner, _, name = wanted.partition("/")
        whole_org = name == ORG_CONFIG_REPO
        stale = [
            key
            for key, loaded in list(self._cache.items())
            if key[0] == wanted
            or wanted in loaded.asked
            or (whole_org and key[0].partition("/")[0] == owner)
        ]
        for key in stale:
            self._cache.pop(key, None)
        if whole_org:
            self._org_files.pop(owner, None)
        return len(stale)

    async def _load(self, gh: GitHubClient, repo: str, ref: str) -> LoadedConfig:
        owner, _, name = repo.partition("/")
        asked = {repo.lower()}
        source = ConfigSource(repo)
        org = ConfigSource(f"{owner}/{ORG_CONFIG_REPO}")
        key = owner.lower()
        if name.lower() == ORG_CONFIG_REPO or key in self._org_files:
            read = await self._read(gh, source, ref)
        else:
            # Asked together, in one GraphQL query: a repository without a file waits no
            # longer for the org's, and the first look costs one call, not two.
            read, self._org_files[key] = await self._read_pair(gh, source, ref, org)
        if read is None and name.lower() != ORG_CONFIG_REPO:
            source = org
            asked.add(org.repo.lower())
            read = self._org_files.get(key)
        if read is None:
            return LoadedConfig(RepoConfig(), asked=frozenset(asked))
        files: list[ConfigFile] = []
        chain: list[ConfigSource] = []
        while read is not None:
            label = "" if source == ConfigSource(repo) else str(source)
            text, read_errors = read
            config_file = read_config_file(text, label)
            problems = [replace(e, source=label) for e in read_errors]
            chain.append(source)
            target = None
            if config_file.extends is not None:
                target = parse_extends(config_file.extends, source.repo.partition("/")[0])
            read = None
            if target is not None:
                problem = chain_error(chain, target)
                if problem is None:
                    asked.add(target.repo.lower())
                    read = await self._read(gh, target, "")
                    if read is None:
                        problem = (
                            f"`{EXTENDS_KEY}: {config_file.extends}` names a file that cannot "
                            f"be read: {target.repo} has no `{target.path}`, or the App is not "
                            "installed on it; nothing is inherited from it"
                        )
                if problem is not None:
                    line = config_file.lines.get(EXTENDS_KEY)
                    problems.append(ConfigError(EXTENDS_KEY, problem, line=line, source=label))
                else:
                    source = target
            files.append(replace(config_file, errors=config_file.errors + tuple(problems)))
        config, errors = build_config(files)
        return LoadedConfig(
            config, tuple(errors), tuple(str(s) for s in chain), frozenset(asked)
        )

    async def _read_pair(
        self, gh: GitHubClient, source: ConfigSource, ref: str, org: ConfigSource
    ) -> tuple[_Read, _Read]:
        """The repository's file at `ref` and the organization's (default branch), in one
        GraphQL query. A repository the installation cannot see is answered with partial
        data: that alias null and a NOT_FOUND error naming it; as REST's 404, no file.
        A blob GraphQL does not give whole as text (binary, cut, not UTF-8) or a path that
        is not a blob is read through REST contents, which says what is wrong with it."""
        owner, _, name = source.repo.partition("/")
        org_owner, _, org_name = org.repo.partition("/")
        try:
            data = await gh.graphql(
                PAIR_QUERY,
                owner=owner,
                name=name,
                expression=f"{ref or 'HEAD'}:{source.path}",
                orgOwner=org_owner,
                orgName=org_name,
                orgExpression=f"HEAD:{org.path}",
            )
        except QueryError as exc:
            response = exc.response if isinstance(exc.response, Mapping) else {}
            errors = response.get("errors") or []
            # Only "not found" of a whole alias is an answer; anything else propagates.
            if not errors or any(
                not isinstance(e, Mapping)
                or e.get("type") != "NOT_FOUND"
                or list(e.get("path") or [])[:1] not in (["repo"], ["org"])
                for e in errors
            ):
                raise
            data = response.get("data") or {}
        return await asyncio.gather(
            self._from_graphql(gh, source, ref, data.get("repo")),
            self._from_graphql(gh, org, "", data.get("org")),
        )

    async def _from_graphql(
        self, gh: GitHubClient, source: ConfigSource, ref: str, repository: object
    ) -> _Read:
        if not isinstance(repository, Mapping) or repository.get("object") is None:
            return None  # no such repository (to the installation), ref or file
        blob = repository["object"]
        text = blob.get("text") if isinstance(blob, Mapping) else None
        if (
            not isinstance(blob, Mapping)
            or blob.get("__typename") != "Blob"
            or not isinstance(text, str)
            or blob.get("isBinary")
            or blob.get("isTruncated")
            or len(text.encode()) != blob.get("byteSize")
        ):
            return await self._read(gh, source, ref)
        return text.removeprefix("\ufeff"), []  # as REST's text, decoded as utf-8-sig

    async def _read(
        self, gh: GitHubClient, source: ConfigSource, ref: str
    ) -> _Read:
        """The file's text (or why it cannot be read); None when it does not exist."""
        url = f"/repos/{source.repo}/contents/{source.path}"
        try:
            if ref:
                item = await gh.getitem(url + "{?ref}", {"ref": ref})
            else:
                item = await gh.getitem(url)
        except BadRequest as exc:
            if exc.status_code == HTTPStatus.NOT_FOUND:
                return None
            raise
        return _decode_contents(item)
