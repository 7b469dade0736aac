"""CODEOWNERS semantics, checked against GitHub's documented example ("About code owners")."""

from __future__ import annotations

import pytest

from app.core.codeowners import CODEOWNERS_PATHS, Rule, parse_codeowners

# GitHub's example file from "About code owners", rule for rule, in its order.
GITHUB_EXAMPLE = """\
# This is a comment.
# Each line is a file pattern followed by one or more owners.

*       @global-owner1 @global-owner2
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
/apps/ @octocat
/apps/github @doctocat
"""

GLOBAL = ("@global-owner1", "@global-owner2")


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        ("README.md", GLOBAL),
        ("src/deep/thing.py", GLOBAL),
        ("app.js", ("@js-owner",)),
        ("src/web/app.js", ("@js-owner",)),
        ("main.go", ("docs@example.com",)),
        ("cmd/tool/main.go", ("docs@example.com",)),
        ("notes.txt", ("@octo-org/octocats",)),
        ("a/b/notes.txt", ("@octo-org/octocats",)),
        # /build/logs/ is overridden by the later **/logs
        ("build/logs/out.log", ("@octocat",)),
        ("build/logs/2024/out.log", ("@octocat",)),
        # docs/* then /docs/: the later /docs/ wins for direct and nested files
        ("docs/getting-started.md", ("@doctocat",)),
        ("docs/build-app/troubleshooting.md", ("@doctocat",)),
        ("scripts/deploy.sh", ("@doctocat", "@octocat")),
        ("scripts/logs/run.log", ("@octocat",)),
        ("deeply/nested/logs/a.txt", ("@octocat",)),
        ("apps/web/index.html", ("@octocat",)),
        ("src/apps/thing.py", ("@octocat",)),
        ("apps/github/index.html", ("@doctocat",)),
        ("apps/github/deep/file.py", ("@doctocat",)),
        ("apps/githubber/file.py", ("@octocat",)),
        ("src/apps/github/file.py", ("@octocat",)),  # /apps/github is tied to the root
    ],
)
def test_github_documented_example(path: str, owners: tuple[str, ...]) -> None:
    codeowners = parse_codeowners(GITHUB_EXAMPLE)
    assert codeowners.errors == ()
    assert codeowners.owners_for(path) == owners


# Each documented rule alone: (pattern, path, matches?)
@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*", "README.md", True),
        ("*", "a/b/c.txt", True),
        ("*.js", "index.js", True),
        ("*.js", "src/lib/index.js", True),
        ("*.js", "index.jsx", False),
        ("*.js", "index.js.map", False),
        ("/build/logs/", "build/logs/a.log", True),
        ("/build/logs/", "build/logs/sub/a.log", True),
        ("/build/logs/", "src/build/logs/a.log", False),
        ("/build/logs/", "build/logs", False),  # a file named logs is not the directory
        ("/build/logs/", "build/logsx/a.log", False),
        ("docs/*", "docs/getting-started.md", True),
        ("docs/*", "docs/build-app/troubleshooting.md", False),
        ("docs/*", "docs", False),
        ("docs/*", "src/docs/a.md", False),
        ("apps/", "apps/a.py", True),
        ("apps/", "src/apps/a.py", True),
        ("apps/", "src/apps/deep/a.py", True),
        ("apps/", "apps", False),
        ("apps/", "myapps/a.py", False),
        ("/docs/", "docs/a.md", True),
        ("/docs/", "docs/x/y/a.md", True),
        ("/docs/", "src/docs/a.md", False),
        ("/scripts/", "scripts/run.sh", True),
        ("/scripts/", "lib/scripts/run.sh", False),
        ("**/logs", "logs/a.log", True),
        ("**/logs", "build/logs/a.log", True),
        ("**/logs", "scripts/logs/a.log", True),
        ("**/logs", "deeply/nested/logs/a.log", True),
        ("**/logs", "logs", True),
        ("**/logs", "build/logsx/a", False),
        ("/apps/github", "apps/github", True),
        ("/apps/github", "apps/github/a.rb", True),
        ("/apps/github", "apps/githubx", False),
        ("/apps/github", "x/apps/github", False),
        # gitignore rules GitHub follows, beyond the example
        ("logs", "logs", True),
        ("logs", "a/logs", True),
        ("logs", "a/logs/b", True),
        ("logs", "a/logs.txt", False),
        ("src/lib", "src/lib/a.py", True),
        ("src/lib", "x/src/lib/a.py", False),  # a middle slash ties to the root
        ("/*", "top.txt", True),
        ("/*", "dir/top.txt", False),
        ("/*.md", "README.md", True),
        ("/*.md", "docs/a.md", False),
        ("f?o", "foo", True),
        ("f?o", "fo", False),
        ("f?o", "f/o", False),
        ("foo/**/bar", "foo/bar", True),
        ("foo/**/bar", "foo/a/b/bar/c.txt", True),
        ("foo/**/bar", "x/foo/bar", False),
        ("foo/**", "foo/a", True),
        ("foo/**", "foo/a/b", True),
        ("foo/**", "foo", False),
        ("**", "anything/at/all", True),
        ("foo/*/baz", "foo/bar/baz", True),
        ("foo/*/baz", "foo/bar/qux/baz", False),
        ("foo/*.txt", "foo/a.txt", True),
        ("foo/*.txt", "foo/a/b.txt", False),
        ("f\\*o", "f*o", True),
        ("f\\*o", "foo", False),
        ("my\\ file.txt", "my file.txt", True),
        ("/", "anything", False),
        # paths are case-sensitive on GitHub
        ("/Docs/", "docs/a.md", False),
        ("*.JS", "a.js", False),
        # leading slash or ./ in the asked-for path is ignored
        ("/docs/", "/docs/a.md", True),
        ("/docs/", "./docs/a.md", True),
    ],
)
def test_pattern_matching(pattern: str, path: str, matches: bool) -> None:
    codeowners = parse_codeowners(f"{pattern} @owner\n")
    assert codeowners.errors == ()
    assert codeowners.owners_for(path) == (("@owner",) if matches else ())


