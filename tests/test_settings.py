"""Settings from the environment: defaults, Probot's names, one-line errors without values."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings, SettingsError

SECRET_LOOKING = "s3cr3t-value-that-must-not-leak"


def test_defaults_match_probot_and_github() -> None:
    s = Settings.from_env({})
    assert s.github_api_url == "https://api.github.com"
    assert s.graphql_url == "https://api.github.com/graphql"
    assert s.slack_channel == "#incidents"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.pagerduty_events_url == "https://events.pagerduty.com"
    assert s.pagerduty_api_url == "https://api.pagerduty.com"
    assert s.opsgenie_api_url == "https://api.opsgenie.com"
    assert s.jsm_api_url == "https://api.atlassian.com" and s.jsm_api_key is None
    assert (s.host, s.port, s.log_level, s.log_format) == ("0.0.0.0", 3000, "INFO", "json")
    assert (s.queue_size, s.workers, s.reconcile_interval) == (1000, 4, 300.0)
    assert s.app_slug == "buildsheriff"


def test_ghes_graphql_url_and_trailing_slashes() -> None:
    s = Settings.from_env(
        {"GITHUB_API_URL": "https://ghe.example/api/v3/", "SLACK_API_URL": "http://127.0.0.1:9/api"}
    )
    assert s.github_api_url == "https://ghe.example/api/v3"
    assert s.graphql_url == "https://ghe.example/api/graphql"
    assert s.slack_api_url == "http://127.0.0.1:9/api/"


def test_app_key_from_text_with_literal_newlines(rsa_key: str) -> None:
    one_line = rsa_key.strip().replace("\n", "\\n")
    s = Settings.from_env({"APP_ID": "12345", "PRIVATE_KEY": one_line, "WEBHOOK_SECRET": "x" * 20})
    assert s.app_id == "12345"
    assert s.private_key == rsa_key.strip() + "\n"
    s.require_serving()


def test_app_key_from_path(rsa_key: str, tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(rsa_key)
    s = Settings.from_env({"APP_ID": "7", "PRIVATE_KEY_PATH": str(key_file)})
    assert s.has_app_credentials
    assert s.private_key is not None and "BEGIN" in s.private_key


def test_secrets_are_not_in_repr(rsa_key: str) -> None:
    s = Settings.from_env(
        {
            "APP_ID": "1",
            "PRIVATE_KEY": rsa_key,
            "WEBHOOK_SECRET": SECRET_LOOKING,
            "GITHUB_TOKEN": SECRET_LOOKING + "-gh",
            "SLACK_BOT_TOKEN": SECRET_LOOKING + "-slack",
            "PAGERDUTY_ROUTING_KEY": SECRET_LOOKING + "-pd",
            "PAGERDUTY_API_TOKEN": SECRET_LOOKING + "-pdapi",
            "OPSGENIE_API_KEY": SECRET_LOOKING + "-og",
            "JSM_API_KEY": SECRET_LOOKING + "-jsm",
        }
    )
    text = repr(s) + str(s)
    assert SECRET_LOOKING not in text
    body_line = rsa_key.splitlines()[1]
    assert body_line not in text
    assert "app_id='1'" in text


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"APP_ID": "abc" + SECRET_LOOKING}, "APP_ID"),
        ({"APP_ID": "12"}, "PRIVATE_KEY"),
        ({"PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\n" + SECRET_LOOKING}, "PRIVATE_KEY"),
        ({"APP_ID": "1", "PRIVATE_KEY_PATH": "/nonexistent/" + SECRET_LOOKING}, "PRIVATE_KEY_PATH"),
        ({"GITHUB_API_URL": "ftp://" + SECRET_LOOKING}, "GITHUB_API_URL"),
        ({"GITHUB_API_URL": SECRET_LOOKING}, "GITHUB_API_URL"),
        ({"SLACK_API_URL": "not a url " + SECRET_LOOKING}, "SLACK_API_URL"),
        ({"PAGERDUTY_EVENTS_URL": SECRET_LOOKING}, "PAGERDUTY_EVENTS_URL"),
        ({"PAGERDUTY_API_URL": SECRET_LOOKING}, "PAGERDUTY_API_URL"),
        ({"OPSGENIE_API_URL": SECRET_LOOKING}, "OPSGENIE_API_URL"),
        ({"JSM_API_URL": SECRET_LOOKING}, "JSM_API_URL"),
        ({"PORT": SECRET_LOOKING}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"QUEUE_SIZE": "0"}, "QUEUE_SIZE"),
        ({"WORKERS": "-1"}, "WORKERS"),
        ({"WORKERS": "2.5"}, "WORKERS"),
        ({"RECONCILE_INTERVAL": "nan"}, "RECONCILE_INTERVAL"),
        ({"RECONCILE_INTERVAL": SECRET_LOOKING}, "RECONCILE_INTERVAL"),
        ({"LOG_LEVEL": SECRET_LOOKING}, "LOG_LEVEL"),
        ({"LOG_FORMAT": "xml" + SECRET_LOOKING}, "LOG_FORMAT"),
        ({"APP_SLUG": "Not A Slug " + SECRET_LOOKING}, "APP_SLUG"),
    ],
)
def test_each_bad_setting_is_one_line_naming_it_without_its_value(
    env: dict[str, str], name: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message
    assert SECRET_LOOKING not in message
    assert caught.value.__cause__ is None  # no chained exception quoting the input


def test_key_without_app_id_and_both_key_sources(rsa_key: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^APP_ID: "):
        Settings.from_env({"PRIVATE_KEY": rsa_key})
    key_file = tmp_path / "k.pem"
    key_file.write_text(rsa_key)
    with pytest.raises(SettingsError, match=r"^PRIVATE_KEY: set only one"):
        Settings.from_env(
            {"APP_ID": "1", "PRIVATE_KEY": rsa_key, "PRIVATE_KEY_PATH": str(key_file)}
        )


def test_non_rsa_key_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(SettingsError, match=r"^PRIVATE_KEY: must be an RSA key"):
        Settings.from_env({"APP_ID": "1", "PRIVATE_KEY": pem})


def test_require_serving_fails_closed(rsa_key: str) -> None:
    with pytest.raises(SettingsError, match=r"^WEBHOOK_SECRET: "):
        Settings.from_env({"GITHUB_TOKEN": "ghp_" + "x" * 36}).require_serving()
    with pytest.raises(SettingsError, match=r"^APP_ID: "):
        Settings.from_env({"WEBHOOK_SECRET": "w" * 20}).require_serving()
    Settings.from_env({"WEBHOOK_SECRET": "w" * 20, "GITHUB_TOKEN": "t" * 40}).require_serving()


def test_empty_values_mean_unset() -> None:
    s = Settings.from_env({"APP_ID": "", "PORT": " ", "SLACK_CHANNEL": ""})
    assert s.app_id is None and s.port == 3000 and s.slack_channel == "#incidents"


def test_case_insensitive_enums() -> None:
    s = Settings.from_env({"LOG_LEVEL": "debug", "LOG_FORMAT": "TEXT", "WORKERS": "8"})
    assert (s.log_level, s.log_format, s.workers) == ("DEBUG", "text", 8)


# ---- Probot compatibility ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probot", "python"),
    [
        ("trace", "DEBUG"),
        ("debug", "DEBUG"),
        ("info", "INFO"),
        ("warn", "WARNING"),
        ("error", "ERROR"),
        ("fatal", "CRITICAL"),
        ("WARNING", "WARNING"),
    ],
)
def test_probot_log_levels(probot: str, python: str) -> None:
    assert Settings.from_env({"LOG_LEVEL": probot}).log_level == python


def test_log_format_pretty_is_text() -> None:
    assert Settings.from_env({"LOG_FORMAT": "pretty"}).log_format == "text"


def test_private_key_as_base64_of_the_pem_file(rsa_key: str) -> None:
    import base64

    encoded = base64.b64encode(rsa_key.encode()).decode()
    s = Settings.from_env({"APP_ID": "9", "PRIVATE_KEY": encoded})
    assert s.private_key == rsa_key.strip() + "\n"
    with pytest.raises(SettingsError, match=r"^PRIVATE_KEY: is neither a PEM") as caught:
        Settings.from_env({"APP_ID": "9", "PRIVATE_KEY": "bm90IGEga2V5" + SECRET_LOOKING})
    assert SECRET_LOOKING not in str(caught.value)


def test_webhook_path_default_and_probot_path() -> None:
    assert Settings.from_env({}).webhook_path == "/webhooks"
    s = Settings.from_env({"WEBHOOK_PATH": "/api/github/webhooks/"})
    assert s.webhook_path == "/api/github/webhooks"
    with pytest.raises(SettingsError, match=r"^WEBHOOK_PATH: "):
        Settings.from_env({"WEBHOOK_PATH": "api/github/webhooks"})


def test_ghe_host_and_protocol_name_the_enterprise_api() -> None:
    s = Settings.from_env({"GHE_HOST": "ghe.example.com"})
    assert s.github_api_url == "https://ghe.example.com/api/v3"
    assert s.graphql_url == "https://ghe.example.com/api/graphql"
    assert s.github_web_url == "https://ghe.example.com"
    s = Settings.from_env({"GHE_HOST": "127.0.0.1:8080", "GHE_PROTOCOL": "http"})
    assert s.github_api_url == "http://127.0.0.1:8080/api/v3"
    assert Settings.from_env({}).github_web_url == "https://github.com"


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"GHE_HOST": "ghe.example.com", "GITHUB_API_URL": "https://ghe.example.com/api/v3"},
            "GHE_HOST: set either GHE_HOST (Probot's name) or GITHUB_API_URL, not both",
        ),
        ({"GHE_HOST": "https://ghe.example.com/"}, "GHE_HOST: must be the server's host name"),
        ({"GHE_HOST": "ghe.example.com", "GHE_PROTOCOL": "ftp"}, "GHE_PROTOCOL: must be"),
        (
            {"GITHUB_API_URL": "https://ghe.example.com"},
            "GITHUB_API_URL: looks like GitHub Enterprise Server, whose REST API is under "
            "/api/v3: use https://ghe.example.com/api/v3 (or set GHE_HOST=ghe.example.com)",
        ),
        (
            {"GITHUB_API_URL": "https://github.com/"},
            "GITHUB_API_URL: is GitHub's web address: GitHub's API is https://api.github.com",
        ),
    ],
)
def test_unusable_github_addresses_say_the_fix(env: dict[str, str], line: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(line)


def test_every_unusable_setting_is_reported_at_once_one_line_each(rsa_key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {
                "APP_ID": "12",
                "PRIVATE_KEY": SECRET_LOOKING,
                "PORT": "http",
                "LOG_LEVEL": "loud",
                "GHE_HOST": "ghe.example.com",
                "GITHUB_API_URL": "https://ghe.example.com/api/v3",
                "WEBHOOK_PATH": "nope",
            },
            serving=True,
        )
    lines = str(caught.value).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "PRIVATE_KEY", "LOG_LEVEL", "WEBHOOK_PATH", "GHE_HOST", "PORT", "WEBHOOK_SECRET",
    ]
    assert SECRET_LOOKING not in str(caught.value)


def test_environment_reads_dotenv_and_the_process_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.settings import environment

    (tmp_path / ".env").write_text(
        '# written by `python -m app register`\nAPP_ID=123\nWEBHOOK_PATH=/api/github/webhooks\n'
        'PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n"\n'
    )
    monkeypatch.setenv("APP_ID", "456")
    env = environment(tmp_path)
    assert env["APP_ID"] == "456"
    assert env["WEBHOOK_PATH"] == "/api/github/webhooks"
    assert env["PRIVATE_KEY"].count("\n") == 3
    assert environment(tmp_path / "nowhere")["APP_ID"] == "456"


def test_probot_settings_that_cannot_be_honoured_are_refused_not_ignored() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {"WEBHOOK_PROXY_URL": "https://smee.io/abc", "SENTRY_DSN": "https://k@sentry.io/1"}
        )
    assert [line.split(":")[0] for line in str(caught.value).splitlines()] == [
        "WEBHOOK_PROXY_URL", "SENTRY_DSN"
    ]
    assert "smee.io/abc" not in str(caught.value)
    # Empty, as Probot's template leaves them, they are simply unset.
    Settings.from_env({"WEBHOOK_PROXY_URL": "", "SENTRY_DSN": " "})


def test_the_one_pem_file_beside_env_is_the_key_as_in_probot(
    tmp_path: Path, rsa_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.settings import environment

    for name in ("PRIVATE_KEY", "PRIVATE_KEY_PATH", "APP_ID"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("APP_ID=5\n")
    pem = tmp_path / "build-sheriff.2026-11-30.private-key.pem"
    pem.write_text(rsa_key)
    s = Settings.from_env(environment(tmp_path))
    assert s.app_id == "5" and s.private_key == rsa_key.strip() + "\n"
    # Two keys: none is guessed, and the missing key is reported.
    (tmp_path / "old.pem").write_text(rsa_key)
    with pytest.raises(SettingsError, match=r"^PRIVATE_KEY: is required when APP_ID is set"):
        Settings.from_env(environment(tmp_path))
