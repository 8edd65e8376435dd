"""The house rules that a reading of the source can check: imports run one way between parts, the tracer lives
in the study (no function defaults to a tracer), modules and functions stay small."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "petseg"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60
# Parts that must never import one another, in either direction or at all (including imports inside functions).
NEVER = [("train", "infer"), ("infer", "train"), ("recipe", "torch"), ("recipe", "monai"), ("io", "models"),
         ("metrics", "torch"), ("quantify", "torch"), ("report", "api"), ("report", "torch"), ("methods", "torch"),
         ("cli", "torch"), ("cli", "monai")]


def part(module: str) -> str:
    """The top-level part of a dotted module name inside petseg (petseg.infer.windows -> infer)."""
    pieces = module.split(".")
    return pieces[1] if pieces[0] == "petseg" and len(pieces) > 1 else pieces[0]


def imports() -> dict[str, set[str]]:
    """Every module's imported modules (absolute names; TYPE_CHECKING-only imports left out)."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in SOURCE.rglob("*.py"):
        module = "petseg." + ".".join(path.relative_to(SOURCE).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.Import):
                found[module] |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found[module].add(node.module)
    return found


def part_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in imports().items():
        for target in targets:
            if target.startswith("petseg") and part(target) != part(module):
                graph[part(module)].add(part(target))
    return graph


def test_no_import_loop_between_parts():
    graph = part_graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                pytest.fail(f"import loop: {' -> '.join([*trail, node, target])}")
            if target not in state:
                visit(target, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_parts_that_must_not_meet_do_not():
    found = imports()
    for source, forbidden in NEVER:
        for module, targets in found.items():
            if part(module) == source:
                bad = [t for t in targets if part(t) == forbidden or t.split(".")[0] == forbidden]
                assert not bad, f"{module} imports {bad}"


def test_no_function_defaults_to_a_tracer():
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
                named = [ast.literal_eval(d) for d in defaults if isinstance(d, ast.Constant)]
                assert not {"fdg", "psma"} & {str(v).lower() for v in named}, f"{path.name}:{node.name}"


def test_modules_and_functions_stay_small():
    for path in SOURCE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.relative_to(SOURCE)} is over {MAX_MODULE_LINES}"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                assert length <= MAX_FUNCTION_LINES, f"{path.name}:{node.name} has {length} lines"
