"""The GitHub simulator: real git repositories behind GitHub's REST and GraphQL API."""
