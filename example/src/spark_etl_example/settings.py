"""Project settings (https://docs.kedro.org/en/stable/kedro_project_setup/settings.html).

spark-etl is a Kedro plugin: installing it gives every run its hooks (the Spark session from
conf/base/spark.yml, the contract and quality checks, the run's JSON log, the checks of declared
pipelines) and every ``kedro`` command line its commands (a retrying ``run``, ``jars``, ``vault``,
``services``). The one line below gives the project spark-etl's config loader: spark*.yml,
runtime*.yml and services*.yml, ``${oc.env:...}`` everywhere, ``${vault:...}`` secrets, and the
local stack's endpoints.
"""

from spark_etl.runtime.config import EtlConfigLoader

CONFIG_LOADER_CLASS = EtlConfigLoader

# To choose spark-etl's hooks yourself, turn the plugin's registration off and list them:
# from spark_etl.runtime.plugin import project_hooks
# DISABLE_HOOKS_FOR_PLUGINS = ("spark-etl",)
# HOOKS = project_hooks(without={"contracts"})
