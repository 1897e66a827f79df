"""The Python examples in README.md and docs/*.md stay true to the API: each block compiles, its
imports resolve, and every keyword it passes to an imported config dataclass is one of its fields
(tests/test_documented_commands.py does the same for the shell commands)."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re

import pytest

from tests.test_documented_commands import DOCUMENTS, ROOT

BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for doc in DOCUMENTS:
        for number, match in enumerate(BLOCK.finditer(doc.read_text()), start=1):
            found.append((f"{doc.relative_to(ROOT)}#{number}", match.group(1)))
    return found


def _imported_names(tree: ast.Module) -> dict[str, object]:
    """Run the block's imports only (the rest trains models or reads runs that do not exist here)."""
    names: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                names[alias.asname or alias.name] = getattr(module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name] = importlib.import_module(alias.name)
    return names


BLOCKS = _blocks()


def test_the_docs_have_python_examples():
    assert len(BLOCKS) >= 5  # a broken pattern would otherwise pass every test below vacuously


@pytest.mark.parametrize("where,code", BLOCKS, ids=[where for where, _ in BLOCKS])
def test_a_documented_python_example_matches_the_api(where, code):
    tree = ast.parse(code, filename=where)
    names = _imported_names(tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        target = names.get(node.func.id)
        if isinstance(target, type) and dataclasses.is_dataclass(target):
            fields = {field.name for field in dataclasses.fields(target)}
            unknown = [kw.arg for kw in node.keywords if kw.arg is not None and kw.arg not in fields]
            assert not unknown, f"{where}: {target.__name__} has no field {unknown}"
            assert len(node.args) <= len(fields), f"{where}: too many positional arguments to {target.__name__}"
