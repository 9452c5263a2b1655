"""The library names settings by their KEY; only the command line knows flags.

Every user error raised under ``src/simrnn`` outside ``cli/`` (``UserInputError``, ``Interrupted`` and
their subclasses) must name a setting as its key and pass ``key=``; the CLI's error boundary writes
the key as the running command's flag (``cli.output.translated``). A ``--flag`` written into a
library sentence is wrong for Python callers and for every command whose option has another name
(``simrnn demo --calibration-walkers`` said ``--walkers``). This test finds such sentences by
reading the source (string literals and f-string parts of the first argument of each raise).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import simrnn
from simrnn.cli.output import translated

SRC = Path(simrnn.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
BASE_ERRORS = {"UserInputError", "Interrupted"}

#: (file under src/simrnn, flag): sentences that truly are about the command line, with the reason.
ALLOWED = {
    # hpc.batch_script: the job's command is an argument list; the example is a simrnn command line.
    ("hpc.py", "--storage"),
    ("hpc.py", "--study"),
}


def user_error_classes(trees: list[ast.Module]) -> set[str]:
    """``UserInputError``, ``Interrupted`` and every class that derives from one of them (any module)."""
    names = set(BASE_ERRORS)
    classes = [node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    while True:
        more = {c.name for c in classes if c.name not in names
                and any(isinstance(b, ast.Name) and b.id in names for b in c.bases)}
        if not more:
            return names
        names |= more


def message_text(node: ast.expr) -> str:
    """The literal parts of a message expression (string constants, f-string parts, ``+`` of both)."""
    return " ".join(n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def flags_in_user_errors(tree: ast.Module, classes: set[str]) -> list[tuple[int, str]]:
    """``(line, flag)`` for every ``--flag`` in the message of a call of one of ``classes``."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in classes:
            found += [(node.lineno, flag) for flag in FLAG.findall(message_text(node.args[0]))]
    return found


def library_sources() -> dict[str, ast.Module]:
    return {p.relative_to(SRC).as_posix(): ast.parse(p.read_text(encoding="utf-8"))
            for p in sorted(SRC.rglob("*.py")) if p.relative_to(SRC).parts[0] != "cli"}


def test_no_library_user_error_names_a_command_line_flag():
    sources = library_sources()
    classes = user_error_classes(list(sources.values()))
    assert {"UserInputError", "Interrupted", "TrainingDivergedError", "TrainingInterrupted"} <= classes
    found = [f"{path}:{line}: {flag}" for path, tree in sources.items()
             for line, flag in flags_in_user_errors(tree, classes) if (path, flag) not in ALLOWED]
    assert not found, ("library error messages name CLI flags; name the setting's key and pass key= "
                       "(the CLI shows the flag):\n" + "\n".join(found))


def constant_keys(call: ast.Call) -> tuple[str, ...]:
    """The ``key=`` of a user-error call when written as a string or a tuple of strings, else ()."""
    for keyword in call.keywords:
        if keyword.arg == "key":
            nodes = keyword.value.elts if isinstance(keyword.value, ast.Tuple) else [keyword.value]
            if all(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in nodes):
                return tuple(n.value for n in nodes)
    return ()


def test_every_constant_key_is_written_in_its_sentence():
    """The CLI turns the key's first mention into the flag; a key the sentence never writes shows nothing."""
    sources = library_sources()
    classes = user_error_classes(list(sources.values()))
    missing = []
    for path, tree in sources.items():
        for node in ast.walk(tree):
            func = getattr(node, "func", None)
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if not (isinstance(node, ast.Call) and name in classes and node.args):
                continue
            if isinstance(node.args[0], ast.Constant | ast.JoinedStr | ast.BinOp):  # a sentence written here
                text = message_text(node.args[0])
                missing += [f"{path}:{node.lineno}: {key}" for key in constant_keys(node)
                            if not re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", text)]
    assert not missing, "key= names a setting its sentence does not write:\n" + "\n".join(missing)


def test_the_allow_list_holds_only_flags_still_written():
    sources = library_sources()
    classes = user_error_classes(list(sources.values()))
    written = {(path, flag) for path, tree in sources.items() for _, flag in flags_in_user_errors(tree, classes)}
    assert written >= ALLOWED, f"stale allow-list entries: {sorted(ALLOWED - written)}"


def test_the_scan_finds_flags_in_plain_and_f_string_messages():
    tree = ast.parse(
        "class Mine(UserInputError): ...\n"
        "raise UserInputError(f'--walkers {n} must be even; see --steps.', key='walkers')\n"
        "raise errors.Mine('give ' + '--raw-data FILE')\n"
        "raise ValueError('--not-a-user-error')\n"
        "raise UserInputError('walkers must be even; x--y and -- alone are no flags', key='walkers')\n"
    )
    classes = user_error_classes([tree])
    assert flags_in_user_errors(tree, classes) == [(2, "--walkers"), (2, "--steps"), (3, "--raw-data")]


CASES = {
    "alias": ("walkers must be even, got 1.", "walkers", "--calibration-walkers must be even, got 1."),
    "two keys": ("walkers x max_steps is 8 x 9.", ("walkers", "max_steps"),
                 "--calibration-walkers x --max-steps is 8 x 9."),
    "path": ("runs/cache/cache.h5: changed; give another cache.", "cache",
             "runs/cache/cache.h5: changed; give another --cache."),
    "no option": ("seed must be from 0, got -1.", "seed", "seed must be from 0, got -1."),
}


@pytest.mark.parametrize("case", CASES)
def test_a_command_shows_each_key_as_its_own_flag(case):
    import typer
    from typer.testing import CliRunner

    from simrnn.cli.output import exit_on_user_error, key_aliases
    from simrnn.errors import UserInputError

    toy = typer.Typer()

    @toy.command()
    @key_aliases(walkers="calibration_walkers")
    def go(name: str, calibration_walkers: int = 2, max_steps: int = 5, cache: str = "c.h5") -> None:
        message, key, _ = CASES[name]
        with exit_on_user_error():
            raise UserInputError(message, key=key)

    result = CliRunner().invoke(toy, [case])
    assert result.exit_code == 2 and result.output.strip() == f"error: {CASES[case][2]}", result.output
    assert translated(UserInputError(*CASES[case][:1], key=CASES[case][1])) == CASES[case][0]  # no command: keys
