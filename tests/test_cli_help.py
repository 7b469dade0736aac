"""`python -m app --help` and each command's `--help` are written for the people who run
Build Sheriff: the arguments, every environment variable the command reads, its exit
codes, and no notes meant for developers."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import pytest

from app.__main__ import main
from app.revert.cli import Exit
from app.server.main import serve
from app.settings import Settings, SettingsError

COMMANDS = ("serve", "register", "revert", "replay", "demo")


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


class Recording(Mapping[str, str]):
    """An environment that remembers every name asked of it."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def names_serve_reads() -> set[str]:
    asked: set[str] = set()
    for values in (
        {},
        {"APP_ID": "1", "PRIVATE_KEY": "not a key", "GHE_HOST": "ghe.example.com",
         "GHE_PROTOCOL": "https", "REDIS_URL": "redis://localhost:1/0", "PORT": "x"},
        {"GITHUB_TOKEN": "t", "GITHUB_API_URL": "https://ghe.example.com/api/v3",
         "PRIVATE_KEY_PATH": "/nonexistent.pem", "LOG_LEVEL": "warn"},
    ):
        env = Recording(values)
        try:
            Settings.from_env(env, serving=True)
        except SettingsError:
            pass
        asked |= env.asked
        env = Recording(values)
        assert serve(env) == 2  # none of these can serve: it stops before listening
        asked |= env.asked
    return asked


def section(text: str, title: str) -> str:
    """The lines under `title:` up to the next blank line."""
    return text.split(f"\n{title}", 1)[1].split("\n\n", 1)[0]


def exit_codes(text: str) -> set[int]:
    return {int(code) for code in re.findall(r"^  (\d)  ", section(text, "exit codes"), re.M)}


def test_the_top_level_help_names_every_command_for_users(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of(capsys)
    for command in COMMANDS:
        assert re.search(rf"^    {command} +\S", text, re.M), command
    assert "--help" in text and "exit codes" in text and "README" in text


def test_serve_help_lists_every_setting_the_server_reads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of(capsys, "serve")
    listed = set(re.findall(r"^  ([A-Z][A-Z0-9_]+) ", section(text, "environment variables"),
                            re.M))
    read = names_serve_reads()
    assert {"WEBHOOK_SECRET", "GHE_HOST", "REDIS_URL", "BUILDSHERIFF_GIT"} <= read
    assert read <= listed, sorted(read - listed)
    assert ".env" in text


@pytest.mark.parametrize(
    ("command", "names", "codes"),
    [
        ("serve", ("APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "PORT"), {0, 1, 2}),
        ("register", ("GHE_HOST", "GHE_PROTOCOL", "GITHUB_API_URL", "WEBHOOK_PATH"), {0, 1, 2}),
        ("revert", ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_OUTPUT"), {int(c) for c in Exit}),
        ("replay", ("APP_ID", "PRIVATE_KEY", "GITHUB_TOKEN", "GHE_HOST", "GITHUB_API_URL"),
         {0, 1, 2}),
        ("demo", ("BUILDSHERIFF_SHARED_GITHUB",), {0, 1, 2}),
    ],
)
def test_each_command_help_lists_its_environment_and_exit_codes(
    capsys: pytest.CaptureFixture[str], command: str, names: tuple[str, ...], codes: set[int]
) -> None:
    text = help_of(capsys, command)
    environment = section(text, "environment variables")
    for name in names:
        assert name in environment, (command, name)
    assert exit_codes(text) == codes


def test_the_revert_help_has_the_action_s_exit_code_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = " ".join(help_of(capsys, "revert").split())
    for code in Exit:
        assert f" {int(code)} {code.result} {code.meaning} " in text, code


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_no_help_carries_notes_meant_for_developers(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    text = help_of(capsys, *([command] if command else []))
    for word in ("import", "handler", "router", "pytest", "app.core", "module", "wheel"):
        assert word not in text.lower(), (command, word)
