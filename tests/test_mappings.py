"""read_mapping: the one reader of YAML/JSON mappings (configs, sweep files, GrainLearning configs)."""

from __future__ import annotations

import re

import pytest

from simrnn import mappings
from simrnn.config import load_config_file
from simrnn.errors import UserInputError
from simrnn.mappings import read_mapping
from simrnn.sweep import load_sweep


def _file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_yaml_json_and_a_byte_order_mark_read_alike(tmp_path):
    expected = {"lr": 0.001, "epochs": 5, "name": "ä"}
    assert read_mapping(_file(tmp_path, "a.yaml", "lr: 1e-3\nepochs: 5\nname: ä\n")) == expected
    assert read_mapping(_file(tmp_path, "a.json", '{"lr": 1e-3, "epochs": 5, "name": "ä"}')) == expected
    assert read_mapping(_file(tmp_path, "b.yaml", b"\xef\xbb\xbflr: 1e-3\nepochs: 5\nname: \xc3\xa4\n")) == expected


@pytest.mark.parametrize(("name", "content", "message"), [
    ("dup.yaml", "lr: 1\nepochs: 2\nlr: 3\n", "dup.yaml: key 'lr' is written twice (line 3); each key may appear once"),
    ("nested.yaml", "parameters:\n  lr: {min: 1, min: 2}\n", "key 'min' is written twice (line 2)"),
    ("dup.json", '{"lr": 1, "lr": 2}', "dup.json: key 'lr' is written twice; each key may appear once"),
    ("alias.yaml", "a: &x [1, 2]\nb: *x\n", "alias.yaml: YAML aliases (*x) are not accepted (line 2)"),
    ("latin1.yaml", b"name: caf\xe9\n", "latin1.yaml: not a UTF-8 text file (byte 9 is 0xe9); save the file as UTF-8."),
    ("list.yaml", "- 1\n- 2\n", "list.yaml: expected a mapping of keys at the top level of the file, found list."),
    ("bad.json", '{"a": }', "bad.json: cannot parse file as JSON (Expecting value at line 1)."),
    ("bad.yaml", "a: [1,\n", "bad.yaml: cannot parse file (while parsing a flow node)."),
])
def test_every_bad_file_is_one_sentence(tmp_path, name, content, message):
    with pytest.raises(UserInputError, match=re.escape(message)):
        read_mapping(_file(tmp_path, name, content))


def test_missing_folder_and_oversized_files(tmp_path, monkeypatch):
    with pytest.raises(UserInputError, match=re.escape("none.yaml: sweep file not found.")):
        read_mapping(tmp_path / "none.yaml", "sweep file")
    with pytest.raises(UserInputError, match=re.escape(f"{tmp_path}: config not found (it is a folder).")):
        read_mapping(tmp_path, "config")
    monkeypatch.setattr(mappings, "MAX_BYTES", 10)
    with pytest.raises(UserInputError, match=re.escape("big.yaml: 13 bytes is too large for a config (at most 10).")):
        read_mapping(_file(tmp_path, "big.yaml", "a: 123456789\n"), "config")


def test_configs_and_sweep_files_share_the_reader(tmp_path):
    """A non-UTF-8 sweep file (a raw UnicodeDecodeError before) and a duplicate config key are sentences."""
    with pytest.raises(UserInputError, match=r"sweep.yaml: not a UTF-8 text file \(byte 13 is 0xe9\); save the sweep"):
        load_sweep(_file(tmp_path, "sweep.yaml", b"method: grid\n\xe9\n"))
    with pytest.raises(UserInputError, match="c.yml: key 'epochs' is written twice"):
        load_config_file(_file(tmp_path, "c.yml", "epochs: 1\nepochs: 2\n"))
