"""The starter and the example project made from it: generate a project as ``kedro new`` does.

The example project (``example/``) is the starter's output for :data:`EXAMPLE_CONFIG` plus files
of its own (more pipelines, catalogs, contracts). ``tests/starter/test_example_parity.py`` checks
that every generated file is in ``example/`` unchanged; after changing the starter, bring the
example up to date with::

    .venv/bin/python tests/support/starter.py
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
STARTER = REPO / "src" / "spark_etl" / "starter"
EXAMPLE = REPO / "example"
KEDRO = REPO / ".venv" / "bin" / "kedro"
EXAMPLE_CONFIG = {
    "project_name": "Spark ETL Example",
    "repo_name": "spark-etl-example",
    "python_package": "spark_etl_example",
}
#: Kedro's telemetry plugin would try the network on every command; these runs need none.
QUIET = {"DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "true"}


def kedro_new(
    output_dir: Path, config: dict[str, str], starter: str = str(STARTER), kedro: Path = KEDRO
) -> Path:
    """``kedro new --starter STARTER --config <config>`` into ``output_dir``; the project folder.

    Raises:
        AssertionError: with kedro's output, when it fails.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    before = set(output_dir.iterdir())
    config_file = output_dir / "starter-config.yml"
    config_file.write_text(yaml.safe_dump({**config, "output_dir": str(output_dir)}))
    done = subprocess.run(
        [str(kedro), "new", "--starter", starter, "--config", str(config_file)],
        cwd=output_dir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **QUIET},
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    config_file.unlink()
    (created,) = set(output_dir.iterdir()) - before
    return created


def generated_files(project: Path) -> list[Path]:
    """Every file of a generated project, relative to it."""
    return sorted(p.relative_to(project) for p in project.rglob("*") if p.is_file())


def differences(generated: Path, example: Path = EXAMPLE) -> list[str]:
    """The generated files that ``example`` lacks or holds changed."""
    found = []
    for relative in generated_files(generated):
        mine = example / relative
        if not mine.is_file():
            found.append(f"missing: {relative}")
        elif not filecmp.cmp(generated / relative, mine, shallow=False):
            found.append(f"changed: {relative}")
    return found


def sync_example() -> list[str]:
    """Write the starter's output over ``example/`` (its own files stay); the files written."""
    with tempfile.TemporaryDirectory() as tmp:
        generated = kedro_new(Path(tmp), EXAMPLE_CONFIG)
        written = differences(generated)
        for relative in generated_files(generated):
            (EXAMPLE / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(generated / relative, EXAMPLE / relative)
    return written


if __name__ == "__main__":
    for line in sync_example():
        sys.stdout.write(f"{line}\n")
