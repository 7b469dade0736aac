"""Command line: `python -m app serve | register | demo | replay FILE | revert OWNER/REPO SHA`.

Nothing runs at import; each command imports what it needs, so `revert` in a
GitHub Action does not load the server and `serve` does not load the simulators.
Every `--help` is written for the people who run Build Sheriff: what the command does,
its arguments, the environment variables it reads and its exit codes.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap

DESCRIPTION = """\
Build Sheriff keeps a repository's default branch green: when CI breaks it, it reverts
the commit that broke it and runs the incident (a GitHub issue, a Slack thread, paging).

Run it as a GitHub App: `register` once, then `serve`. Or run `revert` alone, from a
terminal or the GitHub Action. Each command's --help lists its arguments, the
environment variables it reads and its exit codes."""

EPILOG = """\
exit codes (every command): 0 done, 2 bad arguments or settings; each command's --help
has its own list.

documentation: README.md (install, production, configuration, troubleshooting)"""

DOTENV = (
    "Settings come from the environment and from the .env file of the working directory "
    "(the environment wins)."
)

# What `serve` reads (app.settings), for people: one line each, with the default.
SERVE_ENVIRONMENT = (
    ("APP_ID", "the GitHub App's id (required unless GITHUB_TOKEN is set)"),
    ("PRIVATE_KEY", "the App's private key: PEM, one line with \\n, or base64 of the PEM"),
    ("PRIVATE_KEY_PATH", "or the path of the key file (default: the one *.pem here)"),
    ("WEBHOOK_SECRET", "the App's webhook secret; required"),
    ("WEBHOOK_PATH", "where GitHub posts webhooks (default /webhooks; Probot: "
     "/api/github/webhooks)"),
    ("GHE_HOST", "GitHub Enterprise Server's host name (the API is https://HOST/api/v3)"),
    ("GHE_PROTOCOL", "https (default) or http, with GHE_HOST"),
    ("GITHUB_API_URL", "or GitHub's API as a URL (default https://api.github.com)"),
    ("GITHUB_TOKEN", "a token instead of the App's credentials"),
    ("APP_SLUG", "the App's slug; its bot is SLUG[bot] (default buildsheriff)"),
    ("SLACK_BOT_TOKEN", "mirror incidents to Slack (scopes: chat:write, reactions:write, "
     "users:read, users:read.email)"),
    ("SLACK_CHANNEL", "the channel (default #incidents)"),
    ("SLACK_API_URL", "Slack's Web API (default https://slack.com/api/)"),
    ("PAGERDUTY_ROUTING_KEY", "page with PagerDuty (Events API v2)"),
    ("PAGERDUTY_API_TOKEN", "name who is on call (PagerDuty REST API)"),
    ("PAGERDUTY_EVENTS_URL", "PagerDuty's Events API (default https://events.pagerduty.com)"),
    ("PAGERDUTY_API_URL", "PagerDuty's REST API (default https://api.pagerduty.com)"),
    ("JSM_API_KEY", "page with Jira Service Management Ops (an API integration's key)"),
    ("JSM_API_URL", "its API (default https://api.atlassian.com)"),
    ("OPSGENIE_API_KEY", "page with Opsgenie (support ends 2027-04-05: move to JSM Ops)"),
    ("OPSGENIE_API_URL", "its API (default https://api.opsgenie.com)"),
    ("HOST", "the address to listen on (default 0.0.0.0)"),
    ("PORT", "the port to listen on (default 3000)"),
    ("LOG_LEVEL", "trace, debug, info (default), warn, error or fatal"),
    ("LOG_FORMAT", "json (default: one object a line) or text (Probot's pretty)"),
    ("QUEUE_SIZE", "events waiting at most; beyond, webhooks are answered 503 (default 1000)"),
    ("WORKERS", "events handled at once, one per repository (default 4)"),
    ("RECONCILE_INTERVAL", "seconds between passes that catch up on missed events "
     "(default 300)"),
    ("SHUTDOWN_TIMEOUT", "seconds to finish queued events after SIGTERM (default 25)"),
    ("REDIS_URL", "several replicas share work through Redis (redis://, rediss://, unix://)"),
    ("REDIS_PREFIX", "the prefix of every Redis key (default buildsheriff:)"),
    ("REDIS_LEASE", "seconds before a dead replica's work passes to another (default 30)"),
    ("BUILDSHERIFF_GIT", "the git program, 2.38 or newer (default: git on PATH)"),
    ("WEBHOOK_PROXY_URL", "Probot's smee.io proxy: not supported, stops start-up if set"),
    ("SENTRY_DSN", "Probot's Sentry: not supported, stops start-up if set"),
)


WIDTH = 88


def _wrap(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), WIDTH, break_on_hyphens=False)


def _table(rows: tuple[tuple[str, str], ...]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(
        textwrap.fill(
            meaning, WIDTH, initial_indent=f"  {name:<{width}}  ",
            subsequent_indent=" " * (width + 4), break_on_hyphens=False,
        )
        for name, meaning in rows
    )


def _environment(*rows: tuple[str, str]) -> str:
    return "environment variables:\n" + _table(rows)


def _codes(*rows: tuple[int, str]) -> str:
    return "exit codes:\n" + _table(tuple((str(code), meaning) for code, meaning in rows))


SERVE_HELP = "\n\n".join((
    _wrap(
        "Run the webhook server: GitHub posts the App's webhooks to WEBHOOK_PATH; the server "
        "opens incidents, reverts and lands the culprit, and mirrors incidents to Slack. Put "
        "TLS in front of it. GET /healthz (liveness), /readyz (readiness) and /metrics "
        "(Prometheus) are served on the same port. SIGTERM finishes the queued events, then "
        "stops."
    ),
    _wrap(
        f"{DOTENV} A setting that cannot be used stops start-up with one line naming it "
        "(never its value); all of them are reported at once."
    ),
    _environment(*SERVE_ENVIRONMENT),
    _codes(
        (0, "stopped by SIGTERM or SIGINT, after finishing the queued events"),
        (1, "crashed: the log says why"),
        (2, "a setting cannot be used, git is missing or older than 2.38, or Redis "
            "(REDIS_URL) is unreachable at start: one line each on stderr"),
    ),
))

REGISTER_HELP = "\n\n".join((
    _wrap(
        "Create the GitHub App from app.yml with GitHub's manifest flow. Open the local page "
        "this prints (on 127.0.0.1) and press the button: GitHub creates the App and sends "
        "your browser back here, and APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, APP_SLUG and "
        "APP_HTML_URL are written to .env (mode 600; the key is never printed). Then install "
        "the App from APP_HTML_URL and start `serve` with that .env."
    ),
    _environment(
        ("GHE_HOST", "register on this GitHub Enterprise Server (or --ghe-host)"),
        ("GHE_PROTOCOL", "https (default) or http, with GHE_HOST"),
        ("GITHUB_API_URL", "or name GitHub's API as a URL (default https://api.github.com)"),
        ("WEBHOOK_PATH", "written to .env when the webhook URL's path differs from it"),
    ),
    _wrap(
        f"{DOTENV} The other settings of `serve` found there are checked too, so that the "
        ".env written here starts the server."
    ),
    _codes(
        (0, "registered: .env written"),
        (1, "the registration failed (refused, expired or timed out): the reason is printed"),
        (2, "bad arguments, an unusable setting, or .env exists and --force was not given"),
    ),
))

REPLAY_HELP = "\n\n".join((
    _wrap(
        "Process one recorded webhook delivery now, in the foreground, as the server would: "
        "to redo one that failed, or to see what Build Sheriff does with it (the log tells). "
        "FILE is a delivery as the App's \"Recent Deliveries\" page shows it "
        '({"event": ..., "payload": {...}}), or a bare payload with --event. It acts on the '
        "real GitHub, Slack and pager."
    ),
    _environment(
        ("APP_ID", "the App's id, with PRIVATE_KEY or PRIVATE_KEY_PATH: the App acts for the "
         "payload's installation"),
        ("PRIVATE_KEY", "the App's private key (or PRIVATE_KEY_PATH, the key file)"),
        ("GITHUB_TOKEN", "or a token, for a payload without an installation"),
        ("GHE_HOST", "GitHub Enterprise Server (with GHE_PROTOCOL), or GITHUB_API_URL"),
    ),
    _wrap(
        "and SLACK_*, PAGERDUTY_*, JSM_*, OPSGENIE_*, LOG_LEVEL and LOG_FORMAT as for "
        f"`serve` (see `serve --help`). {DOTENV}"
    ),
    _codes(
        (0, "processed (or nothing to do for this event)"),
        (1, "processing failed: the log has the error"),
        (2, "bad arguments, an unreadable FILE, an unusable setting, or no credentials for "
            "the payload's installation"),
    ),
))

DEMO_HELP = "\n\n".join((
    _wrap(
        "Play the whole incident story on simulators of GitHub, Slack and PagerDuty started "
        "in this process, with the real server in between: no credentials, nothing leaves "
        "the machine. Needs a checkout of the repository (the simulators do not come with "
        "the installed package) and GitHub's published API descriptions."
    ),
    _environment(
        ("BUILDSHERIFF_SHARED_GITHUB", "the folder of GitHub's published API descriptions "
         "(default: ../shared/github beside the checkout)"),
    ),
    _codes(
        (0, "the story ended as it should: incident resolved, revert merged, tree restored"),
        (1, "the story went wrong: the summary says where"),
        (2, "bad arguments, or not run from a checkout of the repository"),
    ),
))

REVERT_HELP = "\n\n".join((
    _wrap(
        "Open a revert pull request for SHA on OWNER/REPO, as the App does (without an "
        "incident), and say what happened: the pull request's URL, or the conflicting files "
        "and the commands to revert by hand, or why there is nothing to revert, or what "
        "GitHub refused. The GitHub Action actions/revert runs this."
    ),
    _environment(
        ("GITHUB_TOKEN", "a token that may push branches and open pull requests; required"),
        ("GITHUB_API_URL", "GitHub's API (default https://api.github.com; GitHub Actions sets "
         "it, on GitHub Enterprise Server too)"),
        ("GITHUB_OUTPUT", "inside GitHub Actions: the step's outputs result, pr-url and "
         "pr-number are written there"),
        ("GITHUB_STEP_SUMMARY", "inside GitHub Actions: one line for the job's summary"),
    ),
))


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    prog = "python -m app" if sys.argv[0].endswith("__main__.py") else "buildsheriff"
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, epilog=EPILOG, formatter_class=raw
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "serve", help="run the webhook server (the GitHub App)", description=SERVE_HELP,
        formatter_class=raw,
    )
    register = sub.add_parser(
        "register",
        help="create the GitHub App (GitHub's manifest flow) and write its .env",
        description=REGISTER_HELP,
        formatter_class=raw,
    )
    register.add_argument(
        "--webhook-url", required=True, metavar="URL",
        help="where GitHub will post webhooks, e.g. https://sheriff.example.com/webhooks",
    )
    register.add_argument(
        "--org", help="register the App on this organization (default: your account)"
    )
    register.add_argument("--ghe-host", metavar="HOST",
                          help="GitHub Enterprise Server host name (same as GHE_HOST)")
    register.add_argument("--force", action="store_true",
                          help="replace the App settings in an existing .env")
    register.add_argument("--port", type=int, default=0,
                          help="port of the local registration page (default: any free port)")
    register.add_argument("--manifest", metavar="FILE",
                          help="the App manifest (default: ./app.yml, else the packaged one)")
    revert = sub.add_parser(
        "revert",
        help="open a revert pull request for one commit (uses GITHUB_TOKEN)",
        formatter_class=raw,
        description=REVERT_HELP + "\n\nexit codes (the Action's `result` output in the "
        "second column):\n" + _revert_exit_table(),
    )
    revert.add_argument("repo", metavar="OWNER/REPO", type=_repo_arg,
                        help="the repository, e.g. acme/rocket")
    revert.add_argument("sha", metavar="SHA", type=_sha_arg,
                        help="the commit to revert (4 to 40 hex digits)")
    revert.add_argument("--base", metavar="BRANCH",
                        help="the branch to revert it on (default: the default branch)")
    replay = sub.add_parser(
        "replay",
        help="process one recorded webhook delivery now (to redo or inspect it)",
        description=REPLAY_HELP,
        formatter_class=raw,
    )
    replay.add_argument("file", metavar="FILE", help="the delivery, as JSON")
    replay.add_argument("--event", metavar="NAME",
                        help="the event's name (push, check_run ...) when FILE is a bare payload")
    demo = sub.add_parser(
        "demo", help="play the whole incident story on simulators (no credentials)",
        description=DEMO_HELP, formatter_class=raw,
    )
    demo.add_argument("--quiet", action="store_true", help="print only the summary")
    return parser


def _revert_exit_table() -> str:
    from app.revert.cli import Exit

    return _table(tuple((f"{int(code)}  {code.result}", code.meaning) for code in Exit))


def _repo_arg(value: str) -> str:
    owner, slash, name = value.partition("/")
    if not (owner and slash and name) or "/" in name:
        raise argparse.ArgumentTypeError(f"{value!r} is not OWNER/REPO")
    return value


def _sha_arg(value: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{4,40}", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a commit sha (4 to 40 hex digits)")
    return value


def _demo(*, quiet: bool) -> int:
    # The demo wires the app to the simulators, which live beside the app in a checkout
    # and are not in the wheel: the one import of them, and only for this command.
    try:
        from demo.story import main as demo_main
    except ModuleNotFoundError as exc:
        if exc.name not in ("demo", "demo.story", "sim"):
            raise
        print(
            "buildsheriff: the demo needs a checkout of the repository: "
            "run `make demo` there (the simulators are not part of the installed package)",
            file=sys.stderr,
        )
        return 2
    return demo_main(quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from app.server.main import serve

        return serve()
    if args.command == "demo":
        return _demo(quiet=args.quiet)
    if args.command == "replay":
        from app.server.replay import main as replay_main

        return replay_main(args.file, event=args.event)
    if args.command == "register":
        import asyncio
        from pathlib import Path

        from app.server.register import register as register_app

        return asyncio.run(
            register_app(
                webhook_url=args.webhook_url,
                org=args.org,
                ghe_host=args.ghe_host,
                force=args.force,
                port=args.port,
                manifest_path=Path(args.manifest) if args.manifest else None,
            )
        )
    if args.command == "revert":
        from app.revert.cli import main as revert_main

        return revert_main(args.repo, args.sha, base=args.base)
    return 2  # pragma: no cover - argparse already refused


if __name__ == "__main__":
    sys.exit(main())
