"""What the process did and how long it took, for GET /metrics (prometheus_client).

Each process (each Services) has its own CollectorRegistry, never prometheus_client's
global one: tests build many processes in one interpreter, and Prometheus sums the
replicas of a deployment itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

# Seconds. A handler takes milliseconds, or a minute when GitHub's rate limit makes it wait.
HANDLER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
GITHUB_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# An incident's phases last minutes to days.
INCIDENT_BUCKETS = (
    60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0,
    604800.0,
)  # fmt: skip

# The first path segment after /repos/{owner}/{repo} (or the API's top level): a bounded
# label, whatever URLs the app builds.
ENDPOINT_GROUPS = frozenset(
    {
        "actions", "app", "app-manifests", "assignees", "branches", "check-runs",
        "check-suites", "collaborators", "commits", "compare", "contents", "deployments",
        "git", "graphql", "hooks", "installation", "issues", "labels", "merges", "orgs",
        "pulls", "rate_limit", "repos", "rules", "rulesets", "search", "statuses", "users",
    }
)  # fmt: skip

INCIDENT_PHASES = ("acknowledge", "mitigate", "resolve")


def endpoint_group(path: str) -> str:
    """`/repos/o/r/issues/7/comments` -> "issues"; `/app/installations` -> "app"."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if not parts:
        return "other"
    if parts[0] == "repos":
        group = parts[3] if len(parts) > 3 else "repos"
    else:
        group = parts[0]
    return group if group in ENDPOINT_GROUPS else "other"


class Metrics:
    """The process's metrics, by name; `render()` is the /metrics body."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(
        self, *, process: bool = True, timer: Callable[[], float] = time.perf_counter
    ) -> None:
        self.registry = registry = CollectorRegistry()
        self.timer = timer  # wall time for latencies: a ManualClock would make them all 0
        self.webhooks = Counter(
            "buildsheriff_webhooks",
            "Webhook requests by event and outcome: queued, merged (into a queued evaluation "
            "of the same head), judged (a head already judged: no work), duplicate, ignored, "
            "pong, or why "
            "refused (bad_signature, malformed, too_large, busy, shutting_down). Refused "
            "requests are not verified, so their event is 'unverified'.",
            ["event", "outcome"],
            registry=registry,
        )
        self.handler_seconds = Histogram(
            "buildsheriff_handler_seconds",
            "Time to handle one webhook event once dequeued, by event and outcome (ok, error).",
            ["event", "outcome"],
            buckets=HANDLER_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "buildsheriff_queue_depth", "Jobs waiting in the queue.", registry=registry
        )
        self.jobs_running = Gauge(
            "buildsheriff_jobs_running", "Jobs being handled now.", registry=registry
        )
        self.github_requests = Counter(
            "buildsheriff_github_requests",
            "GitHub API requests by endpoint group and HTTP status ('error': no answer).",
            ["endpoint", "status"],
            registry=registry,
        )
        self.github_seconds = Histogram(
            "buildsheriff_github_request_seconds",
            "Time of one GitHub API request (each attempt), by endpoint group.",
            ["endpoint"],
            buckets=GITHUB_BUCKETS,
            registry=registry,
        )
        self.rate_limit_remaining = Gauge(
            "buildsheriff_github_rate_limit_remaining",
            "x-ratelimit-remaining of GitHub's last answer, by installation ('app' for the "
            "App's JWT, 'token' for a plain token) and rate-limit resource (core, graphql).",
            ["installation", "resource"],
            registry=registry,
        )
        self.incidents = Counter(
            "buildsheriff_incidents",
            "Incidents by transition: opened, acknowledged, mitigated, resolved.",
            ["transition"],
            registry=registry,
        )
        self.incident_seconds = Histogram(
            "buildsheriff_incident_phase_seconds",
            "Time from detection to acknowledge, to mitigate and to resolve an incident.",
            ["phase"],
            buckets=INCIDENT_BUCKETS,
            registry=registry,
        )
        self.reverts = Counter(
            "buildsheriff_reverts",
            "Reverts by outcome (opened, conflict, merged, refused) and reason (the safety "
            "rule when refused, else empty).",
            ["outcome", "reason"],
            registry=registry,
        )
        self.pages = Counter(
            "buildsheriff_pages", "Pages sent to the on-call provider.", registry=registry
        )
        self.flakes = Counter(
            "buildsheriff_flakes",
            "Red builds that passed on re-run (confirm: rerun): no incident.",
            registry=registry,
        )
        if process:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (prometheus_client's format)."""
        return generate_latest(self.registry)

    def github_answer(
        self,
        path: str,
        status: int | str,
        seconds: float,
        headers: Mapping[str, str],
        installation: str,
    ) -> None:
        """One GitHub request: counted, timed, and the rate limit it left."""
        group = endpoint_group(path)
        self.github_requests.labels(endpoint=group, status=str(status)).inc()
        self.github_seconds.labels(endpoint=group).observe(seconds)
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            resource = headers.get("x-ratelimit-resource") or "core"
            self.rate_limit_remaining.labels(
                installation=installation, resource=resource[:20]
            ).set(int(remaining))

    def incident_phase(self, phase: str, seconds: float) -> None:
        if phase in INCIDENT_PHASES:
            self.incident_seconds.labels(phase=phase).observe(max(seconds, 0.0))
