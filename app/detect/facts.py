"""Reads what GitHub knows about builds and commits, for the detection handler.

Thin I/O: every judgement is made by app.core.builds and app.core.safety.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from gidgethub import BadRequest

from app.core.builds import CheckResult, JudgedCommit, judge_commit
from app.core.codeowners import CODEOWNERS_PATHS, parse_codeowners
from app.core.config import RepoConfig
from app.core.culprit import CulpritFacts, culprit_from_commit, parse_time, reverted_shas
from app.core.incident import CommitSummary, Owner
from app.core.revert_messages import BRANCH_PREFIX
from app.github.checks import commit_checks
from app.github.client import GitHubClient
from app.github.memo import MemoClient
from app.revert.pr import MERGE_SETUP


@dataclass(frozen=True)
class BranchInfo:
    head: str
    required: tuple[str, ...]
    # The head commit as the branch read gives it (message, parents): the walk's first
    # batch needs no listing of the history when the parent is green.
    commit: dict[str, Any] | None = None


@dataclass(frozen=True)
class Suspect:
    """A suspect commit as detection reads it once: the rails' facts, what the issue says
    about it, and the paths it touched (for CODEOWNERS)."""

    facts: CulpritFacts
    summary: CommitSummary
    files: tuple[str, ...] = ()


def _branch_url(repo: str, branch: str) -> str:
    return f"/repos/{repo}/branches/{quote(branch, safe='')}"


async def _branch_rules(gh: GitHubClient, repo: str, branch: str) -> list[dict[str, Any]]:
    try:
        rules = await gh.getitem(f"/repos/{repo}/rules/branches/{quote(branch, safe='')}")
    except BadRequest as exc:
        if exc.status_code not in (403, 404):
            raise
        return []
    return list(rules or [])


async def branch_info(gh: GitHubClient, repo: str, branch: str) -> BranchInfo:
    """The branch head and its required checks (branch protection and rulesets), both
    read at once."""
    data, rules = await asyncio.gather(
        gh.getitem(_branch_url(repo, branch)), _branch_rules(gh, repo, branch)
    )
    required: list[str] = []
    protection = data.get("protection") or {}
    checks = protection.get("required_status_checks") or {}
    required += [c["context"] for c in checks.get("checks") or []]
    required += list(checks.get("contexts") or [])
    for rule in rules:
        if rule.get("type") == "required_status_checks":
            params = rule.get("parameters") or {}
            required += [c["context"] for c in params.get("required_status_checks", [])]
    return BranchInfo(
        head=data["commit"]["sha"], required=tuple(dict.fromkeys(required)), commit=data["commit"]
    )


async def commit_results(gh: GitHubClient, repo: str, sha: str) -> list[CheckResult]:
    """Every check run and commit status on `sha` but our own (commit_checks drops them)."""
    return await commit_checks(gh, repo, sha)


def history_url(repo: str, branch: str, max_walk: int) -> str:
    """The first page of the branch's commits, newest first (the head first)."""
    return f"/repos/{repo}/commits?sha={quote(branch, safe='')}&per_page={min(max_walk, 100)}"


FIRST_BATCH = 2  # the head and its parent: the common case is one red commit on a green one


