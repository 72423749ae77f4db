"""The wheel build compiles spark-etl's JVM helper into the package (``jvm/build_jar.py``).

Everything else about the distribution is in ``pyproject.toml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, str(Path(__file__).resolve().parent / "jvm"))
import build_jar


class BuildPyWithJvmHelper(build_py):
    """``build_py`` that first builds ``spark_etl/runtime/spark-etl-localfs.jar``."""

    def run(self) -> None:
        build_jar.build()
        super().run()


setup(cmdclass={"build_py": BuildPyWithJvmHelper})
