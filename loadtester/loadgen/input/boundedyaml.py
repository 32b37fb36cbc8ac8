"""YAML from callers, read at a bounded cost: no anchors or aliases (an alias bomb of a few
hundred bytes expands to millions of values), at most so many values, nested at most so deep,
and a named top-level sequence (a scenario's ``requests``) cut at its limit as it is read.

libyaml's C parser (PyYAML's wheels include it; PyYAML's pure-Python parser where it is
missing) reads the events and a composer of ours builds the nodes, one at a time, so the
refusal comes at the first anchor, or at the first value past a budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, Event, NodeEvent, SequenceEndEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

__all__ = ["DocumentRefused", "TooManyItems", "load_bounded"]


class DocumentRefused(ValueError):
    """The document uses anchors or aliases, or passes a budget; the message says which."""


class TooManyItems(DocumentRefused):
    """The top-level sequence under ``key`` has more than ``limit`` items."""

    def __init__(self, key: str, limit: int) -> None:
        super().__init__(f"{key} has more than {limit} items")
        self.key = key
        self.limit = limit


class _BoundedComposer(Composer):
    """Composer that refuses anchors and aliases and counts what it builds."""

    if TYPE_CHECKING:  # from the parser the loader mixes in
        def check_event(self, *choices: type[Event]) -> bool: ...
        def peek_event(self) -> Event: ...
        def get_event(self) -> Event: ...
        def resolve(self, kind: type[Node], value: str | None, implicit: Any) -> str: ...

    def _start_budget(self, max_nodes: int, max_depth: int, max_items: Mapping[str, int]) -> None:
        self._max_nodes, self._max_depth, self._max_items = max_nodes, max_depth, max_items
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent) or (isinstance(event, NodeEvent)
                                             and event.anchor is not None):
            line = event.start_mark.line + 1 if event.start_mark is not None else 0
            raise DocumentRefused(f"YAML anchors and aliases are not allowed (line {line})")
        self._nodes += 1
        if self._nodes > self._max_nodes:
            raise DocumentRefused(f"more than {self._max_nodes} YAML values")
        self._depth += 1
        if self._depth > self._max_depth:
            raise DocumentRefused(f"YAML nested more than {self._max_depth} deep")
        limit = None
        if self._depth == 2 and isinstance(index, ScalarNode) and isinstance(parent, MappingNode):
            limit = self._max_items.get(index.value)
        if limit is not None and self.check_event(SequenceStartEvent):
            node: Node | None = self._compose_limited_sequence(index.value, limit)
        else:
            node = super().compose_node(parent, index)
        self._depth -= 1
        return node

    def _compose_limited_sequence(self, key: str, limit: int) -> SequenceNode:
        """Composer.compose_sequence_node, refusing past ``limit`` items as they come."""
        start = self.get_event()
        assert isinstance(start, SequenceStartEvent)
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(SequenceNode, None, start.implicit)
        mark: Any = start.start_mark  # libyaml's Mark, or PyYAML's
        node = SequenceNode(tag, [], mark, None, flow_style=start.flow_style)
        while not self.check_event(SequenceEndEvent):
            if len(node.value) == limit:
                raise TooManyItems(key, limit)
            node.value.append(self.compose_node(node, len(node.value)))
        node.end_mark = self.get_event().end_mark
        return node


class _PyLoader(Reader, Scanner, Parser, _BoundedComposer, SafeConstructor, Resolver):
    """PyYAML's pure-Python parser: where PyYAML was built without libyaml."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        _BoundedComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


_Loader: type[_PyLoader] = _PyLoader
if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _CLoader(_BoundedComposer, CParser, SafeConstructor, Resolver):
        """libyaml's parser, our composer."""

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            _BoundedComposer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _Loader = _CLoader  # type: ignore[assignment]


def load_bounded(text: str, *, max_nodes: int, max_depth: int,
                 max_items: Mapping[str, int] | None = None, pure_python: bool = False) -> Any:
    """The one document in ``text`` as safe_load builds it, or DocumentRefused; malformed
    YAML raises yaml.YAMLError as safe_load does. ``max_items`` caps the sequences under
    the given top-level keys; ``pure_python`` reads with PyYAML's parser even where libyaml
    is there (the fallback, for tests)."""
    loader = (_PyLoader if pure_python else _Loader)(text)
    try:
        loader._start_budget(max_nodes, max_depth, max_items or {})
        return loader.get_single_data()
    finally:
        loader.dispose()

