"""`python -m app revert OWNER/REPO SHA [--base B]`: the same revert, from a terminal or an Action.

GITHUB_TOKEN and GITHUB_API_URL come from the environment. It always says what it did:
the PR's URL; or the files that conflict and the commands to revert by hand; or why there
is nothing to revert; or what GitHub refused. Each outcome has its own exit code (`Exit`,
documented in one table in actions/revert/action.yml and the README). Inside GitHub
Actions (GITHUB_OUTPUT set) it also writes the step's outputs `result`, `pr-url` and
`pr-number`, and a line to the job summary.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from enum import IntEnum
from pathlib import Path

import aiohttp
from gidgethub import BadRequest, GitHubException

from app.core.config import RepoConfig
from app.core.revert_messages import empty_text
from app.github.client import GitHubClient
from app.github.config_loader import RepoConfigLoader
from app.revert.commit import RevertConflict, RevertEmpty
from app.revert.pr import RevertPR, open_revert_pr

DEFAULT_API_URL = "https://api.github.com"


class Exit(IntEnum):
    """The command's (and the Action's) exit codes; `result` is the Action's output."""

    OPENED = 0
    FAILED = 1
    USAGE = 2
    CONFLICT = 3
    NOTHING_TO_REVERT = 4
    REFUSED = 5
    NO_CREDENTIALS = 6

    @property
    def result(self) -> str:
        return self.name.lower().replace("_", "-")

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    Exit.OPENED: "the revert pull request is open (or was already): its URL is printed",
    Exit.FAILED: "unexpected failure (GitHub unreachable, or a bug): the log says what",
    Exit.USAGE: "bad arguments, as argparse reports them",
    Exit.CONFLICT: "the revert conflicts with later changes: the files and the manual "
    "steps are printed, nothing is opened",
    Exit.NOTHING_TO_REVERT: "nothing to revert: the commit is reverted already or its "
    "changes are gone",
    Exit.REFUSED: "GitHub refused a request (token without access, not found, protected "
    "branch): GitHub's message is printed",
    Exit.NO_CREDENTIALS: "GITHUB_TOKEN is not set",
}


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
        config: RepoConfig = (await RepoConfigLoader().load(gh, repo, base)).config
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


def report(code: Exit, env: Mapping[str, str], *, url: str = "", number: int | None = None,
           summary: str = "") -> Exit:
    """The Action's outputs and job summary, when running as a GitHub Actions step."""
    outputs = env.get("GITHUB_OUTPUT")
    if outputs:
        with Path(outputs).open("a", encoding="utf-8") as out:
            out.write(f"result={code.result}\n")
            out.write(f"pr-url={url}\n")
            out.write(f"pr-number={number if number is not None else ''}\n")
    step_summary = env.get("GITHUB_STEP_SUMMARY")
    if step_summary and summary:
        with Path(step_summary).open("a", encoding="utf-8") as out:
            out.write(f"**Build Sheriff revert: {code.result}** (exit {int(code)}). {summary}\n")
    return code


def main(repo: str, sha: str, *, base: str | None = None,
         env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    token = env.get("GITHUB_TOKEN")
    if not token:
        print("buildsheriff revert: GITHUB_TOKEN is not set (a token that can push and open "
              "pull requests on the repository).", file=sys.stderr)
        return report(Exit.NO_CREDENTIALS, env, summary="GITHUB_TOKEN is not set.")
    api_url = env.get("GITHUB_API_URL") or DEFAULT_API_URL
    try:
        result = asyncio.run(run(repo, sha, base=base, token=token, api_url=api_url))
    except GitHubException as exc:
        status = getattr(getattr(exc, "status_code", None), "value", "")
        detail = f"HTTP {status}: {exc}" if status else str(exc)
        print(f"buildsheriff revert: GitHub refused: {detail}", file=sys.stderr)
        return report(Exit.REFUSED, env, summary=f"GitHub refused: {detail}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"buildsheriff revert: GitHub did not answer ({type(exc).__name__}) at {api_url}",
              file=sys.stderr)
        return report(Exit.FAILED, env, summary="GitHub did not answer.")
    if isinstance(result, RevertPR):
        print(result.url)
        return report(Exit.OPENED, env, url=result.url, number=result.number,
                      summary=f"[#{result.number}]({result.url})")
    if isinstance(result, RevertConflict):
        print("\n".join(result.paths))
        print(result.explain(), file=sys.stderr)
        return report(Exit.CONFLICT, env,
                      summary="Conflicting files: " + ", ".join(f"`{p}`" for p in result.paths))
    text = empty_text(result.culprit_sha, result.branch, result.reason)
    print(text)
    return report(Exit.NOTHING_TO_REVERT, env, summary=text)
