"""Checks against GitHub's own artifacts: OpenAPI, the GraphQL schema, webhook schemas."""
