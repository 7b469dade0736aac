"""Who owns a path, by GitHub's CODEOWNERS rules (used to tell the right people).

GitHub's semantics, which differ from plain gitignore in ways that matter:
- the LAST matching rule wins, and a rule with no owners leaves the path unowned;
- `docs/*` covers files directly in `docs/` only, not `docs/a/b.md`;
- `!` negation, `[ ]` ranges and `\\#` escapes do not work: GitHub skips such lines,
  and so do we, reporting them in `errors`;
- paths are case-sensitive; `#` after whitespace starts a comment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")  # GitHub's order

_USER = r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_TEAM = r"@[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9._-]*"
_EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"
_OWNER = re.compile(f"{_TEAM}|{_USER}|{_EMAIL}")
_NEVER = re.compile(r"(?!)")


@dataclass(frozen=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    line: int

    def matches(self, path: str) -> bool:
        return _compile(self.pattern).fullmatch(_normalise(path)) is not None


@dataclass(frozen=True)
class CodeOwners:
    rules: tuple[Rule, ...] = ()
    errors: tuple[str, ...] = field(default=())  # "line N: why: the line", each skipped

    def rule_for(self, path: str) -> Rule | None:
        """The deciding rule (the last that matches), None when no rule matches."""
        for rule in reversed(self.rules):
            if rule.matches(path):
                return rule
        return None

    def owners_for(self, path: str) -> tuple[str, ...]:
        rule = self.rule_for(path)
        return rule.owners if rule else ()

    def owners_for_paths(self, paths: Iterable[str]) -> tuple[str, ...]:
        """Everyone owning any of the paths, each once (case-insensitively), first seen first."""
        seen: dict[str, str] = {}
        for path in paths:
            for owner in self.owners_for(path):
                seen.setdefault(owner.casefold(), owner)
        return tuple(seen.values())


def _normalise(path: str) -> str:
    path = path.removeprefix("./")
    return path.lstrip("/")


def _split_line(line: str) -> list[str]:
    """Whitespace-separated tokens; `\\ ` keeps a space inside the pattern."""
    tokens: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line) and line[i + 1] in " \t":
            current.append("\\" + line[i + 1])
            i += 2
            continue
        if char in " \t":
            if current:
                tokens.append("".join(current))
                current = []
        else:
            current.append(char)
        i += 1
    if current:
        tokens.append("".join(current))
    return tokens


def _pattern_problem(pattern: str) -> str | None:
    if pattern.startswith("\\#"):
        return "escaping `#` with `\\` does not work in CODEOWNERS"
    if pattern.startswith("!"):
        return "`!` negation does not work in CODEOWNERS"
    if "[" in pattern or "]" in pattern:
        return "`[ ]` character ranges do not work in CODEOWNERS"
    if "***" in pattern:
        return "a pattern cannot hold three asterisks in a row"
    return None


def parse_codeowners(text: str) -> CodeOwners:
    rules: list[Rule] = []
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = _split_line(line)
        pattern, rest = tokens[0], tokens[1:]
        owners: list[str] = []
        for token in rest:
            if token.startswith("#"):
                break  # an inline comment ends the line
            owners.append(token)
        problem = _pattern_problem(pattern)
        if problem is None:
            bad = [o for o in owners if not _OWNER.fullmatch(o)]
            if bad:
                problem = f"`{bad[0]}` is not an owner (@user, @org/team or an email address)"
        if problem:
            errors.append(f"line {number}: {problem}: {line}")
            continue
        rules.append(Rule(pattern=pattern, owners=tuple(owners), line=number))
    return CodeOwners(rules=tuple(rules), errors=tuple(errors))


def _segment(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "\\" and i + 1 < len(segment):
            out.append(re.escape(segment[i + 1]))
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    anchored = pattern.startswith("/")
    body = pattern[1:] if anchored else pattern
    directory_only = body.endswith("/")
    body = body[:-1] if directory_only else body
    if not body:
        return _NEVER  # "/" alone names no file
    segments = body.split("/")
    # gitignore: a slash at the start or in the middle ties the pattern to the root;
    # a lone name (`apps/`, `*.js`, `logs`) matches at any depth.
    regex = "(?:.*/)?" if not anchored and len(segments) == 1 else ""
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex += ".+" if last else "(?:[^/]+/)*"
        else:
            regex += _segment(segment) + ("" if last else "/")
    if segments[-1] == "**":
        pass  # already covers everything below
    elif directory_only:
        regex += "/.+"  # only things inside the directory, not a file of that name
    elif segments[-1] == "*" and (anchored or len(segments) > 1):
        pass  # `docs/*`: files directly in docs/, not deeper (GitHub's documented rule)
    else:
        regex += "(?:/.*)?"  # the file itself, or everything in a directory of that name
    return re.compile(regex)
