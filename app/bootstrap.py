"""Wire the process-wide Services from Settings: GitHub auth, Slack, paging, repo config.

Slack, paging and repo config are optional pieces that may be absent (a minimal
deployment, or a checkout where a module is not there yet): each is imported only
here, and only if present, so the server starts without them.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

import aiohttp

from app.clock import Clock
from app.context import Services
from app.github.auth import GitHubApp, token_client_factory
from app.github.client import GitHubClient
from app.logs import register_secret
from app.settings import Settings

log = logging.getLogger(__name__)


def _optional(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:  # the module exists but one of *its* imports is missing
            raise
        return None


async def _no_credentials(installation_id: int) -> GitHubClient:
    raise RuntimeError("no GitHub credentials: set APP_ID and PRIVATE_KEY, or GITHUB_TOKEN")


def build_services(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    clock: Clock,
    github_for_installation: Any = None,
) -> Services:
    for secret in settings.secret_values():
        register_secret(secret)
    extras: dict[str, Any] = {}

    if github_for_installation is None:
        if settings.app_id and settings.private_key:
            github_app = GitHubApp(
                session,
                app_id=settings.app_id,
                private_key=settings.private_key,
                api_url=settings.github_api_url,
                clock=clock,
            )
            extras["github_app"] = github_app
            github_for_installation = github_app.installation_client
        elif settings.github_token:
            github_for_installation = token_client_factory(
                session, token=settings.github_token, api_url=settings.github_api_url, clock=clock
            )
            # With one token there is no installation: events without one still have a client.
            extras["default_github"] = GitHubClient(
                session,
                api_url=settings.github_api_url,
                oauth_token=settings.github_token,
                clock=clock,
            )
        else:
            github_for_installation = _no_credentials

    slack = None
    slack_module = _optional("app.slack")
    if slack_module is not None and settings.slack_bot_token:
        slack = slack_module.SlackNotifier(
            token=settings.slack_bot_token,
            api_url=settings.slack_api_url,
            clock=clock,
            session=session,
        )

    pager = None
    oncall_module = _optional("app.oncall")
    if oncall_module is not None:
        pager = oncall_module.pager_from_settings(settings, session, clock)

    config_module = _optional("app.repo_config")
    if config_module is not None and hasattr(config_module, "RepoConfigLoader"):
        extras["config_loader"] = config_module.RepoConfigLoader()

    log.info(
        "services ready",
        extra={
            "github_auth": "app" if "github_app" in extras else "token" if settings.github_token
            else "none",
            "slack": slack is not None,
            "pager": getattr(pager, "name", None),
        },
    )
    return Services(
        settings=settings,
        session=session,
        clock=clock,
        github_for_installation=github_for_installation,
        slack=slack,
        pager=pager,
        extras=extras,
    )
