"""The ``only_imports`` contract type: the package, the standard library and the allowed modules pass; nothing else."""

from __future__ import annotations

import grimp

from tests.import_contracts import OnlyImportsContract


def _graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "other"):
        graph.add_module(module)
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported, line_number=3, line_contents=f"import {imported}")
    return graph


def _contract() -> OnlyImportsContract:
    options = {"source_module": "pkg", "allowed_modules": ["pydantic"]}
    return OnlyImportsContract(name="pkg imports pydantic only", session_options={}, contract_options=options)


def test_itself_the_standard_library_and_the_allowed_modules_keep_it() -> None:
    graph = _graph(("pkg.a", "pkg.b"), ("pkg.a", "decimal"), ("pkg.b", "pydantic.fields"), ("other", "structlog"))
    assert _contract().check(graph, verbose=False).kept


def test_another_library_or_package_breaks_it_and_is_named() -> None:
    graph = _graph(("pkg.a", "structlog"), ("pkg.b", "other"), ("pkg.b", "pydantic_settings"))
    check = _contract().check(graph, verbose=False)
    assert not check.kept
    assert [(found["importer"], found["imported"]) for found in check.metadata["illegal"]] == [
        ("pkg.a", "structlog"),
        ("pkg.b", "other"),
        ("pkg.b", "pydantic_settings"),
    ]
