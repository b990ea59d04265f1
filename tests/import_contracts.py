"""An import-linter contract type that allows a package a list of imports and refuses the rest.

import-linter's own ``forbidden`` contract names what may not be imported, so a package could
start using a library nobody thought to forbid. ``only_imports`` turns it round: the source
package may import itself, the standard library and the modules listed, and nothing else
(``tradelane.contracts`` may import pydantic only, so every service and library can depend
on it without pulling in anything more). ``make lint`` runs it through ``lint-imports``;
the contracts themselves are in ``[tool.importlinter]`` of the root ``pyproject.toml``.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import grimp
from importlinter import Contract, ContractCheck, fields, output


class OnlyImportsContract(Contract):
    """``source_module`` imports only itself, the standard library and ``allowed_modules``."""

    type_name: ClassVar[str] = "only_imports"

    source_module = fields.ModuleField()
    allowed_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        del verbose
        source: str = self.source_module.name  # type: ignore[attr-defined]
        allowed = {source, *self.allowed_modules}  # type: ignore[misc]
        illegal: list[dict[str, Any]] = []
        for importer in sorted(graph.find_descendants(source) | {source}):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if not _is_allowed(imported, allowed):
                    details = graph.get_import_details(importer=importer, imported=imported)
                    lines = [detail["line_number"] for detail in details]
                    illegal.append({"importer": importer, "imported": imported, "line_numbers": lines})
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for found in check.metadata["illegal"]:
            lines = ", ".join(str(line) for line in found["line_numbers"])
            output.print_error(f"- {found['importer']} -> {found['imported']} (l.{lines})", bold=False)
        output.new_line()


def _is_allowed(imported: str, allowed: set[str]) -> bool:
    if imported.split(".", maxsplit=1)[0] in sys.stdlib_module_names:
        return True
    return any(imported == name or imported.startswith(f"{name}.") for name in allowed)
