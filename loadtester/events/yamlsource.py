"""YAML with a line number for every key, so that a mistake can name its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SINK_TYPES = frozenset({"slack", "msteams", "discord", "gchat", "rocket", "webhook",
                        "alertmanager"})


class ConfigError(Exception):
    """A wrong events configuration; the message is one line naming the place."""


class Source:
    """The file's name and the line of every key, to point at mistakes."""

    def __init__(self, name: str, lines: dict[tuple[Any, ...], int], flag: bool = False) -> None:
        self.name = name
        self.lines = lines
        self.flag = flag

    def error(self, loc: tuple[Any, ...], problem: str) -> ConfigError:
        if self.flag:
            return ConfigError(f"{self.name}: {problem.splitlines()[0] if problem else problem}")
        path: tuple[Any, ...] = ()
        shown: list[str] = []
        for index, part in enumerate(loc):
            if (*path, part) in self.lines:
                path = (*path, part)
            elif index == 2 and loc[0] == "sinks" and part in SINK_TYPES:
                continue  # the discriminator pydantic puts in the location
            shown.append(str(part))
        line = self.lines.get(path, 1)
        where = ".".join(shown)
        problem = problem.splitlines()[0] if problem else "invalid"
        return ConfigError(f"{self.name}:{line}: {where + ': ' if where else ''}{problem}")


def _key_lines(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            lines[child] = key.start_mark.line + 1
            _key_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _key_lines(item, (*path, index), lines)


def read_yaml(path: str) -> tuple[Any, Source]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _key_lines(node, (), lines)
    return data, Source(path, lines)
