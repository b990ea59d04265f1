"""What goes wrong when a template renders: a bad template, or one that exceeds the render limits."""

from __future__ import annotations


class TemplateRenderError(ValueError):
    """A template could not be rendered; ``line`` is the template line at fault, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
        self.message = message
        self.line = line


class TemplateLimitError(TemplateRenderError):
    """Rendering was stopped because it exceeded a limit (time, output, memory, size of a value)."""
