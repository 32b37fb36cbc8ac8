"""Sandboxed Jinja2 templates over an event, with the defaults most users keep."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from loadtester.event import sample_event

DEFAULT_TITLE = "{{ name }}.{{ namespace }}"
DEFAULT_TEXT = "{{ message }}{% if count > 1 %} (repeated {{ count }} times){% endif %}"

_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
_ENV.filters["tojson"] = lambda value: json.dumps(value, default=str)


class TemplateProblem(ValueError):
    """A template that does not compile or does not render."""


class Template:
    """One compiled template; renders to text."""

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._template = _ENV.from_string(source)
        except TemplateError as exc:
            raise TemplateProblem(_describe(exc)) from None

    def render(self, context: dict[str, Any]) -> str:
        try:
            return self._template.render(context).strip()
        except TemplateError as exc:
            raise TemplateProblem(_describe(exc)) from None
        except Exception as exc:  # a sandboxed template can still divide by zero
            raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None

    def check(self) -> None:
        """Render once against a sample event so that mistakes show at start-up."""
        self.render(sample_event().context(2))


def compile_template(source: str | None, default: str) -> Template:
    return Template(default if source is None else source)


def _describe(exc: TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    where = f" (template line {line})" if line else ""
    return f"template error{where}: {exc.message or type(exc).__name__}"
