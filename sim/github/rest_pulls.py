"""REST: pull requests, their commits and files, reviewers, reviews and merging."""

from __future__ import annotations

from sim.github.routes import ApiError, Ctx, Reply, not_found, route, validation_failed
from sim.github.state import Issue


def _pull(ctx: Ctx) -> Issue:
    try:
        number = int(ctx.params["pull_number"])
    except ValueError:
        raise not_found() from None
    return ctx.repo.pull_or_404(number)


@route("POST", "/repos/{owner}/{repo}/pulls")
def create_pull(ctx: Ctx) -> Reply:
    repo = ctx.repo
    head, base, title = ctx.field("head"), ctx.field("base"), ctx.field("title")
    if ctx.field("issue") is not None:
        raise ApiError(422, "Converting issues to pull requests is not simulated")
    for name, value in (("head", head), ("base", base), ("title", title)):
        if not value:
            raise validation_failed({"resource": "PullRequest", "code": "missing_field",
                                     "field": name})
    issue = repo.create_pull(str(head), str(base), str(title), ctx.field("body"), ctx.login,
                             draft=bool(ctx.field("draft", False)),
                             maintainer_can_modify=bool(ctx.field("maintainer_can_modify", False)))
    return Reply(201, ctx.sim.shapes.rest_pull(repo, issue))


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}")
def get_pull(ctx: Ctx) -> Reply:
    return Reply(200, ctx.sim.shapes.rest_pull(ctx.repo, _pull(ctx)))


@route("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}")
def update_pull(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = _pull(ctx)
    repo.edit_pull(issue, ctx.login, dict(ctx.body or {}))
    return Reply(200, ctx.sim.shapes.rest_pull(repo, issue))


@route("GET", "/repos/{owner}/{repo}/pulls")
def list_pulls(ctx: Ctx) -> Reply:
    repo = ctx.repo
    state = ctx.arg("state", "open")
    pulls = [i for i in repo.pull_records() if state == "all" or i.state == state]
    head = ctx.arg("head")
    if head:
        owner, _, branch = head.rpartition(":")
        if owner and owner.lower() != repo.owner.lower():
            pulls = []
        pulls = [i for i in pulls if i.pull and i.pull.head_ref == branch]
    base = ctx.arg("base")
    if base:
        pulls = [i for i in pulls if i.pull and i.pull.base_ref == base]
    sort = ctx.arg("sort", "created")
    reverse = ctx.arg("direction", "desc") != "asc"
    pulls.sort(key=lambda i: (i.updated_at if sort in ("updated", "popularity") else i.created_at,
                              i.number), reverse=reverse)
    page, links = ctx.paginate(pulls)
    # GitHub lists pull requests in the short `pull-request-simple` shape (no `merged`,
    # `mergeable`, ...): the answer is trimmed to it.
    return Reply(200, [ctx.sim.shapes.rest_pull(repo, i) for i in page], links,
                 short_shape=True)


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/commits")
def list_pull_commits(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = _pull(ctx)
    page, links = ctx.paginate(repo.pull_commit_shas(issue), default_per_page=30)
    infos = [repo.store.read_commit(s) for s in page]
    return Reply(200, [ctx.sim.shapes.commit(repo, i) for i in infos if i], links)


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files")
def list_pull_files(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = _pull(ctx)
    head, base = repo.pull_head_sha(issue), repo.pull_base_sha(issue)
    merge_base = repo.store.merge_base(base, head) or base
    changes = repo.store.diff(merge_base, head)
    page, links = ctx.paginate(changes)
    return Reply(200, [ctx.sim.shapes.file_change(repo, head, c) for c in page], links)


@route("GET", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls")
def pulls_for_commit(ctx: Ctx) -> Reply:
    repo = ctx.repo
    sha = repo.require_commit(ctx.params["commit_sha"])
    found = []
    for issue in repo.pull_records():
        pr = issue.pull
        assert pr is not None
        head = repo.pull_head_sha(issue)
        if sha in (pr.merge_commit_sha, head) or sha in pr.landed_shas:
            found.append(issue)
            continue
        base = repo.pull_base_sha(issue)
        merge_base = repo.store.merge_base(base, head)
        if merge_base and sha in repo.store.rev_list(f"{merge_base}..{head}"):
            found.append(issue)
    page, links = ctx.paginate(found)
    # GitHub lists pull requests in the short `pull-request-simple` shape (no `merged`,
    # `mergeable`, ...): the answer is trimmed to it.
    return Reply(200, [ctx.sim.shapes.rest_pull(repo, i) for i in page], links,
                 short_shape=True)


# --- reviewers and reviews -----------------------------------------------------------------------


@route("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers")
def request_reviewers(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = _pull(ctx)
    teams = ctx.field("team_reviewers") or []
    if teams:
        raise ApiError(422, (
            "Reviews may only be requested from collaborators. One or more of the users or teams "
            f"you specified is not a collaborator of the {repo.full_name} repository."))
    repo.request_reviewers(issue, [str(x) for x in ctx.field("reviewers") or []], ctx.login)
    return Reply(201, ctx.sim.shapes.rest_pull(repo, issue), short_shape=True)


@route("DELETE", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers")
def remove_reviewers(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = _pull(ctx)
    repo.remove_requested_reviewers(issue, [str(x) for x in ctx.field("reviewers") or []],
                                    ctx.login)
    return Reply(200, ctx.sim.shapes.rest_pull(repo, issue))


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers")
def list_requested_reviewers(ctx: Ctx) -> Reply:
    issue = _pull(ctx)
    assert issue.pull is not None
    return Reply(200, {"users": [ctx.sim.shapes.user(x) for x in issue.pull.requested_reviewers],
                       "teams": []})


@route("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews")
def create_review(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = _pull(ctx)
    event = ctx.field("event") or "COMMENT"
    state = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED",
             "COMMENT": "COMMENTED"}.get(str(event))
    if state is None:
        raise ApiError(422, "Unprocessable Entity", errors=[f"Invalid event: {event}"])
    review = repo.add_review(issue, ctx.login, state, str(ctx.field("body") or ""))
    return Reply(200, ctx.sim.shapes.review(repo, issue.number, review))


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews")
def list_reviews(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = _pull(ctx)
    assert issue.pull is not None
    page, links = ctx.paginate(issue.pull.reviews)
    return Reply(200, [ctx.sim.shapes.review(repo, issue.number, r) for r in page], links)


# --- merging -------------------------------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/merge")
def check_merged(ctx: Ctx) -> Reply:
    issue = _pull(ctx)
    assert issue.pull is not None
    if issue.pull.merged:
        return Reply(204)
    raise not_found()


@route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/update-branch")
def update_branch(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = _pull(ctx)
    repo.update_branch(issue, ctx.login, ctx.field("expected_head_sha"))
    return Reply(202, {"message": "Updating pull request branch.",
                       "url": f"{ctx.sim.html_url}/{repo.full_name}/pull/{issue.number}"})


@route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge")
def merge_pull(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = _pull(ctx)
    sha = repo.merge_pull(
        issue, ctx.login, method=str(ctx.field("merge_method") or "merge"),
        sha=ctx.field("sha"), commit_title=ctx.field("commit_title"),
        commit_message=ctx.field("commit_message"),
    )
    return Reply(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})
