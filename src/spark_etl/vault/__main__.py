"""``python -m spark_etl.vault``."""

from spark_etl.vault.cli import vault

if __name__ == "__main__":
    vault(prog_name="python -m spark_etl.vault")