async def walk_history(
    gh: GitHubClient,
    repo: str,
    branch: str,
    config: RepoConfig,
    required: tuple[str, ...],
    head: dict[str, Any] | None = None,
) -> tuple[list[JudgedCommit], list[dict[str, Any]]]:
    """Judge commits from the head backwards until the first green one (bounded by max_walk).

    Commits are judged in batches read concurrently, the head and its parent first, then
    twice as many each time: a walk of n commits takes about log2(n) round trips, and reads
    at most twice what a one-by-one walk would. With `head` (the head commit, as the branch
    read gave it), the first batch needs no listing: the history is listed only when the
    walk goes past the head's parent."""
    listed: list[dict[str, Any]] = []
    judged: list[JudgedCommit] = []

    async def judge(shas: list[str]) -> bool:
        """Judge `shas` at once; True when the walk is over."""
        results = await asyncio.gather(*(commit_results(gh, repo, sha) for sha in shas))
        for sha, found in zip(shas, results, strict=True):
            verdict = judge_commit(found, counts=config.counts, required=required).verdict
            judged.append(JudgedCommit(sha, verdict))
            if verdict.value == "green" or len(judged) >= config.max_walk:
                return True
        return False

    if head is not None:
        parents = [str(p["sha"]) for p in head.get("parents") or ()][:1]
        listed.append(head)
        if await judge([str(head["sha"]), *parents][: config.max_walk]) or not parents:
            return judged, listed
    done = {j.sha for j in judged}
    pending: list[str] = []
    batch = FIRST_BATCH * 2 if done else FIRST_BATCH
    async for commit in gh.getiter(history_url(repo, branch, config.max_walk)):
        if commit["sha"] in done:
            continue
        listed.append(commit)
        pending.append(commit["sha"])
        if len(pending) >= min(batch, config.max_walk - len(judged)):
            over = await judge(pending)
            pending, batch = [], batch * 2
            if over:
                break
    else:
        if pending:
            await judge(pending)
    return judged, listed


def summary_of(commit: dict[str, Any], pulls: list[dict[str, Any]]) -> CommitSummary:
    message = commit["commit"]["message"]
    author = commit.get("author") or {}
    pr = pulls[0] if pulls else None
    return CommitSummary(
        sha=commit["sha"],
        title=message.split("\n", 1)[0],
        author=commit["commit"]["author"]["name"],
        login=author.get("login"),
        url=commit.get("html_url"),
        pr=pr["number"] if pr else None,
        pr_url=pr["html_url"] if pr else None,
        email=commit["commit"]["author"].get("email") or None,
    )


SUSPECTS_READ = 20  # suspects read in full; a longer range is not reverted automatically


async def read_suspects(
    gh: GitHubClient, repo: str, shas: tuple[str, ...], app_login: str
) -> list[Suspect]:
    """Full commits (with files) and their pull requests, for at most SUSPECTS_READ
    suspects; `app_login` ("slug[bot]") tells our own commits."""

    async def one(sha: str) -> Suspect:
        commit, pulls = await asyncio.gather(
            gh.getitem(f"/repos/{repo}/commits/{sha}"),
            gh.getitem(f"/repos/{repo}/commits/{sha}/pulls"),
        )
        return Suspect(
            facts=culprit_from_commit(commit, app_login),
            summary=summary_of(commit, list(pulls or [])),
            files=tuple(f["filename"] for f in commit.get("files") or ()),
        )

    return list(await asyncio.gather(*(one(sha) for sha in shas[:SUSPECTS_READ])))


# The revert's merge setup (app.revert.pr.MERGE_SETUP) rides along with CODEOWNERS when
# its query has the shape this expects (owner, name, base; one `repository` selection):
# then the revert asks nothing more (the evaluation's memo holds its answer).
_MERGE_SETUP = re.compile(
    r"^\s*query\(\$owner: String!, \$name: String!, \$base: String!\)\s*\{\s*"
    r"repository\(owner: \$owner, name: \$name\)\s*\{(?P<fields>[^{}]*(\{[^{}]*\}[^{}]*)*)\}"
    r"\s*\}\s*$"
)


def _codeowners_query(merge_fields: str) -> str:
    """One GraphQL request for CODEOWNERS' three places (`<ref>:<path>` expressions), and
    the merge setup's fields when given."""
    names = [f"p{i}" for i in range(len(CODEOWNERS_PATHS))]
    declared = ", ".join(f"${n}: String!" for n in names)
    if merge_fields:
        declared += ", $base: String!"
    fields = "\n    ".join(f"{n}: object(expression: ${n}) {{ ... on Blob {{ text }} }}"
                           for n in names)  # fmt: skip
    return (
        f"query($owner: String!, $name: String!, {declared}) {{\n"
        f"  repository(owner: $owner, name: $name) {{\n    {fields}\n    {merge_fields}\n  }}\n}}"
    )


