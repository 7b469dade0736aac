"""The GitHub simulator: issues, labels, comments, reactions, permissions, search, and the
webhooks these send (signed, schema-valid, in order)."""

from __future__ import annotations

from app.clock import ManualClock
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from sim.validators.webhook_schemas import validate_webhook
from tests.sim.conftest import Api, Receiver


async def test_webhooks_are_signed_valid_and_ordered(
    api: Api, sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    sim.add_user("alice")
    repo.set_permission("alice", "write")
    created = await api.post(
        "/repos/octo/widgets/issues",
        {"title": "Main is red", "body": "sha abc", "labels": ["incident"]},
    )
    number = created.body["number"]
    await api.post(f"/repos/octo/widgets/issues/{number}/comments", {"body": "Looking"})
    repo.comment(number, "/ack", user="alice")
    await sim.drain()

    seen = [(e.event, e.data.get("action")) for e in receiver.events]
    assert seen == [
        ("issues", "opened"),
        ("issues", "labeled"),
        ("issue_comment", "created"),
        ("issue_comment", "created"),
    ]
    for event in receiver.events:
        assert validate_webhook(event.event, event.data) == []
        assert event.data["repository"]["full_name"] == "octo/widgets"
        assert event.data["installation"]["id"] == 1
    bot = receiver.events[0].data["sender"]
    assert (bot["login"], bot["type"]) == ("buildsheriff[bot]", "Bot")
    assert receiver.events[3].data["sender"]["login"] == "alice"
    assert receiver.events[3].data["comment"]["body"] == "/ack"
    headers = receiver.headers[0]
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
    assert headers["X-GitHub-Hook-Installation-Target-ID"] == str(sim.app_id)
    assert headers["X-Hub-Signature"].startswith("sha1=")
    assert [d["status"] for d in sim.deliveries[-4:]] == [202, 202, 202, 202]
    assert len({d["delivery_id"] for d in sim.deliveries}) == len(sim.deliveries)
    assert not sim.violations


async def test_issue_edits_labels_assignees(api: Api, sim: GitHubSim, repo: SimRepo) -> None:
    sim.add_user("alice")
    repo.set_permission("alice", "write")
    repo.create_label("incident:triage", "d73a4a", "New incident")
    number = (await api.post("/repos/octo/widgets/issues", {"title": "Red"})).body["number"]

    labels = await api.post(
        f"/repos/octo/widgets/issues/{number}/labels", {"labels": ["incident", "incident:triage"]}
    )
    assert [lab["name"] for lab in labels.body] == ["incident", "incident:triage"]
    assert repo.labels["incident"]["color"] == "ededed"  # created on the fly, like GitHub
    assert repo.labels["incident:triage"]["color"] == "d73a4a"
    swapped = await api.put(
        f"/repos/octo/widgets/issues/{number}/labels",
        {"labels": ["incident", "incident:acknowledged"]},
    )
    assert [lab["name"] for lab in swapped.body] == ["incident", "incident:acknowledged"]
    missing = await api.delete(f"/repos/octo/widgets/issues/{number}/labels/nope")
    assert missing.status == 404

    patched = await api.patch(
        f"/repos/octo/widgets/issues/{number}",
        {
            "title": "Red main",
            "state": "closed",
            "state_reason": "completed",
            "assignees": ["alice", "stranger"],
        },
    )
    assert patched.body["state"] == "closed" and patched.body["closed_by"]["login"] == (
        "buildsheriff[bot]"
    )
    assert [a["login"] for a in patched.body["assignees"]] == ["alice"]
    await sim.drain()
    actions = [(d["event"], d["action"]) for d in sim.deliveries if d["event"] == "issues"]
    assert actions == [
        ("issues", "opened"),
        ("issues", "labeled"),
        ("issues", "labeled"),
        ("issues", "unlabeled"),
        ("issues", "labeled"),
        ("issues", "edited"),
        ("issues", "closed"),
        ("issues", "assigned"),
    ]
    edited = next(d for d in sim.deliveries if d["action"] == "edited")
    assert edited["payload"]["changes"] == {"title": {"from": "Red"}}

    repo.reopen_issue(number, user="alice")
    listed = await api.get("/repos/octo/widgets/issues?labels=incident,incident:acknowledged")
    assert [i["number"] for i in listed.body] == [number]
    assert (await api.get("/repos/octo/widgets/issues?labels=other")).body == []
    assert not sim.violations


async def test_listing_issues_pages_and_sorts(api: Api, repo: SimRepo, clock: ManualClock) -> None:
    numbers = []
    for i in range(5):
        numbers.append(repo.create_issue_as(f"Issue {i}", user="octocat"))
        clock.advance(10)
    first = await api.get("/repos/octo/widgets/issues?per_page=2&sort=created&direction=asc")
    assert [i["number"] for i in first.body] == numbers[:2]
    assert 'rel="next"' in first.headers["Link"] and 'rel="last"' in first.headers["Link"]
    newest = await api.get("/repos/octo/widgets/issues?per_page=2")
    assert [i["number"] for i in newest.body] == [numbers[4], numbers[3]]


async def test_comments_and_reactions(api: Api, sim: GitHubSim, repo: SimRepo) -> None:
    number = repo.create_issue_as("Red", user="octocat")
    comment = repo.comment(number, "/ack", user="octocat")
    first = await api.post(
        f"/repos/octo/widgets/issues/comments/{comment['id']}/reactions", {"content": "eyes"}
    )
    again = await api.post(
        f"/repos/octo/widgets/issues/comments/{comment['id']}/reactions", {"content": "eyes"}
    )
    assert (first.status, again.status) == (201, 200)
    assert (
        await api.post(f"/repos/octo/widgets/issues/{number}/reactions", {"content": "+1"})
    ).status == 201
    bad = await api.post(f"/repos/octo/widgets/issues/{number}/reactions", {"content": "wow"})
    assert bad.status == 422

    updated = await api.patch(
        f"/repos/octo/widgets/issues/comments/{comment['id']}", {"body": "/ack (edited)"}
    )
    assert updated.body["body"] == "/ack (edited)"
    assert updated.body["reactions"]["eyes"] == 1
    mine = await api.post(f"/repos/octo/widgets/issues/{number}/comments", {"body": "Taking it"})
    listed = await api.get(f"/repos/octo/widgets/issues/{number}/comments")
    assert [c["body"] for c in listed.body] == ["/ack (edited)", "Taking it"]
    assert listed.body[1]["user"]["login"] == "buildsheriff[bot]"
    assert repo.issue(number)["comments_list"][1]["id"] == mine.body["id"]

    sha = repo.head()
    cc = await api.post(f"/repos/octo/widgets/commits/{sha}/comments", {"body": "Culprit?"})
    assert cc.status == 201
    assert (
        await api.post(
            f"/repos/octo/widgets/comments/{cc.body['id']}/reactions", {"content": "rocket"}
        )
    ).status == 201
    assert [
        c["body"] for c in (await api.get(f"/repos/octo/widgets/commits/{sha}/comments")).body
    ] == ["Culprit?"]
    assert {(r["subject"], r["content"]) for r in repo.reactions} == {
        (f"issue_comment:{comment['id']}", "eyes"),
        (f"issue:{number}", "+1"),
        (f"commit_comment:{cc.body['id']}", "rocket"),
    }
    await sim.drain()
    assert [d["action"] for d in sim.deliveries if d["event"] == "issue_comment"] == [
        "created",
        "edited",
        "created",
    ]
    assert any(d["event"] == "commit_comment" for d in sim.deliveries)
    assert [v for v in sim.violations if "wow" not in v] == []


async def test_collaborator_permissions_map_like_github(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    expected = {
        "admin": "admin",
        "maintain": "write",
        "write": "write",
        "triage": "read",
        "read": "read",
    }
    for role, permission in expected.items():
        repo.set_permission(f"user-{role}", role)
        answer = await api.get(f"/repos/octo/widgets/collaborators/user-{role}/permission")
        assert (answer.body["permission"], answer.body["role_name"]) == (permission, role)
        assert answer.body["user"]["login"] == f"user-{role}"
    owner = await api.get("/repos/octo/widgets/collaborators/octo/permission")
    assert owner.body["permission"] == "admin"
    assert (await api.get("/repos/octo/widgets/collaborators/ghost/permission")).status == 404


async def test_search_issues(api: Api, sim: GitHubSim, repo: SimRepo) -> None:
    incident = repo.create_issue_as(
        "Main is red", "culprit abc123 fix: thing", user="octocat", labels=["incident"]
    )
    repo.create_issue_as("Unrelated", "nothing", user="octocat")
    repo.create_branch("fix", repo.commit({"f": "1"}, "f", branch="fix", push=False))
    pr = repo.open_pr("fix", "Revert abc123", author="octocat")

    async def numbers(q: str) -> list[int]:
        answer = await api.get(f"/search/issues?q={q}")
        assert answer.status == 200
        return sorted(i["number"] for i in answer.body["items"])

    assert await numbers("repo:octo/widgets+is:issue+is:open+label:incident") == [incident]
    assert await numbers('repo:octo/widgets+"culprit abc123"') == [incident]
    assert await numbers('"fix: thing"+repo:octo/widgets') == [incident]
    assert await numbers('repo:octo/widgets+"fix: other"') == []
    assert await numbers("repo:octo/widgets+is:pr+abc123") == [pr]
    assert await numbers("repo:octo/widgets+is:pr+is:merged") == []
    repo.merge(pr)
    assert await numbers("repo:octo/widgets+is:pr+is:merged") == [pr]


async def test_build_payload_derives_a_push_from_git(
    sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    before = repo.head()
    after = repo.commit({"a.txt": "1\n"}, "Add a", push=False)
    payload = sim.build_payload(
        "push", None, repo, sender="octocat", ref="refs/heads/main", before=before
    )
    assert (payload["after"], payload["forced"], payload["pusher"]["name"]) == (
        after,
        False,
        "octocat",
    )
    assert [c["added"] for c in payload["commits"]] == [["a.txt"]]
    assert validate_webhook("push", payload) == []
    assert await sim.send_webhook("push", payload) == 202
    assert receiver.events[-1].data["head_commit"]["id"] == after
