"""`python -m app revert OWNER/REPO SHA [--base B]`: the same revert, from a terminal or an Action.

GITHUB_TOKEN and GITHUB_API_URL come from the environment. Prints the PR's URL
(exit 0); or the files that conflict and the commands to revert by hand (exit 2);
or why there is nothing to revert (exit 1). A missing token is one line, exit 2.
"""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp
from gidgethub import BadRequest, GitHubException

from app.core.config import RepoConfig
from app.core.revert_messages import empty_text
from app.github.client import GitHubClient
from app.github.config_loader import RepoConfigLoader
from app.revert.commit import RevertConflict, RevertEmpty
from app.revert.pr import RevertPR, open_revert_pr

DEFAULT_API_URL = "https://api.github.com"
EXIT_OK, EXIT_EMPTY, EXIT_CONFLICT = 0, 1, 2


async def _whoami(gh: GitHubClient) -> str:
    """The token's login (a PAT); installation tokens cannot ask, so the Actions bot."""
    try:
        user = await gh.getitem("/user")
        return str(user["login"])
    except (BadRequest, KeyError):
        return "github-actions[bot]"


async def run(
    repo: str, sha: str, *, base: str | None, token: str, api_url: str
) -> RevertPR | RevertConflict | RevertEmpty:
    async with aiohttp.ClientSession() as session:
        gh = GitHubClient(session, api_url=api_url, oauth_token=token)
        if base is None:
            base = str((await gh.getitem(f"/repos/{repo}"))["default_branch"])
        config: RepoConfig
        config, _errors = await RepoConfigLoader().load(gh, repo, base)
        return await open_revert_pr(
            gh,
            repo,
            sha,
            base_branch=base,
            config=config,
            incident_number=None,
            why_markdown=f"Requested from the command line (`buildsheriff revert {repo} {sha}`).",
            app_login=await _whoami(gh),
        )


def main(repo: str, sha: str, *, base: str | None = None) -> int:
    token = os.environ.get("GITHUB_TOKEN")
    if not token:
        print("buildsheriff revert: GITHUB_TOKEN is not set (a token that can push and open "
              "pull requests on the repository).", file=sys.stderr)
        return EXIT_CONFLICT
    api_url = os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL
    try:
        result = asyncio.run(run(repo, sha, base=base, token=token, api_url=api_url))
    except GitHubException as exc:
        print(f"buildsheriff revert: GitHub refused: {exc}", file=sys.stderr)
        return EXIT_CONFLICT
    if isinstance(result, RevertPR):
        print(result.url)
        return EXIT_OK
    if isinstance(result, RevertConflict):
        print("\n".join(result.paths))
        print(result.explain(), file=sys.stderr)
        return EXIT_CONFLICT
    print(empty_text(result.culprit_sha, result.branch, result.reason))
    return EXIT_EMPTY
