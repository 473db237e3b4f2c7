"""YAML as ``yaml.safe_load`` reads it, except that a key given twice in a mapping is an error.

PyYAML keeps the last of two equal keys: a second ``train:`` section would silently replace
the first and every value of the first would fall back to its default. Merge keys (``<<``)
still override as YAML defines.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError

__all__ = ["UniqueKeyLoader", "load_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a key repeated in one mapping (naming key and lines)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = first_line.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own error says so below
                continue
            if first is not None:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key '{key}' (first given at line {first}); "
                    "merge the two entries into one",
                    key_node.start_mark,
                )
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)`` with duplicate keys rejected (a ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass: safe_load semantics
