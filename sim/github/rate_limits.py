"""GitHub's secondary rate limit on content-creating requests, on the simulator's clock.

GitHub documents "no more than 80 content-generating requests per minute and no more than 500
per hour" (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-
secondary-rate-limits). Past either, it answers 403 (or 429) with `retry-after` and the
message below. Off by default; a test switches it on:
`sim.secondary_limit = SecondaryLimit()`. Every mutating request counts (REST POST/PATCH/PUT/DELETE
and GraphQL mutations), which is at least as strict as GitHub's "content-generating".
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID.")


@dataclass
class SecondaryLimit:
    per_minute: int = 80
    per_hour: int = 500
    status: int = 403  # GitHub answers 403 or 429
    # Request times per caller bucket (installation or user), oldest first.
    _seen: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, bucket: str, now: float) -> int | None:
        """Count one content-creating request; seconds to wait when it is over the limit."""
        seen = self._seen.setdefault(bucket, deque())
        while seen and seen[0] <= now - 3600:
            seen.popleft()
        last_minute = [t for t in seen if t > now - 60]
        if len(last_minute) >= self.per_minute:
            return max(1, math.ceil(last_minute[0] + 60 - now))
        if len(seen) >= self.per_hour:
            return max(1, math.ceil(seen[0] + 3600 - now))
        seen.append(now)
        return None
