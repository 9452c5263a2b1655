"""The one reader of structured text (YAML or JSON mappings): configs, sweep files, GrainLearning configs.

:func:`read_mapping` turns every way a file can be wrong into one sentence naming the file:
missing, a folder, larger than :data:`MAX_BYTES`, not UTF-8 text (with the byte offset), not
parseable (with the line), a key written twice in one mapping (YAML and JSON parsers would keep the
last one silently), YAML anchors/aliases (they let a small file expand into a huge one), or a top
level that is not a mapping. YAML is read as YAML 1.2 reads numbers, so ``1e-3`` is a float as W&B
users write it (PyYAML alone reads it as text).

Example::

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sweep.yaml"
    >>> _ = path.write_text("lr: 1e-3\\nepochs: 5\\n")
    >>> read_mapping(path)
    {'lr': 0.001, 'epochs': 5}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from simrnn.errors import UserInputError

#: the largest structured-text file read (configs and sweep files are a few KB).
MAX_BYTES = 4 * 1024 * 1024


class DuplicateKey(ValueError):
    """A mapping names one key twice."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 floats, no duplicate keys and no aliases."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class reports it
                    duplicate = False
                if duplicate:
                    raise DuplicateKey(f"key {key!r} is written twice (line {key_node.start_mark.line + 1})")
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise DuplicateKey(f"YAML aliases (*{event.anchor}) are not accepted "
                               f"(line {event.start_mark.line + 1}); write the values out")
        return super().compose_node(parent, index)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise DuplicateKey(f"key {key!r} is written twice")
    return dict(pairs)


def read_mapping(path: str | Path, what: str = "file") -> dict[str, Any]:
    """Read a YAML or JSON (``.json``) file whose top level is a mapping; one sentence for any problem.

    ``what`` names the file's role in the sentences (``"config"``, ``"sweep file"``).
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: {what} not found" + (" (it is a folder)." if path.is_dir() else "."))
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise UserInputError(f"{path}: {size} bytes is too large for a {what} (at most {MAX_BYTES}).")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{path}: not a UTF-8 text file (byte {exc.start} is {data[exc.start]:#04x}); "
                             f"save the {what} as UTF-8.") from None
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(text, object_pairs_hook=_unique_pairs)
        else:
            raw = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except DuplicateKey as exc:
        raise UserInputError(f"{path}: {exc}; each key may appear once per mapping.") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}: cannot parse {what} as JSON ({exc.msg} at line {exc.lineno}).") from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"{path}: cannot parse {what} ({first}).") from None
    if not isinstance(raw, dict):
        raise UserInputError(f"{path}: expected a mapping of keys at the top level of the {what}, "
                             f"found {type(raw).__name__}.")
    return raw
