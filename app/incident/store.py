"""Incidents live in GitHub issues: labels carry the state, a hidden marker the rest.

Any process can rebuild any incident from its issue, so a restart loses nothing
that was written. Open incidents are found by label and marker, never by title.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import quote

from gidgethub import BadRequest

from app.core.config import Labels, RepoConfig
from app.core.culprit import parse_time
from app.core.incident import Incident, State
from app.core.render import issue_body, issue_title, parse_marker
from app.core.resume import echo_in, steps_in
from app.github.client import GitHubClient, web_url
from app.github.comments import comment_on_issue

DEFAULT_API_URL = "https://api.github.com"

def state_labels(labels: Labels) -> dict[State, str]:
    return {
        State.TRIAGE: labels.triage,
        State.ACKNOWLEDGED: labels.acknowledged,
        State.MITIGATED: labels.mitigated,
        State.RESOLVED: labels.resolved,
    }


def state_of_label(name: str, labels: Labels) -> State | None:
    for state, label in state_labels(labels).items():
        if label == name:
            return state
    return None


def incident_from_issue(issue: dict[str, Any], labels: Labels) -> Incident | None:
    """The incident an issue holds, or None when the issue is not one of ours."""
    names = [
        label["name"] if isinstance(label, dict) else str(label)
        for label in issue.get("labels", [])
    ]
    if labels.incident not in names:
        return None
    data = parse_marker(issue.get("body"))
    if data is None:
        return None
    if issue.get("state") == "closed":
        state = State.RESOLVED
    else:
        found = [s for s in (state_of_label(n, labels) for n in names) if s is not None]
        remembered = State(data.get("state", State.TRIAGE.value))
        if len(found) == 1:
            state = found[0]
        elif found:
            # Two state labels: a human just added one; theirs is the one we did not write.
            others = [s for s in found if s is not remembered]
            state = others[0] if others else remembered
        else:
            state = remembered
    return Incident.from_marker(data, state=state, number=int(issue["number"]))


@dataclass(frozen=True)
class Echo:
    """News on the incident's issue that is also said in its Slack thread."""

    step: str
    text: str  # the comment's markdown, markers left out
    posted_at: float  # epoch seconds (GitHub's created_at)


class IncidentReads(Protocol):
    """What running an incident reads: the repository's incident issues."""

    repo_url: str  # https://github.com/owner/name, for links in what people read

    async def open_incidents(self) -> list[Incident]: ...

    async def get(self, number: int) -> Incident | None: ...

    async def earlier_twin(self, incident: Incident) -> Incident | None:
        """An open incident of the same red streak with a lower number, if any."""
        ...

    async def comment_steps(self, number: int) -> set[str]:
        """The hidden step ids of the comments on issue `number` (app.core.resume)."""
        ...

    async def echoes(self, number: int) -> list[Echo]:
        """The news on issue `number` that is also said in Slack, oldest first."""
        ...


class IncidentWrites(Protocol):
    """What running an incident writes into its issue."""

    async def create(self, incident: Incident) -> Incident:
        """Open the issue; the incident with its number."""
        ...

    async def save(self, incident: Incident, *, labels: bool = True) -> None:
        """Write labels and marker (the state and everything else); the body alone when
        `labels` is False (the state is unchanged)."""
        ...

    async def comment(self, number: int, text: str) -> None: ...

    async def assign(self, number: int, login: str) -> int | None:
        """None once assigned; GitHub's status when it refused (not assignable)."""
        ...

    async def close(self, incident: Incident) -> None:
        """Close the issue, writing labels and marker in the same request."""
        ...

    async def close_as_duplicate(self, incident: Incident, twin: Incident) -> None: ...


class IncidentIssues(IncidentReads, IncidentWrites, Protocol):
    """Both sides: what the incident runner is given (IncidentStore, or a fake)."""


