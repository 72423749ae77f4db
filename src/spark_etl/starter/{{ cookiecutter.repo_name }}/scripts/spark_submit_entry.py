"""The ``spark-submit`` entry point of the packaged project (``make package`` copies it to dist/).

    spark-submit --master spark://host:7077 --packages "$(cat dist/packages.txt)" \\
      --py-files dist/{{ cookiecutter.python_package }}-0.1.0-py3-none-any.whl \\
      dist/{{ cookiecutter.python_package }}_entry.py --pipelines batch_s3_pg \\
      --conf-source dist/conf-{{ cookiecutter.python_package }}.tar.gz

Every argument after the script is an argument of ``kedro run`` (``--pipelines``, ``--env``,
``--params``, ``--conf-source``, ``--runner``); the run retries as ``conf/<env>/runtime.yml`` says.
"""

import sys

from {{ cookiecutter.python_package }}.__main__ import main

if __name__ == "__main__":
    main(sys.argv[1:])
