"""Reads `.github/buildsheriff.yml` through the contents API, cached per (repository, ref).

Parsing and validation are app.core.config's; this is only the fetch and the cache.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus

from cachetools import TTLCache
from gidgethub import BadRequest

from app.core.config import CONFIG_PATH, FILE_KEY, ConfigError, RepoConfig, parse_repo_config
from app.github.client import GitHubClient


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
    """Reads a repository's config through the contents API, cached per (repo, ref).

    Only "not found" means defaults: any other failure propagates, because guessing
    defaults for a repo that set `auto_revert: false` could revert against its wishes.
    """

    def __init__(self, *, ttl: float = 300.0, timer: Callable[[], float] = time.monotonic) -> None:
        self._cache: TTLCache[tuple[str, str], tuple[RepoConfig, tuple[ConfigError, ...]]] = (
            TTLCache(maxsize=1024, ttl=ttl, timer=timer)
        )

    async def load(
        self, gh: GitHubClient, repo: str, ref: str
    ) -> tuple[RepoConfig, list[ConfigError]]:
        key = (repo.lower(), ref)  # GitHub treats owner/name case-insensitively
        cached = self._cache.get(key)
        if cached is None:
            cached = await self._fetch(gh, repo, ref)
            self._cache[key] = cached
        config, errors = cached
        return config, list(errors)

    def invalidate(self, repo: str) -> None:
        """Forget every ref of `repo` (a push touched the config file)."""
        wanted = repo.lower()
        for key in [k for k in list(self._cache.keys()) if k[0] == wanted]:
            self._cache.pop(key, None)

    async def _fetch(
        self, gh: GitHubClient, repo: str, ref: str
    ) -> tuple[RepoConfig, tuple[ConfigError, ...]]:
        url = f"/repos/{repo}/contents/{CONFIG_PATH}"
        try:
            if ref:
                item = await gh.getitem(url + "{?ref}", {"ref": ref})
            else:
                item = await gh.getitem(url)
        except BadRequest as exc:
            if exc.status_code == HTTPStatus.NOT_FOUND:
                return RepoConfig(), ()
            raise
        text, errors = _decode_contents(item)
        if text is None:
            return RepoConfig(), tuple(errors)
        config, parse_errors = parse_repo_config(text)
        return config, tuple(parse_errors)
