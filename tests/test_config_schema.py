"""docs/initlint.schema.json, the JSON schema of [tool.initlint] (for editors: taplo / Even
Better TOML, or any JSON-schema-aware TOML tool), agrees with the configuration loader and
accepts every configuration example in the README and docs/."""

from __future__ import annotations

import json
import os
import re
import sys

import jsonschema
import pytest

from conftest import ROOT
from initlint.config import KNOWN_KEYS, PROBE_KEYS, ConfigError, load

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

with open(os.path.join(ROOT, "docs", "initlint.schema.json"), encoding="utf-8") as _fh:
    SCHEMA = json.load(_fh)
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def _toml_blocks() -> list[tuple[str, str]]:
    out = []
    for rel in ["README.md"] + [os.path.join("docs", n) for n in sorted(os.listdir(
            os.path.join(ROOT, "docs"))) if n.endswith(".md")]:
        with open(os.path.join(ROOT, rel), encoding="utf-8") as fh:
            text = fh.read()
        for m in re.finditer(r"^```toml\n(.*?)^```", text, re.M | re.S):
            if "[tool.initlint" in m.group(1):
                out.append((rel, m.group(1)))
    return out


def test_schema_is_valid_and_names_exactly_the_known_keys():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert set(SCHEMA["properties"]) == KNOWN_KEYS
    assert set(SCHEMA["properties"]["probe"]["properties"]) == PROBE_KEYS
    assert SCHEMA["additionalProperties"] is False


def test_readme_configuration_examples_validate_and_load(tmp_path):
    blocks = _toml_blocks()
    assert blocks, "the README has a [tool.initlint] example"
    for i, (where, text) in enumerate(blocks):
        table = tomllib.loads(text)["tool"]["initlint"]
        errors = [e.message for e in VALIDATOR.iter_errors(table)]
        assert not errors, f"{where} example {i}: {errors}"
        (tmp_path / "pyproject.toml").write_text(text)
        load(str(tmp_path / "pyproject.toml"))  # raises ConfigError when initlint disagrees


VALID = ['select = ["IL101", "IL2", "ALL"]', 'ignore = "IL301"', 'extend-select = ["il302"]',
         'per-file-ignores = { "tests/*" = ["IL2"] }', 'min-chain = 2', 'force-exclude = true',
         'docs-url = "https://example.org/rules/"', 'exclude = ["build"]']


@pytest.mark.parametrize("toml", VALID + [
    # rejected by both
    'nosuch = 1', 'select = ["XY1"]', 'select = [1]', 'min-chain = 1', 'min-chain = 2.5',
    'show-info = "yes"', 'force-exclude = 1', 'per-file-ignores = ["x"]',
    'per-file-ignores = { "a" = ["IL9X"] }', 'docs-url = ""', 'exclude = [1]',
    '[probe]\nnosuch = 1', 'probe = 3',
])
def test_schema_and_loader_agree(tmp_path, toml):
    if toml.startswith("["):
        text = "[tool.initlint]\n" + toml.replace("[probe]", "[tool.initlint.probe]")
    else:
        text = "[tool.initlint]\n" + toml
    table = tomllib.loads(text)["tool"]["initlint"]
    schema_ok = VALIDATOR.is_valid(table)
    (tmp_path / "pyproject.toml").write_text(text)
    try:
        load(str(tmp_path / "pyproject.toml"))
        loader_ok = True
    except ConfigError:
        loader_ok = False
    assert schema_ok == loader_ok == (toml in VALID), (toml, schema_ok, loader_ok)