def test_rule_without_owners_unowns_but_still_decides() -> None:
    codeowners = parse_codeowners("/apps/ @octocat\n/apps/github\n")
    assert codeowners.owners_for("apps/main.py") == ("@octocat",)
    assert codeowners.owners_for("apps/github/main.py") == ()
    assert codeowners.rule_for("apps/github/main.py") == Rule("/apps/github", (), 2)
    assert codeowners.rule_for("README.md") is None


def test_last_matching_rule_wins_not_the_most_specific() -> None:
    codeowners = parse_codeowners("/src/core/ @core\n* @everyone\n")
    assert codeowners.owners_for("src/core/a.py") == ("@everyone",)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("!*.log @octocat", "negation"),
        ("*.[ch] @octocat", "character ranges"),
        ("Python/ceval*.[ch] @markshannon", "character ranges"),
        ("\\#notes @octocat", "escaping"),
        ("a***b @octocat", "three asterisks"),
        ("*.js octocat", "`octocat` is not an owner"),
        ("*.js @octocat @bad/", "`@bad/` is not an owner"),
        ("*.js @-bad", "is not an owner"),
        ("*.js @", "is not an owner"),
    ],
)
def test_lines_github_rejects_are_reported_and_skipped(line: str, reason: str) -> None:
    codeowners = parse_codeowners(f"* @everyone\n{line}\n/docs/ @docs\n")
    assert len(codeowners.errors) == 1
    assert codeowners.errors[0].startswith("line 2: ")
    assert reason in codeowners.errors[0]
    assert line in codeowners.errors[0]
    assert [r.line for r in codeowners.rules] == [1, 3]
    assert codeowners.owners_for("x.c") == ("@everyone",)
    assert codeowners.owners_for("docs/a.md") == ("@docs",)


@pytest.mark.parametrize(
    ("text", "path", "owners"),
    [
        ("*.js @a # @b is not an owner", "a.js", ("@a",)),
        ("*.js @a #@b", "a.js", ("@a",)),
        ("  *.js\t@a\t@b  ", "a.js", ("@a", "@b")),
        ("# *.js @commented", "a.js", ()),
        ("*.js @a@b.com", "a.js", ()),  # an invalid owner voids the whole line
        ("*.js first.last+tag@example.co.uk", "a.js", ("first.last+tag@example.co.uk",)),
        ("*.js @octo-org/team_name.v2", "a.js", ("@octo-org/team_name.v2",)),
        ("\r\n*.js @a\r\n", "a.js", ("@a",)),
        ("", "a.js", ()),
    ],
)
def test_line_syntax(text: str, path: str, owners: tuple[str, ...]) -> None:
    assert parse_codeowners(text).owners_for(path) == owners


def test_owners_for_paths_dedupes_in_first_seen_order() -> None:
    codeowners = parse_codeowners(
        "* @everyone\n*.js @web @Everyone\n*.go @backend @web\n/vendor/\n"
    )
    paths = ["b.go", "a.js", "README.md", "vendor/x.go", "c.go"]
    # "@Everyone" (from a.js) and "@everyone" (README.md) are one user: the first spelling stays
    assert codeowners.owners_for_paths(paths) == ("@backend", "@web", "@Everyone")
    assert codeowners.owners_for_paths([]) == ()
    assert codeowners.owners_for_paths(["vendor/x.go"]) == ()


def test_rules_keep_their_line_numbers() -> None:
    codeowners = parse_codeowners("# header\n\n*.js @a\n/docs/ @b c@d.io\n")
    assert codeowners.rules == (
        Rule("*.js", ("@a",), 3),
        Rule("/docs/", ("@b", "c@d.io"), 4),
    )


def test_search_order_is_githubs() -> None:
    assert CODEOWNERS_PATHS == (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
