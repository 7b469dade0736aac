"""Stories the flow benchmarks tell the simulators, and how their calls are read back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.history import Change, append, source_text, tree_paths
from sim.github.metering import ApiCall, Usage, calls_until, chain_depths
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim

CULPRIT_AUTHOR = "mona"
CREATE_ISSUE = "POST /repos/{owner}/{repo}/issues"
AUTO_MERGE = "POST /graphql mutation enablePullRequestAutoMerge"
OPEN_PULL = "POST /repos/{owner}/{repo}/pulls"


def protected_repo(sim: GitHubSim, name: str) -> SimRepo:
    """A repository whose `main` requires the `build` check (so GitHub can auto-merge), a
    green head, and `mona` with write access."""
    sim.add_user(CULPRIT_AUTHOR, name="Mona Lisa")
    repo = sim.create_repo(name)
    repo.set_permission(CULPRIT_AUTHOR, "write")
    repo.protect("main", required_checks=["build"])
    return repo


def small_repo(sim: GitHubSim, name: str) -> tuple[SimRepo, str]:
    """The P1 repository: two files, a green commit, then the culprit on top (not yet built).
    Returns the culprit's sha."""
    repo = protected_repo(sim, name)
    repo.commit(
        {"src/app.py": "def main():\n    return 1\n", "README.md": "# widgets\n"},
        "Set up the project", push=False,
    )
    repo.add_check_run(repo.head(), "build", conclusion="success")
    culprit = repo.commit(
        {"src/fast.py": "import nothing\n"}, "Make main faster", author=CULPRIT_AUTHOR,
        push=False,
    )
    return repo, culprit


async def large_repo(
    repo: SimRepo, *, files: int, culprit_files: int, later: int, merges: int
) -> tuple[str, list[str]]:
    """`files` files; the culprit (by mona) edits `culprit_files` of them; then `later`
    commits by others, `merges` of which also edit a culprit file far from the culprit's
    line, so the revert needs that many (clean) content merges. Returns (culprit, merged)."""
    paths = tree_paths(files)
    step = max(1, len(paths) // culprit_files)
    touched = paths[::step][:culprit_files]
    others = [p for p in paths if p not in set(touched)]
    edits: dict[str, dict[int, str]] = {}

    def edit(path: str, line: int, text: str) -> bytes:
        edits.setdefault(path, {})[line] = text
        return source_text(path, edits[path])

    changes = [Change("Import the monolith", {p: source_text(p) for p in paths})]
    changes.append(
        Change(
            "Make everything faster",
            {p: edit(p, 3, f"# {p}: made faster (and broken)") for p in touched},
            author=CULPRIT_AUTHOR,
        )
    )
    merged = touched[:: max(1, len(touched) // merges)][:merges] if merges else []
    for k in range(later):
        files_k = {p: edit(p, 10 + k % 20, f"# later edit {k}") for p in others[k * 2 : k * 2 + 2]}
        if k < len(merged):
            files_k[merged[k]] = edit(merged[k], 35, f"# later edit {k} of a culprit file")
        changes.append(Change(f"Later change {k}", files_k, author="bob"))
    shas = await append(repo, changes)
    return shas[1], merged


def until(calls: Sequence[ApiCall], operation: str) -> Usage:
    """The usage of a flow up to the first `operation` (included); all of it when absent."""
    return Usage.of(calls_until(calls, lambda c: c.operation == operation))


def reached(calls: Sequence[ApiCall], operation: str) -> ApiCall | None:
    return next((c for c in calls if c.operation == operation), None)


def call_graph(calls: Sequence[ApiCall], *, origin: float) -> list[str]:
    """One line per round trip: its calls (those in flight together on one line)."""
    ordered = sorted(calls, key=lambda c: c.started)
    depths = chain_depths(ordered)
    lines: list[str] = []
    for depth in range(1, max(depths, default=0) + 1):
        group = [c for c, d in zip(ordered, depths, strict=True) if d == depth]
        start = min(c.started for c in group) - origin
        kinds = Counter(f"{c.operation} [{c.status}]" for c in group)
        names = " | ".join(f"{n}× {kind}" if n > 1 else kind for kind, n in kinds.items())
        lines.append(f"{depth:3d} +{start:6.2f}s  {names}")
    return lines


def incident_issues(repo: SimRepo) -> list[dict[str, Any]]:
    return [
        i for i in repo.issues()
        if "pull_request" not in i and "incident" in [label["name"] for label in i["labels"]]
    ]
