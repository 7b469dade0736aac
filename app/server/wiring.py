"""Wire the process-wide Services from Settings: GitHub auth, Slack, paging, repo config."""

from __future__ import annotations

import logging

import aiohttp

from app.clock import Clock
from app.github.auth import GitHubApp, GitHubFactory, token_client_factory
from app.github.client import GitHubClient
from app.github.config_loader import RepoConfigLoader
from app.logs import register_secret
from app.metrics import Metrics
from app.notify.oncall import pager_from_settings
from app.notify.slack import SlackNotifier
from app.services import Services
from app.settings import Settings

log = logging.getLogger(__name__)


async def _no_credentials(installation_id: int) -> GitHubClient:
    raise RuntimeError("no GitHub credentials: set APP_ID and PRIVATE_KEY, or GITHUB_TOKEN")


def build_services(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    clock: Clock,
    github_for_installation: GitHubFactory | None = None,
) -> Services:
    for secret in settings.secret_values():
        register_secret(secret)
    github_app: GitHubApp | None = None
    default_github: GitHubClient | None = None
    metrics = Metrics()  # this process's registry: /metrics shows it

    if github_for_installation is None:
        if settings.app_id and settings.private_key:
            github_app = GitHubApp(
                session,
                app_id=settings.app_id,
                private_key=settings.private_key,
                api_url=settings.github_api_url,
                clock=clock,
                metrics=metrics,
            )
            github_for_installation = github_app.installation_client
        elif settings.github_token:
            github_for_installation = token_client_factory(
                session,
                token=settings.github_token,
                api_url=settings.github_api_url,
                clock=clock,
                metrics=metrics,
            )
            # With one token there is no installation: events without one still have a client.
            default_github = GitHubClient(
                session,
                api_url=settings.github_api_url,
                oauth_token=settings.github_token,
                clock=clock,
                metrics=metrics,
            )
        else:
            github_for_installation = _no_credentials

    slack = None
    if settings.slack_bot_token:
        slack = SlackNotifier(
            token=settings.slack_bot_token,
            api_url=settings.slack_api_url,
            clock=clock,
            session=session,
        )

    pager = pager_from_settings(settings, session, clock)

    log.info(
        "services ready",
        extra={
            "github_auth": "app" if github_app is not None else "token" if settings.github_token
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
        github_app=github_app,
        default_github=default_github,
        config_loader=RepoConfigLoader(),
        metrics=metrics,
    )
