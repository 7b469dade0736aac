"""REST: issues, labels, assignees, comments, reactions, commit comments and issue search."""

from __future__ import annotations

import re
from typing import Any

from sim.github.repo import SimRepo
from sim.github.routes import Ctx, Reply, not_found, route, validation_failed
from sim.github.shapes import iso
from sim.github.state import Issue

# --- issues --------------------------------------------------------------------------------------


def _number(ctx: Ctx, name: str = "issue_number") -> int:
    try:
        return int(ctx.params[name])
    except ValueError:
        raise not_found() from None


def _labels_from(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):  # {"labels": [...]}
        value = value.get("labels", [])
    if isinstance(value, str):
        return [value]
    return [item["name"] if isinstance(item, dict) else str(item) for item in value]


@route("POST", "/repos/{owner}/{repo}/issues")
def create_issue(ctx: Ctx) -> Reply:
    repo = ctx.repo
    title = ctx.field("title")
    if title is None or str(title) == "":
        raise validation_failed({"resource": "Issue", "code": "missing_field", "field": "title"})
    assignees = list(ctx.field("assignees") or [])
    if ctx.field("assignee"):
        assignees.append(ctx.field("assignee"))
    issue = repo.create_issue(str(title), ctx.field("body"), ctx.login,
                              labels=_labels_from(ctx.field("labels")), assignees=assignees)
    return Reply(201, ctx.sim.shapes.issue(repo, issue))


@route("GET", "/repos/{owner}/{repo}/issues/{issue_number}")
def get_issue(ctx: Ctx) -> Reply:
    repo = ctx.repo
    return Reply(200, ctx.sim.shapes.issue(repo, repo.issue_or_404(_number(ctx))))


@route("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}")
def update_issue(ctx: Ctx) -> Reply:
    repo = ctx.repo
    changes = dict(ctx.body or {})
    issue = repo.issue_or_404(_number(ctx))
    if issue.pull is not None and "state" in changes:
        repo.edit_pull(issue, ctx.login, changes)
        changes = {k: v for k, v in changes.items() if k not in ("title", "body", "state")}
    repo.edit_issue(issue.number, ctx.login, changes)
    return Reply(200, ctx.sim.shapes.issue(repo, issue))


def _sorted_issues(ctx: Ctx, issues: list[Issue]) -> list[Issue]:
    sort = ctx.arg("sort", "created")
    reverse = ctx.arg("direction", "desc") != "asc"
    key = {
        "updated": lambda i: (i.updated_at, i.number),
        "comments": lambda i: (len(i.comments), i.number),
    }.get(sort or "created", lambda i: (i.created_at, i.number))
    return sorted(issues, key=key, reverse=reverse)


@route("GET", "/repos/{owner}/{repo}/issues")
def list_issues(ctx: Ctx) -> Reply:
    repo = ctx.repo
    state = ctx.arg("state", "open")
    issues = [i for i in repo.issue_records() if state == "all" or i.state == state]
    wanted = [x.strip() for x in (ctx.arg("labels") or "").split(",") if x.strip()]
    if wanted:
        lowered = [w.lower() for w in wanted]
        issues = [i for i in issues if all(w in [n.lower() for n in i.labels] for w in lowered)]
    creator = ctx.arg("creator")
    if creator:
        issues = [i for i in issues if i.user == creator]
    assignee = ctx.arg("assignee")
    if assignee == "none":
        issues = [i for i in issues if not i.assignees]
    elif assignee and assignee != "*":
        issues = [i for i in issues if assignee in i.assignees]
    page, links = ctx.paginate(_sorted_issues(ctx, issues))
    return Reply(200, [ctx.sim.shapes.issue(repo, i) for i in page], links)


# --- labels --------------------------------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}/labels")
def list_repo_labels(ctx: Ctx) -> Reply:
    repo = ctx.repo
    page, links = ctx.paginate([ctx.sim.shapes.label(repo, lab) for lab in repo.label_map.values()])
    return Reply(200, page, links)


@route("POST", "/repos/{owner}/{repo}/labels")
def create_repo_label(ctx: Ctx) -> Reply:
    repo = ctx.repo
    name = ctx.field("name")
    if not name:
        raise validation_failed({"resource": "Label", "code": "missing_field", "field": "name"})
    return Reply(201, repo.create_label(str(name), str(ctx.field("color") or "ededed"),
                                        ctx.field("description")))


