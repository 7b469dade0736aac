"""The texts people read about a bisection: its news in the issue and the Slack thread, and
its section of the issue body (every round: commit, result, link to the build)."""

from __future__ import annotations

from typing import Any

from app.core.bisect import Answer, Bisection, Mode, Outcome, Round, rounds_needed

ANSWER_WORDS = {
    Answer.GREEN: "🟢 passed",
    Answer.RED: "🔴 failed",
    Answer.CANCELLED: "⚪ cancelled (asked again)",
}


def _sha7(sha: str | None) -> str:
    return (sha or "")[:7]


def how_it_asks(bisection: Bisection) -> str:
    if bisection.mode is Mode.RERUN:
        return "re-running their cancelled or skipped GitHub Actions runs, one at a time"
    if bisection.parallel:
        return "pushing a probe ref `buildsheriff/probe/<sha>` for every suspect at once"
    return "pushing probe refs `buildsheriff/probe/<sha>`, one at a time"


def _answer(probe_answer: Answer | None, link: str | None) -> str:
    words = ANSWER_WORDS[probe_answer] if probe_answer else "⏳ waiting for CI"
    return f"[{words}]({link})" if link and probe_answer else words


def round_lines(round_: Round) -> list[str]:
    return [f"- `{_sha7(p.sha)}`: {_answer(p.answer, p.link)}" for p in round_.probes]


def bisect_announcement(kind: str, data: dict[str, Any]) -> str:
    if kind == "bisect_started":
        bisection = Bisection.from_json(data["bisection"])
        n = len(bisection.suspects)
        rounds = 1 if bisection.parallel else min(rounds_needed(n), bisection.max_rounds)
        return (
            f"🔎 {n} commits landed between the last green and the first red build. "
            f"Finding the one that broke it by {how_it_asks(bisection)}: "
            f"at most {rounds} round{'s' if rounds != 1 else ''} of CI."
        )
    if kind == "bisect_round":
        round_ = Round.from_json(data["round"])
        return "\n".join([f"🔎 Bisection, round {round_.number}:", *round_lines(round_)])
    if kind == "bisect_done":
        bisection = Bisection.from_json(data["bisection"])
        if bisection.outcome is Outcome.FOUND:
            return f"🎯 Culprit found: {bisection.reason}."
        left = ", ".join(f"`{_sha7(s)}`" for s in bisection.candidates)
        icon = "⚠️" if bisection.outcome is Outcome.INCONSISTENT else "🤷"
        text = f"{icon} Bisection stopped: {bisection.reason}."
        if bisection.outcome is Outcome.INCONCLUSIVE and left:
            text += f" Still suspect: {left}."
        return text
    return f"{kind}: {data}"


def bisection_section(bisection: Bisection) -> list[str]:
    """The issue body's record of every round, in order."""
    lines = [f"### Bisection ({how_it_asks(bisection)})"]
    if not bisection.rounds:
        lines.append("- Starting.")
    for round_ in bisection.rounds:
        for probe in round_.probes:
            lines.append(
                f"- Round {round_.number}: `{_sha7(probe.sha)}` {_answer(probe.answer, probe.link)}"
            )
    if bisection.outcome is not None:
        lines.append(f"- **{bisection.outcome.value.capitalize()}**: {bisection.reason}.")
    lines.append("")
    return lines


def bisection_next_step(bisection: Bisection) -> str | None:
    """What the incident is waiting for while a bisection runs."""
    if bisection.outcome is not None:
        return None
    current = bisection.current
    if current is not None and not current.answered:
        asked = ", ".join(f"`{_sha7(p.sha)}`" for p in current.probes if p.answer is None)
        return f"Bisecting: waiting for CI on {asked} (round {current.number})."
    return "Bisecting: asking CI about the next suspect."
