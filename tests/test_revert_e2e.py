"""The revert step end to end: the app's real HTTP client and server against the GitHub
simulator (real git objects, signed webhooks). What is asserted is what people would see
on GitHub: the PR, its tree, reviewers, labels, comments, reactions, the merged branch."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from gidgethub.routing import Router

from app.core.config import RepoConfig
from app.core.revert_messages import BRANCH_PREFIX, Merger, parse_revert_marker
from app.handlers import revert_command, revert_merge
from app.revert.commit import RevertConflict, RevertEmpty
from app.revert.pr import RevertPR, open_revert_pr
from tests.harness import Stack
from tests.revert_helpers import tree_texts

REPO = "octo/widgets"
APP_BOT = "buildsheriff[bot]"
StackFactory = Callable[..., AbstractAsyncContextManager[Stack]]
BASE_FILES = {
    "src/app.py": "def main():\n    return 1\n\n\ndef helper():\n    return 2\n",
    "src/util.py": "X = 1\n",
    "README.md": "# widgets\n",
}


def _router() -> Router:
    return Router(revert_merge.router, revert_command.router)


def _stack(factory: StackFactory) -> AbstractAsyncContextManager[Stack]:
    return factory(slack=False, router=_router())


def _history(s: Stack, **repo_kwargs: Any) -> tuple[Any, str, int]:
    """A repo whose culprit (by alice, a writer) changed app.py and added new.py; a later
    commit touched another file. Returns (repo, culprit sha, incident issue number)."""
    repo = s.sim.create_repo(REPO, **repo_kwargs)
    repo.set_permission("alice", "write")
    repo.commit(BASE_FILES, "Add the app", author="octocat")
    culprit = repo.commit(
        {
            "src/app.py": "def main():\n    return None\n\n\ndef helper():\n    return 2\n",
            "src/new.py": "BROKEN = True\n",
        },
        "Break the app\n\nA longer body.",
        author="alice",
    )
    repo.commit({"README.md": "# widgets\n\nDocs.\n"}, "Docs", author="octocat")
    incident = repo.create_issue_as("main is red", "it broke", user=APP_BOT)
    return repo, culprit, incident


async def _open(s: Stack, culprit: str, incident: int | None, **kwargs: Any) -> Any:
    gh = await s.services.github_for_installation(1)
    kwargs.setdefault("config", RepoConfig())
    return await open_revert_pr(
        gh,
        REPO,
        culprit,
        base_branch="main",
        incident_number=incident,
        why_markdown="- [ci](https://ci.example/1) failed",
        app_login=APP_BOT,
        **kwargs,
    )


def _comments(repo: Any, number: int) -> list[dict[str, Any]]:
    return list(repo.issue(number)["comments_list"])


async def test_revert_pr_auto_merges_when_the_required_check_passes(
    stack_factory: StackFactory,
) -> None:
    async with _stack(stack_factory) as s:
        repo, culprit, incident = _history(s)
        repo.protect("main", required_checks=["ci"])
        s.sim.reset_calls()
        result = await _open(s, culprit, incident)
        # Nothing changed those files since: the revert needed no file contents at all.
        assert not s.sim.blobs_read
        await s.settle()

        assert isinstance(result, RevertPR)
        assert (result.created, result.merger, result.reviewer) == (True, Merger.AUTO, "alice")
        assert result.branch == BRANCH_PREFIX + culprit
        # The revert's tree: app.py as before the culprit, new.py gone, later docs kept.
        assert tree_texts(repo, result.head_sha) == {
            **BASE_FILES,
            "README.md": "# widgets\n\nDocs.\n",
        }
        message = repo.store.read_commit(result.head_sha).message
        assert message.startswith(
            f'Revert "Break the app"\n\nThis reverts commit {culprit}.\n\nIncident: '
        )
        pr = repo.pull(result.number)
        assert pr["title"] == 'Revert "Break the app"'
        assert [label["name"] for label in pr["labels"]] == ["revert"]
        assert [u["login"] for u in pr["requested_reviewers"]] == ["alice"]
        assert f"Incident: #{incident}" in pr["body"] and "[ci](https://ci.example/1)" in pr["body"]
        assert "disable auto-merge" in pr["body"]
        marker = parse_revert_marker(pr["body"])
        assert marker is not None and (marker.culprit, marker.incident) == (culprit, incident)
        notices = [c for c in repo.commit_comment_records if c.commit_id == culprit]
        assert len(notices) == 1 and notices[0].user == APP_BOT
        assert "@alice" in notices[0].body and f"#{result.number}" in notices[0].body

        repo.add_check_run(result.head_sha, "ci", conclusion="success")
        await s.settle()
        assert repo.pull(result.number)["merged"] is True
        assert tree_texts(repo, repo.head())["src/app.py"] == BASE_FILES["src/app.py"]
        assert s.sim.violations == []


async def test_without_auto_merge_the_app_merges_once_checks_pass(
    stack_factory: StackFactory,
) -> None:
    async with _stack(stack_factory) as s:
        repo, culprit, incident = _history(s, allow_auto_merge=False)
        result = await _open(s, culprit, incident)
        assert isinstance(result, RevertPR) and result.merger is Merger.SHERIFF
        body = repo.pull(result.number)["body"]
        assert "auto-merge is not available" in body and "close this pull request" in body

        run = repo.add_check_run(result.head_sha, "ci", status="in_progress")
        repo.add_check_run(result.head_sha, "lint", conclusion="success")
        await s.settle()
        assert repo.pull(result.number)["state"] == "open"  # ci still running

        repo.complete_check_run(run["id"], "success")
        await s.settle()
        pr = repo.pull(result.number)
        assert pr["merged"] is True and pr["merged_by"]["login"] == APP_BOT
        head = repo.store.read_commit(repo.head())
        assert head.message.startswith(f'Revert "Break the app" (#{result.number})')  # squash
        assert len(head.parents) == 1
        assert s.sim.violations == []


async def test_blocked_by_branch_protection_is_said_once_in_pr_and_incident(
    stack_factory: StackFactory,
) -> None:
    async with _stack(stack_factory) as s:
        repo, culprit, incident = _history(s, allow_auto_merge=False)
        repo.protect("main", required_reviews=1)
        result = await _open(s, culprit, incident)
        assert isinstance(result, RevertPR) and result.merger is Merger.SHERIFF
        repo.add_check_run(result.head_sha, "ci", conclusion="success")
        await s.settle()
        repo.add_check_run(result.head_sha, "lint", conclusion="success")  # another event
        await s.settle()

        assert repo.pull(result.number)["state"] == "open"
        said = [c["body"] for c in _comments(repo, result.number) if "refused" in c["body"]]
        assert len(said) == 1
        assert "approving review is required" in said[0] and "bypass" in said[0]
        told = [c["body"] for c in _comments(repo, incident) if "refused" in c["body"]]
        assert len(told) == 1 and told[0].startswith(f"Revert #{result.number}")
        assert s.sim.violations == []


async def test_failing_revert_ci_is_reported_once_and_not_merged(
    stack_factory: StackFactory,
) -> None:
    async with _stack(stack_factory) as s:
        repo, culprit, incident = _history(s, allow_auto_merge=False)
        result = await _open(s, culprit, incident)
        assert isinstance(result, RevertPR)
        repo.add_check_run(result.head_sha, "ci", conclusion="failure")
        repo.add_check_run(result.head_sha, "lint", conclusion="success")
        await s.settle()

        assert repo.pull(result.number)["state"] == "open"
        said = [c["body"] for c in _comments(repo, result.number) if "checks failed" in c["body"]]
        assert len(said) == 1 and "`ci`" in said[0]
        told = [c["body"] for c in _comments(repo, incident) if "checks failed" in c["body"]]
        assert len(told) == 1
        assert s.sim.violations == []


async def test_concurrent_triggers_open_one_pr(stack_factory: StackFactory) -> None:
    async with _stack(stack_factory) as s:
        repo, culprit, incident = _history(s)
        first, second = await asyncio.gather(
            _open(s, culprit, incident), _open(s, culprit, incident)
        )
        assert isinstance(first, RevertPR) and isinstance(second, RevertPR)
        assert first.number == second.number
        assert sorted([first.created, second.created]) == [False, True]
        again = await _open(s, culprit, incident)
        assert isinstance(again, RevertPR)
        assert (again.number, again.created) == (first.number, False)
        assert len(repo.pulls()) == 1
        notices = [c for c in repo.commit_comment_records if c.commit_id == culprit]
        assert len(notices) == 1  # the author is told once, however many triggers
        assert s.sim.violations == []


async def test_author_without_access_is_mentioned_instead(stack_factory: StackFactory) -> None:
    async with _stack(stack_factory) as s:
        repo = s.sim.create_repo(REPO)
        repo.commit(BASE_FILES, "Add the app")
        culprit = repo.commit({"src/util.py": "X = 2\n"}, "Tweak X", author="mallory")
        result = await _open(s, culprit, None)
        assert isinstance(result, RevertPR)
        assert (result.reviewer, result.mentioned) == (None, "mallory")
        pr = repo.pull(result.number)
        assert pr["requested_reviewers"] == []
        assert "@mallory" in pr["body"] and "not a collaborator" in pr["body"]
        assert parse_revert_marker(pr["body"]) is not None
        assert s.sim.violations == []


async def test_conflicting_and_empty_reverts_open_nothing(stack_factory: StackFactory) -> None:
    async with _stack(stack_factory) as s:
        repo = s.sim.create_repo(REPO)
        repo.commit(BASE_FILES, "Add the app")
        culprit = repo.commit({"src/util.py": "X = 2\n"}, "Tweak X")
        repo.commit({"src/util.py": "X = 3\n"}, "Tweak X again")
        conflict = await _open(s, culprit, None)
        assert isinstance(conflict, RevertConflict)
        assert conflict.paths == ("src/util.py",)
        assert f"git revert {culprit}" in conflict.explain()

        harmless = repo.commit({"docs/a.md": "a\n"}, "Add docs")
        repo.commit({"docs/a.md": None}, "Remove docs again")
        empty = await _open(s, harmless, None)
        assert isinstance(empty, RevertEmpty) and "already" in empty.reason
        assert repo.pulls() == []
        assert not any(b.startswith(BRANCH_PREFIX) for b in _branches(repo))
        assert s.sim.violations == []


def _branches(repo: Any) -> list[str]:
    refs = repo.git("for-each-ref", "--format=%(refname:short)", "refs/heads").split()
    return list(refs)


async def test_revert_command_from_a_reader_only_gets_a_polite_reply(
    stack_factory: StackFactory,
) -> None:
    async with _stack(stack_factory) as s:
        repo, culprit, _ = _history(s)
        repo.set_permission("rita", "read")
        comment = repo.comment_on_commit(culprit, "/revert", user="rita")
        repo.comment_on_commit(culprit, "/revert", user="dependabot[bot]")
        await s.settle()

        replies = [c for c in repo.commit_comment_records if c.user == APP_BOT]
        assert len(replies) == 1  # the bot got no answer at all
        assert "@rita" in replies[0].body and "write access" in replies[0].body
        assert repo.pulls() == []
        assert not any(b.startswith(BRANCH_PREFIX) for b in _branches(repo))
        subject = f"commit_comment:{comment['id']}"
        assert not any(r.subject == subject for r in repo.reaction_records)
        assert s.sim.violations == []


async def test_revert_command_on_a_commit_opens_the_pr_and_replies(
    stack_factory: StackFactory,
) -> None:
    async with _stack(stack_factory) as s:
        repo, culprit, _ = _history(s)
        comment = repo.comment_on_commit(culprit, "/revert", user="alice")
        await s.settle()

        [pr] = repo.pulls()
        assert pr["head"]["ref"] == BRANCH_PREFIX + culprit
        assert "@alice asked for it with `/revert`" in pr["body"]
        subject = f"commit_comment:{comment['id']}"
        reactions = [r for r in repo.reaction_records if r.subject == subject]
        assert [(r.content, r.user) for r in reactions] == [("eyes", APP_BOT)]
        replies = [c.body for c in repo.commit_comment_records if c.user == APP_BOT]
        assert any(pr["html_url"] in body for body in replies)
        assert s.sim.violations == []


async def test_revert_command_on_a_merged_pr_reverts_its_merge_commit(
    stack_factory: StackFactory,
) -> None:
    async with _stack(stack_factory) as s:
        repo = s.sim.create_repo(REPO)
        repo.set_permission("alice", "maintain")
        repo.commit(BASE_FILES, "Add the app")
        repo.commit({"src/feature.py": "F = 1\n"}, "Feature", branch="feature", author="alice")
        number = repo.open_pr("feature", "Add a feature", author="alice")
        repo.commit({"src/other.py": "O = 1\n"}, "Other", branch="other", author="alice")
        other = repo.open_pr("other", "Another feature", author="alice")
        merge_sha = repo.merge(number, user="alice", method="merge")
        await s.settle()

        repo.comment(number, "/revert", user="alice")
        repo.comment(other, "/revert", user="alice")
        await s.settle()

        reverts = [p for p in repo.pulls() if p["head"]["ref"].startswith(BRANCH_PREFIX)]
        assert [p["head"]["ref"] for p in reverts] == [BRANCH_PREFIX + merge_sha]
        files = tree_texts(repo, reverts[0]["head"]["sha"])
        assert "src/feature.py" not in files and files["src/app.py"] == BASE_FILES["src/app.py"]
        message = repo.store.read_commit(reverts[0]["head"]["sha"]).message
        assert f"This reverts commit {merge_sha}, reversing\nchanges made to " in message
        replies = [c["body"] for c in _comments(repo, number) if c["user"]["login"] == APP_BOT]
        assert any(reverts[0]["html_url"] in body for body in replies)
        # The author hears about it on their PR, where they work, not on the bare commit.
        revert_number = reverts[0]["number"]
        assert any(f"Build Sheriff opened #{revert_number}" in body for body in replies)
        assert not [c for c in repo.commit_comment_records if c.commit_id == merge_sha]
        refused = [c["body"] for c in _comments(repo, other) if c["user"]["login"] == APP_BOT]
        assert refused == [
            f"#{other} is not merged, so there is nothing to revert. Close it instead."
        ]
        assert s.sim.violations == []


async def test_revert_command_on_an_incident_checks_the_sha_is_on_the_branch(
    stack_factory: StackFactory,
) -> None:
    async with _stack(stack_factory) as s:
        repo, culprit, incident = _history(s)
        repo.add_labels(incident, "incident", user=APP_BOT)
        stray = repo.commit({"x.txt": "x\n"}, "Elsewhere", branch="topic", author="alice")
        repo.comment(incident, f"/revert {stray[:10]}", user="alice")
        await s.settle()
        replies = [c["body"] for c in _comments(repo, incident) if c["user"]["login"] == APP_BOT]
        assert replies == [f"`{stray[:7]}` is not on `main`, so I will not revert it from there."]

        repo.comment(incident, f"/revert {culprit[:12]}", user="alice")
        await s.settle()
        [pr] = repo.pulls()
        marker = parse_revert_marker(pr["body"])
        assert marker is not None and (marker.culprit, marker.incident) == (culprit, incident)
        assert s.sim.violations == []


async def test_cli_prints_the_pr_url(stack_factory: StackFactory) -> None:
    async with _stack(stack_factory) as s:
        repo, culprit, _ = _history(s)
        token = s.sim.create_token("alice")
        env = {**os.environ, "GITHUB_TOKEN": token, "GITHUB_API_URL": s.sim.url}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "revert",
            REPO,
            culprit[:9],
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        [pr] = repo.pulls()
        assert out.decode().strip() == pr["html_url"]
        assert pr["user"]["login"] == "alice"
        assert s.sim.violations == []


def test_cli_without_a_token_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.revert.cli import main

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    assert main("octo/widgets", "abc1234") == 6
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GITHUB_TOKEN" in err


async def test_revert_command_refuses_half_a_rebase_merge_and_explains_typos(
    stack_factory: StackFactory,
) -> None:
    async with _stack(stack_factory) as s:
        repo = s.sim.create_repo(REPO)
        repo.set_permission("alice", "write")
        repo.commit(BASE_FILES, "Add the app")
        repo.commit({"a.py": "A = 1\n"}, "First half", branch="two", author="alice")
        repo.commit({"b.py": "B = 1\n"}, "Second half", branch="two", author="alice")
        number = repo.open_pr("two", "Two commits", author="alice")
        last = repo.merge(number, user="alice", method="rebase")
        await s.settle()

        repo.comment(number, "/revert", user="alice")
        repo.comment(number, "/revert please", user="alice")
        await s.settle()
        replies = [c["body"] for c in _comments(repo, number) if c["user"]["login"] == APP_BOT]
        assert len(replies) == 2
        assert "rebase-merged as 2 commits" in replies[0]
        assert f"git revert --no-edit {last}~2..{last}" in replies[0]
        assert "`please` is not a commit sha" in replies[1]
        assert repo.pulls(state="open") == []
        assert s.sim.violations == []


async def test_reverting_a_file_turned_directory_and_a_symlink(stack_factory: StackFactory) -> None:
    from sim.github.git_store import TreeEntry

    async with _stack(stack_factory) as s:
        repo = s.sim.create_repo(REPO)
        parent = repo.commit(
            {"conf": "file\n", "link": ("120000", "conf"), "deep/a/b/c.txt": "c\n"}, "Base"
        )
        # One commit that swaps a file for a directory: written with git plumbing, since
        # GitHub's own API cannot make it in one tree.
        store = repo.store
        blob = lambda data: store.write_blob(data)  # noqa: E731
        conf_dir = store.write_tree([TreeEntry("100644", "blob", blob(b"dir\n"), "main.yml")])
        readme = store.entry_at(store.read_commit(parent).tree, "README.md")
        root = store.write_tree(
            [
                readme,
                TreeEntry("040000", "tree", conf_dir, "conf"),
                TreeEntry("120000", "blob", blob(b"elsewhere"), "link"),
            ]
        )
        ident = repo.ident("octocat")
        culprit = store.write_commit(root, [parent], "Restructure\n", ident, ident)
        repo.move_ref("refs/heads/main", culprit, "octocat", notify=False)

        result = await _open(s, culprit, None)
        assert isinstance(result, RevertPR)
        listing = repo.git("ls-tree", "-r", result.head_sha)
        entries = {line.split("\t")[1]: line.split()[0] for line in listing.splitlines()}
        assert entries == {
            "README.md": "100644",
            "conf": "100644",
            "link": "120000",
            "deep/a/b/c.txt": "100644",
        }
        assert repo.read_file("link", result.head_sha) == b"conf"
        assert repo.read_file("conf", result.head_sha) == b"file\n"
        assert s.sim.violations == []


async def test_fallback_merge_also_follows_commit_statuses(stack_factory: StackFactory) -> None:
    async with _stack(stack_factory) as s:
        repo, culprit, incident = _history(s, allow_auto_merge=False)
        result = await _open(s, culprit, incident)
        assert isinstance(result, RevertPR) and result.merger is Merger.SHERIFF
        repo.set_status(result.head_sha, "ci/legacy", "pending")
        await s.settle()
        assert repo.pull(result.number)["state"] == "open"
        repo.set_status(result.head_sha, "ci/legacy", "success")
        await s.settle()
        assert repo.pull(result.number)["merged"] is True
        assert s.sim.violations == []


async def test_a_file_changed_again_later_is_merged_downloading_only_its_blobs(
    stack_factory: StackFactory,
) -> None:
    from app.revert.commit import RevertCommit, build_revert_commit

    async with _stack(stack_factory) as s:
        repo = s.sim.create_repo(REPO)
        lines = [f"line {i}\n" for i in range(12)]
        repo.commit(
            {"big.txt": "".join(lines), **{f"f{i}.txt": f"{i}\n" for i in range(20)}}, "Base"
        )
        culprit = repo.commit(
            {
                "big.txt": "".join(["LINE 1\n" if i == 1 else x for i, x in enumerate(lines)]),
                "f3.txt": "three\n",
            },
            "Culprit",
        )
        repo.commit(
            {
                "big.txt": "".join(
                    [
                        "LINE 1\n" if i == 1 else "LINE 10\n" if i == 10 else x
                        for i, x in enumerate(lines)
                    ]
                )
            },
            "Later",
        )
        gh = await s.services.github_for_installation(1)
        s.sim.reset_calls()
        result = await build_revert_commit(gh, REPO, culprit, branch="main")

        assert isinstance(result, RevertCommit)
        assert result.merged_paths == ("big.txt",)
        big = repo.read_file("big.txt", result.sha).decode()
        assert big == "".join(["LINE 10\n" if i == 10 else x for i, x in enumerate(lines)])
        assert repo.read_file("f3.txt", result.sha) == b"3\n"
        calls = s.sim.calls
        assert sum(s.sim.blobs_read.values()) == 3  # C, H, P of big.txt
        assert calls["POST /graphql"] == 2  # the trees where the files are; the three blobs
        assert sum(s.sim.blobs_written.values()) == 1  # inside the create-tree request
        assert calls["POST /repos/{owner}/{repo}/git/trees"] == 1
        assert calls["POST /repos/{owner}/{repo}/git/commits"] == 1
        assert s.sim.violations == []


async def test_cli_lists_conflicting_files_and_exits_3(stack_factory: StackFactory) -> None:
    async with _stack(stack_factory) as s:
        repo = s.sim.create_repo(REPO)
        repo.set_permission("alice", "write")
        repo.commit(BASE_FILES, "Add the app")
        culprit = repo.commit({"src/util.py": "X = 2\n"}, "Tweak X")
        repo.commit({"src/util.py": "X = 3\n"}, "Tweak X again")
        env = {
            **os.environ,
            "GITHUB_TOKEN": s.sim.create_token("alice"),
            "GITHUB_API_URL": s.sim.url,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "revert",
            REPO,
            culprit,
            "--base",
            "main",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 3
        assert out.decode().splitlines() == ["src/util.py"]
        assert f"git revert {culprit}" in err.decode()
        assert repo.pulls() == []
