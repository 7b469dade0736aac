"""app.metrics: one registry per process, bounded labels, prometheus_client's exposition."""

from __future__ import annotations

import pytest

from app.metrics import Metrics, endpoint_group
from tests.harness import metric, metric_samples


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/repos/octo/widgets/issues/7/comments", "issues"),
        ("/repos/octo/widgets/pulls", "pulls"),
        ("/repos/octo/widgets/git/refs/heads/main?x=1", "git"),
        ("/repos/octo/widgets/commits/abc/check-runs", "commits"),
        ("/repos/octo/widgets/check-runs/5", "check-runs"),
        ("/repos/octo/widgets", "repos"),
        ("/app/installations/1/access_tokens", "app"),
        ("/graphql", "graphql"),
        ("/repos/octo/widgets/something-new/1", "other"),
        ("/a-path-nobody-knows", "other"),
        ("", "other"),
    ],
)
def test_github_paths_fall_in_a_bounded_set_of_groups(path: str, group: str) -> None:
    assert endpoint_group(path) == group


def test_each_process_has_its_own_registry() -> None:
    first, second = Metrics(process=False), Metrics(process=False)
    first.pages.inc()
    first.github_answer(
        "/repos/o/r/issues", 201, 0.2, {"x-ratelimit-remaining": "4999"}, installation="7"
    )
    one = metric_samples(first.render().decode())
    two = metric_samples(second.render().decode())
    assert metric(one, "buildsheriff_pages_total") == 1
    assert metric(two, "buildsheriff_pages_total") == 0
    assert metric(one, "buildsheriff_github_requests_total", endpoint="issues", status="201") == 1
    assert metric(one, "buildsheriff_github_request_seconds_bucket", endpoint="issues",
                  le="0.25") == 1
    assert metric(one, "buildsheriff_github_rate_limit_remaining", installation="7",
                  resource="core") == 4999
    assert ("buildsheriff_github_requests_total", frozenset()) not in two


def test_incident_phases_outside_the_three_are_not_recorded() -> None:
    metrics = Metrics(process=False)
    metrics.incident_phase("resolve", 3600)
    metrics.incident_phase("lunch", 60)
    samples = metric_samples(metrics.render().decode())
    assert metric(samples, "buildsheriff_incident_phase_seconds_count", phase="resolve") == 1
    assert not any(dict(labels).get("phase") == "lunch" for _name, labels in samples)
