"""``yaml.safe_load`` with a bound on what aliases expand to.

``safe_load`` never runs code, but YAML aliases (``*name``) let a few hundred bytes stand for
billions of values (the "billion laughs" file). PyYAML builds such a file quickly, since every
alias is the same object, but the first code that walks it (``str()`` of a class name, an
error message quoting a value) then runs for minutes and fills memory. This reader composes
the document first, counts the values it stands for with aliases expanded (each distinct node
counted once, so the count itself is quick), and refuses the file before building any of it.
"""

from __future__ import annotations

from typing import Any

import yaml

# A dataset or model yaml lists at most some tens of thousands of values (ImageNet-21k's
# 21,841 class names are the largest real case we know); a million leaves a wide margin and is
# still walked in well under a second by the code that reads the result.
MAX_EXPANDED_VALUES = 1_000_000


class YamlTooLarge(yaml.MarkedYAMLError):
    """A YAML document whose aliases expand past ``MAX_EXPANDED_VALUES`` or refer to
    themselves. A ``MarkedYAMLError``, so callers that report YAML errors with their line
    report this one too."""


def safe_load_bounded(text: str, *, limit: int = MAX_EXPANDED_VALUES) -> Any:
    """Parse ``text`` as ``yaml.safe_load`` does, refusing alias bombs and self-references.

    Raises ``YamlTooLarge`` (with the line of the offending alias) or another
    ``yaml.YAMLError`` for text that is not YAML.
    """
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError as exc:
            raise YamlTooLarge(problem="nested too deeply to read") from exc
        if node is None:
            return None
        _check_expanded_size(node, limit)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def oversized_value(value: Any, *, limit: int = MAX_EXPANDED_VALUES) -> str | None:
    """Why plain data (dicts, lists, tuples) read from a file is refused, or None.

    Unpickled data can share and nest references as YAML aliases do (a checkpoint's model
    yaml, for one), so it gets the same bound: what it stands for with shared values expanded,
    counted once per distinct container, and no container inside itself.
    """
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, children_done = stack.pop()
        key = id(item)
        if key in sizes:
            continue
        children = _plain_children(item) or []
        if children_done:
            open_ids.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(child), 1) for child in children)
            if sizes[key] > limit:
                return f"it stands for more than {limit:,} values (shared references repeated)"
            continue
        if key in open_ids:
            return "it contains itself"
        open_ids.add(key)
        stack.append((item, True))
        stack.extend((child, False) for child in children if isinstance(child, dict | list | tuple))
    return None


def _plain_children(item: Any) -> list[Any] | None:
    if isinstance(item, dict):
        return [part for pair in item.items() for part in pair]
    if isinstance(item, list | tuple):
        return list(item)
    return None


def _check_expanded_size(root: yaml.Node, limit: int) -> None:
    """Count the values ``root`` stands for with aliases expanded; raise past ``limit``.

    Iterative post-order walk: a node's size is one plus its children's, and a node reached
    again through an alias reuses its size, so the walk visits each distinct node once.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > limit:
                raise YamlTooLarge(
                    problem=(
                        f"its aliases (*name) expand to more than {limit:,} values; refused "
                        "as an alias bomb. Write the values out instead of repeating aliases"
                    ),
                    problem_mark=node.start_mark,
                )
            continue
        if key in open_nodes:
            raise YamlTooLarge(
                problem="an alias (*name) refers to a value that contains it; refused",
                problem_mark=node.start_mark,
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
