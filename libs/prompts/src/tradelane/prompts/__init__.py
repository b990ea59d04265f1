"""Sandboxed Jinja2 prompt templates: the variables a template sees, validation and rendering."""