@route("GET", "/repos/{owner}/{repo}/labels/{name}")
def get_repo_label(ctx: Ctx) -> Reply:
    repo = ctx.repo
    label = repo.find_label(ctx.params["name"])
    if label is None:
        raise not_found()
    return Reply(200, ctx.sim.shapes.label(repo, label))


@route("PATCH", "/repos/{owner}/{repo}/labels/{name}")
def update_repo_label(ctx: Ctx) -> Reply:
    repo = ctx.repo
    label = repo.find_label(ctx.params["name"])
    if label is None:
        raise not_found()
    new_name = ctx.field("new_name")
    if new_name and new_name != label.name:
        if repo.find_label(new_name) is not None:
            raise validation_failed({"resource": "Label", "code": "already_exists",
                                     "field": "name"})
        del repo.label_map[label.name]
        for issue in repo.issue_records():
            issue.labels = [new_name if n == label.name else n for n in issue.labels]
        label.name = new_name
        repo.label_map[new_name] = label
    if ctx.field("color"):
        label.color = str(ctx.field("color")).lstrip("#")
    if "description" in (ctx.body or {}):
        label.description = ctx.field("description")
    return Reply(200, ctx.sim.shapes.label(repo, label))


@route("DELETE", "/repos/{owner}/{repo}/labels/{name}")
def delete_repo_label(ctx: Ctx) -> Reply:
    repo = ctx.repo
    label = repo.find_label(ctx.params["name"])
    if label is None:
        raise not_found()
    del repo.label_map[label.name]
    for issue in repo.issue_records():
        if label.name in issue.labels:
            issue.labels.remove(label.name)
    return Reply(204)


def _issue_labels(ctx: Ctx, repo: SimRepo, issue: Issue) -> list[dict[str, Any]]:
    return [ctx.sim.shapes.label(repo, repo.label_record(n)) for n in issue.labels]