class IncidentStore:
    """Reads and writes one repository's incident issues."""

    def __init__(self, gh: GitHubClient, repo: str, config: RepoConfig) -> None:
        self.gh = gh
        self.repo = repo
        self.config = config
        self.repo_url = f"{web_url(getattr(gh, 'api_url', DEFAULT_API_URL))}/{repo}"

    async def open_incidents(self) -> list[Incident]:
        found: list[Incident] = []
        url = f"/repos/{self.repo}/issues?state=open&per_page=100"
        url += f"&labels={quote(self.config.labels.incident, safe='')}"
        async for issue in self.gh.getiter(url):
            if "pull_request" in issue:
                continue
            incident = incident_from_issue(issue, self.config.labels)
            if incident is not None:
                found.append(incident)
        return found

    async def get(self, number: int) -> Incident | None:
        issue = await self.gh.getitem(f"/repos/{self.repo}/issues/{number}")
        return incident_from_issue(issue, self.config.labels)

    def labels_for(self, incident: Incident, current: list[str] | None = None) -> list[str]:
        """The issue's labels: ours set to the incident's state, anybody else's kept."""
        ours = set(state_labels(self.config.labels).values()) | {self.config.labels.incident}
        kept = [name for name in (current or []) if name not in ours]
        return [
            self.config.labels.incident,
            state_labels(self.config.labels)[incident.state],
            *kept,
        ]

    def body_for(self, incident: Incident) -> str:
        return issue_body(incident, self.repo_url)

    async def create(self, incident: Incident) -> Incident:
        """One call: GitHub creates the labels an issue is created with when the repository
        has none of that name yet (in its default colour), so none is created first."""
        issue = await self.gh.post(
            f"/repos/{self.repo}/issues",
            data={
                "title": issue_title(incident),
                "body": self.body_for(incident),
                "labels": self.labels_for(incident),
            },
        )
        return replace(incident, number=int(issue["number"]))

    async def save(self, incident: Incident, *, labels: bool = True) -> None:
        """Write labels and marker; the title keeps what a human may have edited.

        `labels=False` when the state is unchanged: then only the body is written (one call,
        and nobody's label is touched); else the labels are read first, so that labels
        others set are kept."""
        assert incident.number is not None, "save() needs an incident that has an issue"
        url = f"/repos/{self.repo}/issues/{incident.number}"
        data: dict[str, Any] = {"body": self.body_for(incident)}
        if labels:
            issue = await self.gh.getitem(url)
            current = [label["name"] for label in issue.get("labels", [])]
            data["labels"] = self.labels_for(incident, current)
        await self.gh.patch(url, data=data)

    async def comment(self, number: int, text: str) -> None:
        await comment_on_issue(self.gh, self.repo, number, text)

    def _comments(self, number: int) -> AsyncIterator[dict[str, Any]]:
        """Every comment on issue `number`, oldest first (paged)."""
        return self.gh.getiter(f"/repos/{self.repo}/issues/{number}/comments?per_page=100")

    async def comment_steps(self, number: int) -> set[str]:
        found: set[str] = set()
        async for comment in self._comments(number):
            found |= steps_in(comment.get("body"))
        return found

    async def echoes(self, number: int) -> list[Echo]:
        found: list[Echo] = []
        async for comment in self._comments(number):
            echo = echo_in(comment.get("body"))
            if echo is not None:
                found.append(Echo(*echo, posted_at=parse_time(comment.get("created_at"))))
        return found

    async def assign(self, number: int, login: str) -> int | None:
        try:
            await self.gh.post(
                f"/repos/{self.repo}/issues/{number}/assignees", data={"assignees": [login]}
            )
        except BadRequest as exc:  # not assignable (e.g. no access): the label still says who
            return int(exc.status_code)
        return None

    async def close(self, incident: Incident) -> None:
        """Close the issue and write its labels and marker, in one request."""
        assert incident.number is not None, "close() needs an incident that has an issue"
        issue = await self.gh.getitem(f"/repos/{self.repo}/issues/{incident.number}")
        current = [label["name"] for label in issue.get("labels", [])]
        await self.gh.patch(
            f"/repos/{self.repo}/issues/{incident.number}",
            data={
                "state": "closed",
                "state_reason": "completed",
                "body": self.body_for(incident),
                "labels": self.labels_for(incident, current),
            },
        )

    async def earlier_twin(self, incident: Incident) -> Incident | None:
        """An open incident of the same red streak with a lower number, if any."""
        twins = [
            other
            for other in await self.open_incidents()
            if other.first_red == incident.first_red
            and other.number is not None
            and incident.number is not None
            and other.number < incident.number
        ]
        return min(twins, key=lambda i: i.number or 0) if twins else None

    async def close_as_duplicate(self, incident: Incident, twin: Incident) -> None:
        number = incident.number
        assert number is not None, "only an issue can be closed as a duplicate"
        await comment_on_issue(
            self.gh,
            self.repo,
            number,
            f"Duplicate of #{twin.number}: the same red streak, opened just before.",
        )
        await self.gh.patch(
            f"/repos/{self.repo}/issues/{number}",
            data={"state": "closed", "state_reason": "not_planned", "labels": []},
        )

