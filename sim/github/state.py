"""The simulator's records of everything GitHub keeps outside git (issues, checks, ...).

Plain mutable dataclasses; their JSON shapes live in gh_shapes, their behaviour in gh_repo.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any


def node_id(kind: str, number: int) -> str:
    """GitHub's legacy global id: base64 of "<len(kind)>:<Kind><id>" (e.g. MDQ6VXNlcjE=)."""
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def decode_node_id(value: str) -> tuple[str, int] | None:
    try:
        text = base64.b64decode(value.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    _, _, rest = text.partition(":")
    kind = rest.rstrip("0123456789")
    number = rest[len(kind) :]
    return (kind, int(number)) if kind and number else None


PERMISSION_RANK = {"none": 0, "read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}


@dataclass
class User:
    login: str
    id: int
    name: str | None
    email: str
    type: str = "User"  # User | Bot | Organization

    @property
    def node_id(self) -> str:
        kind = {"Bot": "Bot", "Organization": "Organization"}.get(self.type, "User")
        return node_id(kind, self.id)


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False

    @property
    def node_id(self) -> str:
        return node_id("Label", self.id)


@dataclass
class Comment:
    id: int
    issue_number: int
    user: str
    body: str
    created_at: float
    updated_at: float

    @property
    def node_id(self) -> str:
        return node_id("IssueComment", self.id)


@dataclass
class Review:
    id: int
    user: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED
    commit_id: str
    body: str
    submitted_at: float


@dataclass
class AutoMerge:
    enabled_by: str
    merge_method: str  # merge | squash | rebase
    enabled_at: float
    commit_title: str | None = None
    commit_message: str | None = None


@dataclass
class Pull:
    id: int
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    draft: bool = False
    maintainer_can_modify: bool = False
    merged: bool = False
    merged_at: float | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    # Every commit a rebase merge wrote on the base (the tip is merge_commit_sha).
    landed_shas: list[str] = field(default_factory=list)
    auto_merge: AutoMerge | None = None
    # The pull request's timeline as GraphQL's `timelineItems` shows it (auto-merge events):
    # (typename, actor, at), oldest first.
    timeline: list[tuple[str, str, float]] = field(default_factory=list)
    requested_reviewers: list[str] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        return node_id("PullRequest", self.id)


@dataclass
class Issue:
    number: int
    id: int
    title: str
    body: str | None
    user: str
    created_at: float
    updated_at: float
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    closed_at: float | None = None
    closed_by: str | None = None
    locked: bool = False
    pull: Pull | None = None

    @property
    def node_id(self) -> str:
        return node_id("Issue", self.id)


@dataclass
class CheckSuite:
    id: int
    head_sha: str
    head_branch: str | None
    app_slug: str
    created_at: float
    updated_at: float
    run_ids: list[int] = field(default_factory=list)
    workflow_run_id: int | None = None
    status: str = "queued"
    conclusion: str | None = None
    before: str | None = None
    after: str | None = None

    @property
    def node_id(self) -> str:
        return node_id("CheckSuite", self.id)


@dataclass
class CheckRun:
    id: int
    name: str
    head_sha: str
    suite_id: int
    app_slug: str
    status: str
    conclusion: str | None
    started_at: float
    completed_at: float | None
    output: dict[str, Any] = field(default_factory=dict)
    details_url: str | None = None
    external_id: str = ""
    # every request's annotations, appended (GitHub never replaces them)
    annotations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        return node_id("CheckRun", self.id)


@dataclass
class CommitStatus:
    id: int
    sha: str
    context: str
    state: str
    target_url: str | None
    description: str | None
    creator: str
    created_at: float
    updated_at: float

    @property
    def node_id(self) -> str:
        return node_id("StatusContext", self.id)


@dataclass
class WorkflowRun:
    id: int
    name: str
    workflow_id: int
    path: str
    head_sha: str
    head_branch: str | None
    event: str
    suite_id: int
    run_number: int
    actor: str
    created_at: float
    updated_at: float
    status: str = "completed"
    conclusion: str | None = None
    run_attempt: int = 1
    run_started_at: float = 0.0  # when the latest attempt started
    jobs: list[str] = field(default_factory=list)
    # job name -> id of its latest check run (a re-run adds new check runs)
    job_runs: dict[str, int] = field(default_factory=dict)

    @property
    def node_id(self) -> str:
        return node_id("WorkflowRun", self.id)


@dataclass
class DeploymentStatus:
    id: int
    state: str
    creator: str
    description: str
    environment: str
    target_url: str
    log_url: str
    environment_url: str
    created_at: float
    updated_at: float

    @property
    def node_id(self) -> str:
        return node_id("DeploymentStatus", self.id)


@dataclass
class Deployment:
    id: int
    sha: str
    ref: str
    task: str
    environment: str
    payload: Any
    description: str | None
    creator: str
    created_at: float
    updated_at: float
    production_environment: bool = True
    transient_environment: bool = False
    statuses: list[DeploymentStatus] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        return node_id("Deployment", self.id)


@dataclass
class CommitComment:
    id: int
    commit_id: str
    user: str
    body: str
    path: str | None
    position: int | None
    line: int | None
    created_at: float
    updated_at: float

    @property
    def node_id(self) -> str:
        return node_id("CommitComment", self.id)


@dataclass
class Reaction:
    id: int
    subject: str  # "issue:<n>" | "issue_comment:<id>" | "commit_comment:<id>"
    content: str
    user: str
    created_at: float

    @property
    def node_id(self) -> str:
        return node_id("Reaction", self.id)


@dataclass
class Protection:
    required_checks: list[str] = field(default_factory=list)
    required_reviews: int = 0
    strict: bool = False
    enforce_admins: bool = False
    dismiss_stale_reviews: bool = False


@dataclass
class MergeQueueRule:
    """A ruleset's `merge_queue` rule (GitHub's parameters; the simulator builds one group at a
    time and merges one entry per group)."""

    merge_method: str = "MERGE"  # MERGE | SQUASH | REBASE
    grouping_strategy: str = "ALLGREEN"
    max_entries_to_build: int = 1
    min_entries_to_merge: int = 1
    max_entries_to_merge: int = 1
    min_entries_to_merge_wait_minutes: int = 0
    check_response_timeout_minutes: int = 60


@dataclass
class QueueEntry:
    """A pull request in a base branch's merge queue, and its merge group once built."""

    id: int
    number: int
    base_ref: str
    enqueuer: str
    jump: bool
    enqueued_at: float
    head_sha: str  # the pull request's head when it was enqueued
    base_sha: str | None = None  # the base's tip the group was built on
    group_sha: str | None = None
    group_ref: str | None = None  # refs/heads/gh-readonly-queue/<base>/pr-<n>-<base sha>
    built_at: float | None = None  # when its group was built: the status check timeout runs

    @property
    def node_id(self) -> str:
        return node_id("MergeQueueEntry", self.id)


@dataclass
class Ruleset:
    id: int
    name: str
    branches: list[str]  # fnmatch-style patterns on branch names; "~DEFAULT_BRANCH" allowed
    required_checks: list[str]
    merge_queue: MergeQueueRule | None = None  # "Require merge queue"
    # Who may bypass the ruleset: logins (an App's "<slug>[bot]"), or "admin" for the
    # repository's admins. Only they may jump the merge queue or merge around it.
    bypass: list[str] = field(default_factory=list)
