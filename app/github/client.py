"""The GitHub API client every part of the app uses (gidgethub over one aiohttp session).

This first cut only fixes the GraphQL endpoint; retries and rate-limit handling
are added by the foundation work (see issue 2).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from gidgethub.aiohttp import GitHubAPI

USER_AGENT = "buildsheriff"


def graphql_endpoint(api_url: str) -> str:
    """github.com serves GraphQL at /graphql; GitHub Enterprise Server at /api/graphql."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


class GitHubClient(GitHubAPI):
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str = "https://api.github.com",
        oauth_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            session, USER_AGENT, oauth_token=oauth_token, base_url=api_url.rstrip("/"), **kwargs
        )
        self.api_url = api_url.rstrip("/")
        self.graphql_url = graphql_endpoint(self.api_url)

    async def graphql(self, query: str, *, endpoint: str | None = None, **variables: Any) -> Any:
        return await super().graphql(query, endpoint=endpoint or self.graphql_url, **variables)
