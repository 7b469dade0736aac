"""Every refusal the app can post is in the README's Troubleshooting section.

The texts are read from the code, not listed here: every string literal (and every literal
part of an f-string) in the places below that has three words or more must appear in the
section, word for word (whitespace and `> ` quote marks aside). So a new refusal fails
this test until someone documents it: quote it in the section with `<placeholders>` where
the code fills in values, say what it means and what an admin or the repository changes.

Where refusal texts live (add a line to SOURCES for a new place):
- `Refusal(...)` in app/core/safety.py: the rails for automatic reverts;
- `Reply(...)` in app/core/incident.py: answers to incident commands;
- `*_text` and `reply_*` functions of app/core/revert_messages.py (not `reply_opened`,
  which is not a refusal), every `*_text` function of app/core/landing_messages.py;
- `explain_rejection` in app/core/commands.py;
- why a bisection stopped (app/core/bisect.py) and why nothing was reverted
  (app/core/revert_plan.py, app/revert/pr.py, app/incident/mitigate.py);
- in app/handlers/* and app/incident/*: any literal posted there (`reply(...)`,
  `comment_on_issue...`, `tell_incident(...)`) and every module-level text constant.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

MIN_WORDS = 3  # shorter literals are glue ("`; ", "Not reverting ") or single words
_WORD = re.compile(r"[A-Za-z]{2,}")
_FIELD = re.compile(r"\{[a-z_]+\}")


@dataclass(frozen=True)
class Literal:
    where: str  # file:function (or file:line)
    text: str


Picker = Callable[[ast.Module], Iterator[tuple[str, ast.AST]]]


def functions(pattern: str, *, but: tuple[str, ...] = ()) -> Picker:
    """Every function whose name matches `pattern` (a regex, matched whole)."""

    def pick(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if re.fullmatch(pattern, node.name) and node.name not in but:
                    yield node.name, node

    return pick


def calls(*names: str) -> Picker:
    """The arguments of every call to one of `names` (a module constant named by an
    argument counts too)."""

    def pick(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
        constants = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in names:
                continue
            for arg in (*node.args, *(k.value for k in node.keywords)):
                yield f"{name}() line {node.lineno}", arg
                for inner in ast.walk(arg):
                    if isinstance(inner, ast.Name) and inner.id in constants:
                        yield inner.id, constants[inner.id]

    return pick


def constants(*names: str) -> Picker:
    def pick(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
        for node in tree.body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id in names:
                        yield target.id, node.value

    return pick


def module_texts() -> Picker:
    """Every module-level string constant (a text kept apart from the code that posts it)."""

    def pick(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
        for node in tree.body:
            if isinstance(node, ast.Assign) and _is_text(node.value):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        yield target.id, node.value

    return pick


def _is_text(value: ast.expr) -> bool:
    """A string, an f-string, or strings joined with `+` (not a mapping of names)."""
    if isinstance(value, ast.BinOp):
        return _is_text(value.left) and _is_text(value.right)
    return isinstance(value, ast.JoinedStr) or (
        isinstance(value, ast.Constant) and isinstance(value.value, str)
    )


def both(*pickers: Picker) -> Picker:
    def pick(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
        for picker in pickers:
            yield from picker(tree)

    return pick


POSTING = ("reply", "comment_on_issue", "comment_on_issue_once", "tell_incident", "_say_once")

SOURCES: list[tuple[str, Picker]] = [
    ("app/core/safety.py", calls("Refusal")),
    ("app/core/incident.py", calls("Reply")),
    ("app/core/revert_messages.py", functions(r".*_text|reply_.*", but=("reply_opened",))),
    ("app/core/landing_messages.py", functions(r".*_text")),
    ("app/core/commands.py", functions("explain_rejection")),
    ("app/core/bisect.py", calls("_inconclusive")),
    ("app/core/bisect.py", functions("_contradiction")),
    ("app/core/revert_plan.py", constants("ALREADY_UNDONE")),
    ("app/revert/pr.py", calls("RevertEmpty")),
    ("app/incident/mitigate.py", calls("RevertOutcome")),
    *(
        (str(p.relative_to(ROOT)), both(calls(*POSTING), module_texts()))
        for p in sorted([*ROOT.glob("app/handlers/*.py"), *ROOT.glob("app/incident/*.py")])
    ),
]


def _strings(node: ast.AST) -> Iterator[str]:
    """The literal text under `node`: constants and the literal parts of f-strings, not
    docstrings, not what sits inside an f-string's `{...}` beyond its own literals."""
    body = getattr(node, "body", None)
    docstring = None
    if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
        value = body[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            docstring = value
    for inner in ast.walk(node):
        if inner is docstring:
            continue
        if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
            yield inner.value


def refusal_literals() -> list[Literal]:
    found: dict[str, Literal] = {}
    for path, pick in SOURCES:
        tree = ast.parse((ROOT / path).read_text())
        for where, node in pick(tree):
            for literal in _strings(node):
                if "<!--" in literal or " " not in literal.strip():
                    continue  # hidden markers; identifiers (rule ids, keys)
                for text in _FIELD.split(literal):  # str.format templates: fields vary
                    if len(_WORD.findall(text)) >= MIN_WORDS:
                        found.setdefault(_flat(text), Literal(f"{path}:{where}", text))
    return list(found.values())


def _flat(text: str) -> str:
    return " ".join(text.split())


def troubleshooting() -> str:
    section = README.split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    unquoted = re.sub(r"^[ \t]*(?:> ?)+", "", section, flags=re.M)
    return _flat(unquoted)


def test_every_refusal_the_code_can_post_is_in_troubleshooting() -> None:
    literals = refusal_literals()
    assert len(literals) > 40  # the sources above still hold the texts
    documented = troubleshooting()
    missing = [lit for lit in literals if _flat(lit.text) not in documented]
    assert not missing, (
        "Quote these refusal texts in README.md's Troubleshooting section (values the code "
        "fills in as <placeholders>), with what they mean and what to change:\n"
        + "\n".join(f"  {lit.where}: {lit.text.strip()!r}" for lit in missing)
    )


def test_the_sources_exist() -> None:
    for path, _pick in SOURCES:
        assert (ROOT / path).is_file(), path
