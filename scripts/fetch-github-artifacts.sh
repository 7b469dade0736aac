#!/usr/bin/env bash
# Lays out GitHub's published artifacts the way the simulator reads them (the
# folder that ../shared/github holds locally; its SOURCES.md names the same
# versions). Used where that folder is not provided, e.g. on GitHub-hosted CI.
# Usage: scripts/fetch-github-artifacts.sh DEST   (then BUILDSHERIFF_SHARED_GITHUB=DEST)
set -euo pipefail
dest=${1:?usage: $0 DEST}
openapi_version=23.0.2
webhooks_commit=3a58428aa5c399cf5aa12c8663aea1fb1f515254
graphql_commit=82ff2d4780080e6929ebb95608cefa22dfa05ac7
events="check_suite check_run status workflow_run commit_comment issue_comment issues
        pull_request label installation installation_repositories ping push deployment
        deployment_status"

mkdir -p "$dest/openapi" "$dest/graphql" "$dest/webhook-examples" "$dest/webhook-schemas"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "@octokit/openapi@$openapi_version" >/dev/null && tar xzf octokit-openapi-*.tgz)
cp "$tmp/package/generated/api.github.com.json" "$dest/openapi/"

git init -q "$tmp/webhooks"
git -C "$tmp/webhooks" fetch -q --depth 1 https://github.com/octokit/webhooks "$webhooks_commit"
git -C "$tmp/webhooks" checkout -q FETCH_HEAD
for event in $events; do
  cp -r "$tmp/webhooks/payload-examples/api.github.com/$event" "$dest/webhook-examples/"
  cp -r "$tmp/webhooks/payload-schemas/api.github.com/$event" "$dest/webhook-schemas/"
done
cp -r "$tmp/webhooks/payload-schemas/api.github.com/common" "$dest/webhook-schemas/"

git init -q "$tmp/graphql"
git -C "$tmp/graphql" fetch -q --depth 1 https://github.com/octokit/graphql-schema "$graphql_commit"
git -C "$tmp/graphql" show FETCH_HEAD:schema.graphql > "$dest/graphql/schema.graphql"
echo "GitHub artifacts in $dest"
