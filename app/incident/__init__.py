"""An incident is a GitHub issue: the store (labels + hidden marker), the runner that applies
the core's effects, mitigation (roll back, then revert) and news into the issue and Slack."""
