"""Small stories told to the simulators, shared by the end-to-end tests."""

from __future__ import annotations

from typing import Any

from tests.harness import Stack

REPO = "octo/widgets"


def new_repo(s: Stack, *, config: str | None = None, name: str = REPO, **kw: Any) -> Any:
    """A repository with a green first commit, `mona` (write) and `rita` (read)."""
    s.sim.add_user("mona", name="Mona Lisa")
    s.sim.add_user("rita", name="Rita Reader")
    s.sim.add_user("olive", name="Olive Owner")
    repo = s.sim.create_repo(name, **kw)
    repo.set_permission("mona", "write")
    repo.set_permission("olive", "admin")
    repo.set_permission("rita", "read")
    files: dict[str, Any] = {
        "src/app.py": "def main():\n    return 1\n",
        "README.md": "# widgets\n",
    }
    if config is not None:
        files[".github/buildsheriff.yml"] = config
    repo.commit(files, "Set up the project", author="olive")
    repo.add_check_run(repo.head(), "build", conclusion="success")
    return repo


def break_it(
    repo: Any, *, message: str = "Make main faster", author: str = "mona", n: int = 1
) -> str:
    return repo.commit({f"src/fast{n}.py": f"import nothing_{n}\n"}, message, author=author)


def incident_issues(repo: Any) -> list[dict[str, Any]]:
    return [
        i
        for i in repo.issues()
        if "pull_request" not in i and "incident" in [label["name"] for label in i["labels"]]
    ]


def labels_of(issue: dict[str, Any]) -> list[str]:
    return sorted(label["name"] for label in issue["labels"])


def comments_of(repo: Any, number: int) -> list[str]:
    return [c["body"] for c in repo.issue(number).get("comments_list", [])]


def deliveries_of(s: Stack, event: str) -> list[dict[str, Any]]:
    return [d for d in s.sim.deliveries if d["event"] == event]
