"""Command line: `python -m app serve | demo | replay FILE | revert OWNER/REPO SHA`.

Nothing runs at import; each command imports what it needs, so `revert` in a
GitHub Action does not load the server and `serve` does not load the simulators.
"""

from __future__ import annotations

import argparse
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
    revert = sub.add_parser("revert", help="open a revert PR for SHA (uses GITHUB_TOKEN)")
    revert.add_argument("repo", metavar="OWNER/REPO")
    revert.add_argument("sha")
    revert.add_argument("--base", help="branch to revert on (default: the default branch)")
    return parser


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
    if args.command == "revert":
        from app.revert.cli import main as revert_main

        return revert_main(args.repo, args.sha, base=args.base)
    return 2  # pragma: no cover - argparse already refused


if __name__ == "__main__":
    sys.exit(main())
