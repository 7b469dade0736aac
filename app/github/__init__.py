"""GitHub's API: the client (retries, rate limits), App authentication, permission checks,
and the loader of `.github/buildsheriff.yml`."""