@route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/labels")
def list_issue_labels(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = repo.issue_or_404(_number(ctx))
    page, links = ctx.paginate(_issue_labels(ctx, repo, issue))
    return Reply(200, page, links)


@route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels")
def add_issue_labels(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = repo.issue_or_404(_number(ctx))
    repo.add_issue_labels(issue, _labels_from(ctx.body), ctx.login)
    return Reply(200, _issue_labels(ctx, repo, issue))


@route("PUT", "/repos/{owner}/{repo}/issues/{issue_number}/labels")
def set_issue_labels(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = repo.issue_or_404(_number(ctx))
    repo.set_issue_labels(issue, _labels_from(ctx.body), ctx.login)
    return Reply(200, _issue_labels(ctx, repo, issue))


@route("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels")
def clear_issue_labels(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = repo.issue_or_404(_number(ctx))
    repo.set_issue_labels(issue, [], ctx.login)
    return Reply(204)


@route("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}")
def remove_issue_label(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = repo.issue_or_404(_number(ctx))
    repo.remove_issue_label(issue, ctx.params["name"], ctx.login)
    return Reply(200, _issue_labels(ctx, repo, issue))


# --- assignees -----------------------------------------------------------------------------------


@route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/assignees")
def add_assignees(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = repo.issue_or_404(_number(ctx))
    repo.add_assignees(issue, list(ctx.field("assignees") or []), ctx.login)
    return Reply(201, ctx.sim.shapes.issue(repo, issue))


@route("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/assignees")
def remove_assignees(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = repo.issue_or_404(_number(ctx))
    repo.remove_assignees(issue, list(ctx.field("assignees") or []), ctx.login)
    return Reply(200, ctx.sim.shapes.issue(repo, issue))


@route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/assignees/{assignee}")
def check_assignable(ctx: Ctx) -> Reply:
    repo = ctx.repo
    repo.issue_or_404(_number(ctx))
    if repo.is_collaborator(ctx.params["assignee"]):
        return Reply(204)
    raise not_found()


# --- comments ------------------------------------------------------------------------------------


@route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
def list_comments(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = repo.issue_or_404(_number(ctx))
    page, links = ctx.paginate(issue.comments)
    return Reply(200, [ctx.sim.shapes.comment(repo, c) for c in page], links)


@route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
def create_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo
    body = ctx.field("body")
    if not isinstance(body, str) or not body:
        raise validation_failed({"resource": "IssueComment", "code": "missing_field",
                                 "field": "body"})
    comment = repo.add_comment(_number(ctx), body, ctx.login)
    return Reply(201, ctx.sim.shapes.comment(repo, comment))


def _comment_id(ctx: Ctx) -> int:
    return _number(ctx, "comment_id")


@route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def get_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo
    _, comment = repo.find_comment(_comment_id(ctx))
    return Reply(200, ctx.sim.shapes.comment(repo, comment))


@route("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def update_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo
    body = ctx.field("body")
    if not isinstance(body, str) or not body:
        raise validation_failed({"resource": "IssueComment", "code": "missing_field",
                                 "field": "body"})
    comment = repo.edit_comment(_comment_id(ctx), body, ctx.login)
    return Reply(200, ctx.sim.shapes.comment(repo, comment))


@route("GET", "/repos/{owner}/{repo}/issues/comments")
def list_repo_comments(ctx: Ctx) -> Reply:
    repo = ctx.repo
    comments = sorted((c for i in repo.issue_records() for c in i.comments), key=lambda c: c.id)
    if ctx.arg("direction") == "desc":
        comments.reverse()
    page, links = ctx.paginate(comments)
    return Reply(200, [ctx.sim.shapes.comment(repo, c) for c in page], links)


# --- reactions -----------------------------------------------------------------------------------


def _reaction_reply(ctx: Ctx, repo: SimRepo, subject: str) -> Reply:
    content = ctx.field("content")
    reaction, created = repo.react(subject, str(content), ctx.login)
    return Reply(201 if created else 200, {
        "id": reaction.id,
        "node_id": reaction.node_id,
        "user": ctx.sim.shapes.user(reaction.user),
        "content": reaction.content,
        "created_at": iso(reaction.created_at),
    })


def _list_reactions(ctx: Ctx, repo: SimRepo, subject: str) -> Reply:
    wanted = ctx.arg("content")
    items = [
        {"id": r.id, "node_id": r.node_id, "user": ctx.sim.shapes.user(r.user),
         "content": r.content, "created_at": iso(r.created_at)}
        for r in repo.reaction_records
        if r.subject == subject and (wanted is None or r.content == wanted)
    ]
    page, links = ctx.paginate(items)
    return Reply(200, page, links)


@route("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions")
def react_issue_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo
    _, comment = repo.find_comment(_comment_id(ctx))
    return _reaction_reply(ctx, repo, f"issue_comment:{comment.id}")


@route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions")
def list_issue_comment_reactions(ctx: Ctx) -> Reply:
    repo = ctx.repo
    _, comment = repo.find_comment(_comment_id(ctx))
    return _list_reactions(ctx, repo, f"issue_comment:{comment.id}")


@route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/reactions")
def react_issue(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = repo.issue_or_404(_number(ctx))
    return _reaction_reply(ctx, repo, f"issue:{issue.number}")


@route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/reactions")
def list_issue_reactions(ctx: Ctx) -> Reply:
    repo = ctx.repo
    issue = repo.issue_or_404(_number(ctx))
    return _list_reactions(ctx, repo, f"issue:{issue.number}")


def _commit_comment(ctx: Ctx, repo: SimRepo) -> Any:
    wanted = _comment_id(ctx)
    for comment in repo.commit_comment_records:
        if comment.id == wanted:
            return comment
    raise not_found()


@route("POST", "/repos/{owner}/{repo}/comments/{comment_id}/reactions")
def react_commit_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo
    comment = _commit_comment(ctx, repo)
    return _reaction_reply(ctx, repo, f"commit_comment:{comment.id}")


@route("GET", "/repos/{owner}/{repo}/comments/{comment_id}/reactions")
def list_commit_comment_reactions(ctx: Ctx) -> Reply:
    repo = ctx.repo
    comment = _commit_comment(ctx, repo)
    return _list_reactions(ctx, repo, f"commit_comment:{comment.id}")


# --- commit comments -----------------------------------------------------------------------------


@route("POST", "/repos/{owner}/{repo}/commits/{commit_sha}/comments")
def create_commit_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo
    sha = repo.require_commit(ctx.params["commit_sha"])
    body = ctx.field("body")
    if not isinstance(body, str) or not body:
        raise validation_failed({"resource": "CommitComment", "code": "missing_field",
                                 "field": "body"})
    comment = repo.add_commit_comment(sha, body, ctx.login, path=ctx.field("path"),
                                      position=ctx.field("position"), line=ctx.field("line"))
    return Reply(201, ctx.sim.shapes.commit_comment(repo, comment))


@route("GET", "/repos/{owner}/{repo}/commits/{commit_sha}/comments")
def list_commit_comments(ctx: Ctx) -> Reply:
    repo = ctx.repo
    sha = repo.require_commit(ctx.params["commit_sha"])
    comments = [c for c in repo.commit_comment_records if c.commit_id == sha]
    page, links = ctx.paginate(comments)
    return Reply(200, [ctx.sim.shapes.commit_comment(repo, c) for c in page], links)


@route("GET", "/repos/{owner}/{repo}/comments")
def list_repo_commit_comments(ctx: Ctx) -> Reply:
    repo = ctx.repo
    page, links = ctx.paginate(repo.commit_comment_records)
    return Reply(200, [ctx.sim.shapes.commit_comment(repo, c) for c in page], links)


@route("GET", "/repos/{owner}/{repo}/comments/{comment_id}")
def get_commit_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo
    return Reply(200, ctx.sim.shapes.commit_comment(repo, _commit_comment(ctx, repo)))


# --- search --------------------------------------------------------------------------------------

_QUALIFIER = re.compile(r"^(-?)([a-z_]+):(.+)$")
_TOKEN = re.compile(r'-?[a-z_]+:"[^"]*"|"[^"]*"|\S+')


def _search_terms(q: str) -> list[tuple[bool, str]]:
    """(quoted, text) per term: a quoted phrase is never a qualifier, even with a colon in it."""
    terms = []
    for token in _TOKEN.findall(q):
        if token.startswith('"'):
            terms.append((True, token.strip('"')))
        else:
            terms.append((False, token.replace('"', "")))
    return terms


@route("GET", "/search/issues")
def search_issues(ctx: Ctx) -> Reply:
    q = ctx.arg("q") or ""
    if not q.strip():
        raise validation_failed({"resource": "Search", "field": "q", "code": "missing"})
    repos: list[SimRepo] = []
    kinds: set[str] = set()
    states: set[str] = set()
    labels: list[tuple[bool, str]] = []
    words: list[str] = []
    authors: list[str] = []
    for quoted, term in _search_terms(q):
        found = None if quoted else _QUALIFIER.match(term)
        if not found:
            words.append(term.lower())
            continue
        negate, key, value = found.group(1) == "-", found.group(2), found.group(3)
        if key == "repo":
            repo = ctx.sim.repos.get(value.lower())
            if repo is None or not ctx.sim.can_see(ctx, repo):
                raise validation_failed({
                    "message": "The listed users and repositories cannot be searched either "
                               "because the resources do not exist or you do not have permission "
                               "to view them.", "resource": "Search", "field": "q",
                    "code": "invalid"})
            repos.append(repo)
        elif key in ("is", "type", "state"):
            if value in ("pr", "issue"):
                kinds.add(value)
            elif value in ("open", "closed", "merged", "unmerged"):
                states.add(value)
        elif key == "label":
            labels.append((negate, value.lower()))
        elif key == "author":
            authors.append(value)
        elif key == "in":
            continue
        else:
            words.append(term.lower())
    if not repos:
        repos = [r for r in ctx.sim.repos.values() if ctx.sim.can_see(ctx, r)]
    hits: list[tuple[SimRepo, Issue]] = []
    for repo in repos:
        for issue in repo.issue_records():
            if kinds and ("pr" if issue.pull else "issue") not in kinds:
                continue
            if "open" in states and issue.state != "open":
                continue
            if "closed" in states and issue.state != "closed":
                continue
            merged = bool(issue.pull and issue.pull.merged)
            if "merged" in states and not merged:
                continue
            if "unmerged" in states and (issue.pull is None or merged):
                continue
            names = [n.lower() for n in issue.labels]
            if any((name in names) == negate for negate, name in labels):
                continue
            if authors and issue.user not in authors:
                continue
            text = f"{issue.title}\n{issue.body or ''}".lower()
            if any(word not in text for word in words):
                continue
            hits.append((repo, issue))
    reverse = ctx.arg("order", "desc") != "asc"
    sort = ctx.arg("sort")
    hits.sort(key=lambda h: (h[1].updated_at if sort == "updated" else h[1].created_at,
                             h[1].number), reverse=reverse)
    page, links = ctx.paginate(hits)
    items = []
    for repo, issue in page:
        shaped = ctx.sim.shapes.issue(repo, issue)
        shaped.pop("closed_by", None)  # search results do not say who closed an issue
        shaped["score"] = 1.0
        items.append(shaped)
    return Reply(200, {"total_count": len(hits), "incomplete_results": False, "items": items,
                       "search_type": "lexical"}, links)
