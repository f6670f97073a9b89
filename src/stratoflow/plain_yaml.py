"""YAML from people, read as plain data that is safe to walk, store and serialise.

``yaml.safe_load`` builds only plain types, yet two YAML features still make its result
dangerous to the code that uses it: an alias inside its own anchor (``a: &x [*x]``,
``variables: &v {O3: *v}``) builds a structure that contains itself, on which ``json.dumps``
fails and a recursive walk never ends; and aliases of aliases (the "billion laughs" document)
build a small object graph that expands to billions of values as soon as something copies or
serialises it. Job definitions, QC configurations and the review page's forms all store what
they read as JSON, so every place that parses user YAML reads it with :func:`load_plain_yaml`,
which refuses both with an error that names the line, before anything is built.

Example::

    data = load_plain_yaml(text)   # raises UnsafeYAML (a yaml.YAMLError) for the above
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from stratoflow.errors import ConfigError, StratoflowError

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "UnsafeYAML",
    "load_plain_yaml",
    "parse_yaml",
    "read_text_file",
    "read_yaml_file",
    "yaml_problem",
]

#: How many values aliases may add to a document when it is expanded (written out in full).
#: Reusing a block a few times adds a handful; a billion-laughs document adds billions.
MAX_ALIAS_EXPANSION = 100_000

# libyaml's parser when PyYAML was built with it: faster, and it limits the nesting depth
# itself (the pure-Python composer recurses and would hit Python's recursion limit)
_SAFE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LOADER(_SAFE):  # type: ignore[misc,valid-type]
    """The safe loader, refusing a key given twice in one mapping.

    PyYAML keeps the last of two equal keys without a word: a QC profile written twice, a
    second ``tests:`` in one profile or a manager's ``options:`` given twice silently dropped
    the first. Merge keys (``<<: *anchor``) may still be overridden.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the constructor below says so
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice (the first would be ignored)",
                    key_node.start_mark,
                )
        out: dict[Any, Any] = super().construct_mapping(node, deep)
        return out


class UnsafeYAML(yaml.MarkedYAMLError):
    """A YAML document that is valid but cannot be read as plain data (see the module).

    A :class:`yaml.YAMLError`, so callers that already report YAML errors with their line
    report this one too.
    """


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check(root: yaml.Node) -> None:
    """Refuse a node graph with a cycle or one that expands to too many values.

    Iterative (no recursion limit); the expanded size is counted once per distinct node, so
    the check is linear in the size of the document as written.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            continue
        if key in size:
            continue
        if key in on_path:
            mark = node.start_mark
            raise UnsafeYAML(
                problem="an alias refers to the anchor it is inside (a structure that "
                "contains itself), which plain data cannot hold; write the values out",
                problem_mark=mark,
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)
    written = len(size)
    expanded = size[id(root)]
    if expanded - written > MAX_ALIAS_EXPANSION:
        raise UnsafeYAML(
            problem=f"aliases expand this document of {written} values to {expanded} "
            f"(more than {MAX_ALIAS_EXPANSION} added); refused as a 'billion laughs' "
            "document, write the values out or use fewer nested aliases",
            problem_mark=root.start_mark,
        )


def load_plain_yaml(text: str | bytes) -> Any:
    """The plain data of one YAML document (None for an empty one), checked as described.

    Raises :class:`yaml.YAMLError`: a syntax error, or :class:`UnsafeYAML` for a document
    that contains itself, expands too much through aliases or nests too deeply.
    """
    loader = _LOADER(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:  # the pure-Python composer on a very deeply nested document
            raise UnsafeYAML(problem="nested too deeply to be read") from None
        if node is None:
            return None
        _check(node)
        try:
            return loader.construct_document(node)
        except RecursionError:
            raise UnsafeYAML(
                problem="nested too deeply to be read", problem_mark=node.start_mark
            ) from None
    finally:
        loader.dispose()


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: ``line 2, column 1: not valid YAML: did not find expected
    ',' or ']'``.

    PyYAML's own message spans several lines and quotes ``"<unicode string>"`` for where the
    text came from; the caller names the file, and a command's error is one line.
    """
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML: " + " ".join(str(problem).split())


def parse_yaml(text: str | bytes, source: str, error: type[StratoflowError] = ConfigError) -> Any:
    """``text`` as plain data (:func:`load_plain_yaml`); not valid YAML is one line of
    ``error``: ``{source}: line 2, column 1: not valid YAML: ...``.

    ``source`` says where the text came from and what it should hold (``"qc.yaml: QC
    configuration"``, ``"QC configuration 'tight-o3'"``): a file and a text typed into a form
    are reported alike.
    """
    try:
        return load_plain_yaml(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: {yaml_problem(exc)}") from exc


def read_text_file(
    path: str | os.PathLike[str], what: str, error: type[StratoflowError] = ConfigError
) -> str:
    """The UTF-8 text of the file at ``path``, which should hold ``what``.

    A file that cannot be read, or that is not UTF-8 text (a data file given by mistake ended
    in a UnicodeDecodeError traceback), is one line of ``error`` naming the file.
    """
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}: {what} must be YAML text, but this is not UTF-8 (byte {exc.start})"
        ) from exc


def read_yaml_file(
    path: str | os.PathLike[str], what: str, error: type[StratoflowError] = ConfigError
) -> Any:
    """The YAML file at ``path`` as plain data (:func:`load_plain_yaml`).

    Every way it can fail is one line of ``error`` naming the file and ``what`` it should
    hold (``"processing steps"``, ``"job definitions"``): it cannot be read, it is not UTF-8
    text, or it is not valid YAML (PyYAML's own message spans several lines).
    """
    return parse_yaml(read_text_file(path, what, error), f"{path}: {what}", error)
