"""Talking to people outside GitHub: the Slack outbox and the on-call providers."""
