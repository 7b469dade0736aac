"""`python -m app demo`: the whole incident story, on simulators, with no credentials.

Starts the GitHub, Slack and PagerDuty simulators and the real app server in one
process, then plays a day on `acme/rocket`: a commit breaks `main`, Build Sheriff
opens the incident and a revert PR tagging the author, the revert merges itself
once its CI passes, the branch is green again, and the owner resolves the
incident, which posts the post-mortem. Every step goes through signed webhooks
and the real HTTP client, as in production. Time is a manual clock, so the
durations are exact and the demo takes a few seconds.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

from app.clock import ManualClock
from app.logs import configure_logging

REPO = "acme/rocket"
CONFIG = """\
# .github/buildsheriff.yml
escalate_after: 15m
oncall:
  provider: pagerduty
  schedule: PDAY1
"""


class Narrator:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.step = 0

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text)

    def chapter(self, title: str) -> None:
        self.step += 1
        self.say(f"\n── {self.step}. {title} " + "─" * max(0, 60 - len(title)))


def _labels(issue: dict[str, Any]) -> str:
    return ", ".join(sorted(label["name"] for label in issue["labels"]))


async def _ci(repo: Any, sha: str, conclusion: str) -> None:
    repo.add_check_run(sha, "build", conclusion=conclusion)


async def play(
    workdir: Path, narrator: Narrator, *, delivery_faults: Any | None = None
) -> dict[str, Any]:
    """Play the story; `delivery_faults` (sim.github.delivery_faults.DeliveryFaults) makes
    GitHub's webhooks arrive as they do on a bad day: dropped, duplicated, reordered."""
    from demo.stack import stack

    clock = ManualClock(start=1_795_000_000.0)
    say, chapter = narrator.say, narrator.chapter
    async with stack(workdir, clock=clock, pager="pagerduty", LOG_LEVEL="WARNING") as s:
        slack, pagerduty = s.slack, s.pagerduty
        s.sim.delivery_faults = delivery_faults
        assert slack is not None and pagerduty is not None  # asked for above
        chapter("The stage")
        say(f"GitHub simulator  {s.sim.url}  (real git repositories under {workdir})")
        say(f"Slack simulator   {slack.url}")
        say(f"PagerDuty sim     {pagerduty.url}")
        say(f"Build Sheriff     {s.app_url}/webhooks  (signed webhooks, 202 in ms)")
        s.sim.add_user("mona", name="Mona Lisa")
        s.sim.add_user("hubot", name="Hubot Ops")
        pagerduty.set_oncall("PDAY1", "Olga Oncall", "olga@acme.test")
        repo = s.sim.create_repo(REPO)
        repo.set_permission("mona", "write")
        repo.set_permission("hubot", "admin")
        repo.protect("main", required_checks=["build"])
        repo.commit(
            {
                "rocket/engine.py": "def thrust():\n    return 100\n",
                ".github/buildsheriff.yml": CONFIG,
                ".github/CODEOWNERS": "rocket/ @acme/propulsion\n",
            },
            "Build the engine",
            author="hubot",
        )
        await _ci(repo, repo.head(), "success")
        await s.settle()
        say(f"{REPO}: main at {repo.head()[:7]}, CI `build` is green; `build` is required.")

        chapter("Someone breaks main")
        bad = repo.commit(
            {"rocket/engine.py": "def thrust():\n    return 100 / 0\n"},
            "Make the engine faster",
            author="mona",
        )
        await s.settle()
        await _ci(repo, bad, "failure")
        await s.settle()
        (incident,) = [i for i in repo.issues() if "pull_request" not in i]
        number = incident["number"]
        opened = repo.issue(number)  # as people first see it (the README shows it)
        say(f'@mona pushed {bad[:7]} "Make the engine faster"; CI `build` failed.')
        say(f"Incident #{number}: {incident['title']}")
        say(f"  labels: {_labels(incident)}")
        owners = incident["body"].split("### Suggested resolution owners")[1].split("###")[0]
        say("  suggested owners:" + textwrap.indent(owners.rstrip(), "  "))
        (pr,) = repo.pulls()
        say(f"Revert PR #{pr['number']}: {pr['title']}")
        say(
            f"  branch {pr['head']['ref']}, reviewer(s): "
            + ", ".join("@" + r["login"] for r in pr["requested_reviewers"])
        )
        auto = pr["auto_merge"]
        say(f"  auto-merge: {'enabled (' + auto['merge_method'] + ')' if auto else 'off'}")

        chapter("Someone takes it")
        clock.advance(120)
        repo.comment(number, "I'm on it", user="mona")
        await s.settle()
        clock.advance(60)
        repo.comment(number, "/status the revert is running CI; fixing forward after", user="mona")
        await s.settle()
        say(f'@mona: "I\'m on it" -> labels: {_labels(repo.issue(number))}, assignee @mona')

        chapter("The revert lands by itself")
        clock.advance(300)
        head = repo.pull(pr["number"])["head"]["sha"]
        await _ci(repo, head, "success")
        await s.settle()
        merged = repo.pull(pr["number"])
        say(f"CI passed on the revert's head {head[:7]}: PR merged={merged['merged']}")
        tree_now = repo.git("rev-parse", "main^{tree}")
        tree_before = repo.git("rev-parse", f"{bad}~1^{{tree}}")
        same = tree_now == tree_before
        say(f"main's tree equals the tree before {bad[:7]}: {same}")
        clock.advance(300)
        await _ci(repo, repo.head(), "success")
        await s.settle()
        say(f"CI green on main again -> labels: {_labels(repo.issue(number))}")

        chapter("Resolve and learn")
        clock.advance(1800)
        repo.comment(number, "/resolve", user="mona")
        await s.settle()
        final = repo.issue(number)
        say(f"/resolve -> issue {final['state']}, labels: {_labels(final)}")
        post = next(
            c["body"] for c in final["comments_list"] if c["body"].startswith("## Post-mortem")
        )
        say(textwrap.indent(post, "  | "))

        chapter("The Slack thread")
        (top,) = slack.top_level()
        say(f"#incidents  {top['text']}")
        for message in slack.thread(top["ts"]):
            first = message["text"].splitlines()[0]
            say(f"   ↳ {first}")

        chapter("What /metrics saw")
        async with s.session.get(s.app_url + "/metrics") as response:
            scraped = await response.text()
            content_type = response.headers["Content-Type"]
        shown = ("buildsheriff_incidents_total", "buildsheriff_reverts_total",
                 "buildsheriff_incident_phase_seconds_sum")
        for line in scraped.splitlines():
            if line.startswith(shown):
                say(f"  {line}")
        return {
            "incident": number,
            "issue_opened": opened,
            "issue_final": final,
            "state": final["state"],
            "labels": _labels(final),
            "revert_merged": merged["merged"],
            "tree_restored": same,
            "slack_top_level": len(slack.top_level()),
            "slack_replies": len(slack.thread(top["ts"])),
            "violations": list(s.sim.violations),
            "deliveries": len(s.sim.deliveries),
            "deliveries_by_event": dict(Counter(d["event"] for d in s.sim.deliveries)),
            "github_calls": Counter(str(status) for _m, _p, status in s.sim.call_log),
            "slack_messages": list(slack.messages),
            "issues": repo.issues(),
            "faults": {
                fault: sum(1 for d in s.sim.deliveries if d.get(fault))
                for fault in ("dropped", "duplicated", "reordered")
            },
            "pulls": repo.pulls(),
            "metrics": scraped,
            "metrics_content_type": content_type,
        }


def main(*, quiet: bool = False) -> int:
    configure_logging("WARNING", "text")
    narrator = Narrator(quiet)
    with tempfile.TemporaryDirectory(prefix="buildsheriff-demo-") as tmp:
        summary = asyncio.run(play(Path(tmp), narrator))
    ok = (
        summary["state"] == "closed"
        and summary["revert_merged"]
        and summary["tree_restored"]
        and summary["slack_top_level"] == 1
        and not summary["violations"]
    )
    print(
        f"\nSummary: incident #{summary['incident']} {summary['state']} ({summary['labels']}); "
        f"revert merged: {summary['revert_merged']}; tree restored: {summary['tree_restored']}; "
        f"Slack: {summary['slack_top_level']} thread, {summary['slack_replies']} replies; "
        f"{summary['deliveries']} signed webhooks; API violations: {len(summary['violations'])}"
    )
    for violation in summary["violations"]:
        print(f"  violation: {violation}", file=sys.stderr)
    return 0 if ok else 1