_SETUP_FIELDS = _MERGE_SETUP.match(MERGE_SETUP)
CODEOWNERS_QUERY = _codeowners_query(_SETUP_FIELDS["fields"].strip() if _SETUP_FIELDS else "")


async def codeowners_text(gh: GitHubClient, repo: str, ref: str) -> str | None:
    """The first CODEOWNERS GitHub would use, its three places read in one request (with
    the revert's merge setup of `ref`, kept in the evaluation's memo for it)."""
    owner, name = repo.split("/", 1)
    paths = {f"p{i}": f"{ref}:{path}" for i, path in enumerate(CODEOWNERS_PATHS)}
    extra = {"base": ref} if _SETUP_FIELDS else {}
    data = (await gh.graphql(CODEOWNERS_QUERY, owner=owner, name=name, **paths, **extra))[
        "repository"
    ] or {}
    if _SETUP_FIELDS and isinstance(gh, MemoClient):
        setup = {k: v for k, v in data.items() if k not in paths}
        gh.seed(MERGE_SETUP, {"repository": setup}, owner=owner, name=name, base=ref)
    for key in paths:
        blob = data.get(key) or {}
        if isinstance(blob.get("text"), str):
            return str(blob["text"])
    return None


async def resolution_owners(
    gh: GitHubClient,
    repo: str,
    ref: str,
    suspects: list[Suspect],
    oncall: str | None,
) -> tuple[Owner, ...]:
    """The handbook's order: the recent committer, the code owners, the on-call engineer."""
    owners: list[Owner] = []
    seen: set[str] = set()

    def add(who: str, why: str) -> None:
        if who.lower() not in seen:
            seen.add(who.lower())
            owners.append(Owner(who, why))

    for suspect in suspects:
        facts = suspect.facts
        who = f"@{facts.author_login}" if facts.author_login else facts.author_name
        add(who, f"author of {facts.sha[:7]}")
    text = await codeowners_text(gh, repo, ref)
    if text:
        rules = parse_codeowners(text)
        for suspect in suspects:
            for path in suspect.files:
                for owner in rules.owners_for(path):
                    add(owner, f"CODEOWNERS of `{path}`")
    if oncall:
        add(oncall, "on call")
    return tuple(owners)


RECENT_PULLS = 50  # the newest pull requests read to count today's reverts


def recent_pulls_url(repo: str) -> str:
    return f"/repos/{repo}/pulls?state=all&sort=created&direction=desc&per_page={RECENT_PULLS}"


async def reverts_today(gh: GitHubClient, repo: str, now: float) -> int:
    """Revert PRs this app opened in the last 24 hours."""
    count = 0
    pulls = await gh.getitem(recent_pulls_url(repo))
    for pull in pulls:
        if now - parse_time(pull.get("created_at")) > 86400:
            break
        if str(pull["head"]["ref"]).startswith(BRANCH_PREFIX):
            count += 1
    return count


async def already_reverted(
    gh: GitHubClient, repo: str, sha: str, listed: list[dict[str, Any]]
) -> bool:
    """A human already reverted `sha`: a later commit or a pull request says so."""
    for commit in listed:
        if any(
            sha.startswith(s) or s.startswith(sha[:7])
            for s in reverted_shas(commit["commit"]["message"])
        ):
            return True
    query = f'"This reverts commit {sha}" repo:{repo} is:pr'
    try:
        found = await gh.getitem("/search/issues{?q}", {"q": query})
    except BadRequest:
        return False  # search is best effort; the ref lock still prevents a second revert PR
    return int(found.get("total_count", 0)) > 0
