"""Command line: `python -m app serve | register | demo | replay FILE | revert OWNER/REPO SHA`.

Nothing runs at import; each command imports what it needs, so `revert` in a
GitHub Action does not load the server and `serve` does not load the simulators.
"""

from __future__ import annotations

import argparse
import re
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="buildsheriff", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the webhook server (settings from the environment)")
    demo = sub.add_parser("demo", help="run the whole story against embedded simulators")
    demo.add_argument("--quiet", action="store_true", help="print only the summary")
    replay = sub.add_parser("replay", help="feed a recorded webhook (JSON file) to the handlers")
    replay.add_argument("file")
    replay.add_argument("--event", help="event name when the file holds only the payload")
    register = sub.add_parser(
        "register",
        help="create the GitHub App from app.yml (GitHub's manifest flow); writes .env",
        description=(
            "Serve a page on 127.0.0.1 whose button registers the App on GitHub from "
            "app.yml, then write APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, APP_SLUG and "
            "APP_HTML_URL to .env (mode 600). GHE_HOST/GHE_PROTOCOL or GITHUB_API_URL "
            "(environment or .env) name a GitHub Enterprise Server. Exit codes: 0 registered, "
            "1 the registration failed, 2 bad arguments or .env exists without --force."
        ),
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
        help="open a revert PR for SHA (uses GITHUB_TOKEN)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Open a revert pull request for SHA on OWNER/REPO, as the app does. "
            "GITHUB_TOKEN (required) and GITHUB_API_URL come from the environment.\n\n"
            "exit codes:\n" + _revert_exit_table()
        ),
    )
    revert.add_argument("repo", metavar="OWNER/REPO", type=_repo_arg)
    revert.add_argument("sha", type=_sha_arg, help="the commit (4 to 40 hex digits)")
    revert.add_argument("--base", help="branch to revert on (default: the default branch)")
    return parser


def _revert_exit_table() -> str:
    from app.revert.cli import Exit

    return "\n".join(f"  {int(code)}  {code.result:<18} {code.meaning}" for code in Exit)


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
