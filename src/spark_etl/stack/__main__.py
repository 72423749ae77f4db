"""``python -m spark_etl.stack up|down|status|bootstrap [SERVER...]`` (also ``kedro services``)."""

from spark_etl.cli import services

if __name__ == "__main__":
    services(prog_name="python -m spark_etl.stack")
