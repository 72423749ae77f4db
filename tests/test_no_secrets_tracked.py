"""The credentials files git tracks (the starter's and the example's) hold references only:
every value under a secret-looking key is a ``${vault:...}`` or ``${oc.env:...}`` interpolation,
never a secret."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from spark_etl._secrets import is_secret_name

REPO = Path(__file__).resolve().parents[1]


def tracked_credentials() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "*credentials*.yml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [REPO / name for name in listed.split("\0") if name]  # the starter's path has spaces


def secret_values(config: Any) -> list[tuple[str, Any]]:
    found = []
    for key, value in (config or {}).items():
        if isinstance(value, dict):
            found += secret_values(value)
        elif is_secret_name(key):
            found.append((key, value))
    return found


def test_tracked_credentials_files_hold_only_references() -> None:
    files = tracked_credentials()
    assert {p.relative_to(REPO).parts[0] for p in files} == {"example", "src"}  # both are seen
    for path in files:
        text = path.read_text().replace("{{ cookiecutter.python_package }}", "pkg")
        values = secret_values(yaml.safe_load(text))
        assert values, f"{path}: no secret-looking key at all"
        for key, value in values:
            assert isinstance(value, str) and value.startswith(("${vault:", "${oc.env:")), (
                f"{path}: {key} holds a value, not a reference"
            )
