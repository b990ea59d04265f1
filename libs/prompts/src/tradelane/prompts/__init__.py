"""Sandboxed Jinja2 prompt templates: the variables a template sees, validation and rendering.

- :mod:`~tradelane.prompts.variables` documents every variable; :mod:`~tradelane.prompts.context`
  builds their values from an execution (or a made-up sample);
- :mod:`~tradelane.prompts.environment` is the sandbox and its filters;
- :mod:`~tradelane.prompts.validation` checks a template before it is saved;
- :mod:`~tradelane.prompts.rendering` renders one, within the limits of
  :mod:`~tradelane.prompts.limits`, in a process of its own (:mod:`~tradelane.prompts.isolation`),
  forked by a :mod:`~tradelane.prompts.zygote`, which runs :mod:`~tradelane.prompts.worker`
  and renders with :mod:`~tradelane.prompts.bounded`;
  :mod:`~tradelane.prompts.errors` are what it raises;
- :mod:`~tradelane.prompts.answer` is the JSON answer every template asks the model for;
- :mod:`~tradelane.prompts.defaults` holds the built-in templates.
"""
