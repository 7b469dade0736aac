"""Work the app gives itself: the reconciler, the escalation watch, Slack thread bookkeeping;
each runs inside the repository's lock, like a webhook."""
