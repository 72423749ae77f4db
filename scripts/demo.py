"""`make demo`: put deterministic raw events on the S3 server, run batch_s3_pg, show the result.

Run by `make demo` after `make services`; safe to run again (the load is an upsert).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import psycopg

from spark_etl.datagen import user_events, user_events_csv
from spark_etl.runtime.env import load_services_env

ROOT = Path(__file__).resolve().parents[1]
EVENTS = 20_000
USERS = 500


def upload_raw_events() -> None:
    """Write the sample as one CSV object under s3a://spark-etl-raw/user_events/."""
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["SPARK_ETL_S3_ENDPOINT"],
        aws_access_key_id=os.environ["SPARK_ETL_S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["SPARK_ETL_S3_SECRET_KEY"],
        region_name=os.environ.get("SPARK_ETL_S3_REGION", "us-east-1"),
    )
    body = user_events_csv(list(user_events(EVENTS, users=USERS, seed=42)))
    s3.put_object(Bucket="spark-etl-raw", Key="user_events/part-0000.csv", Body=body.encode())
    print(f"demo: wrote {EVENTS} raw events of {USERS} users to s3a://spark-etl-raw/user_events/")


def show_summary() -> None:
    """Print the row count and the top users of the PostgreSQL table."""
    with psycopg.connect(
        host=os.environ["SPARK_ETL_PG_HOST"], port=os.environ["SPARK_ETL_PG_PORT"],
        dbname=os.environ["SPARK_ETL_PG_DB"], user=os.environ["SPARK_ETL_PG_USER"],
        password=os.environ["SPARK_ETL_PG_PASSWORD"],
    ) as conn:
        count = conn.execute("SELECT count(*) FROM user_summary").fetchone()
        print(f"demo: user_summary holds {count[0] if count else 0} rows; top 5 by amount:")
        for row in conn.execute(
            "SELECT user_id, total_events, total_amount, last_event_time, event_type_counts "
            "FROM user_summary ORDER BY total_amount DESC, user_id LIMIT 5"
        ):
            print("  ", *row)


def main() -> int:
    """Upload, run, show."""
    if not load_services_env():
        print("demo: the local stack is not up; run `make services`", file=sys.stderr)
        return 1
    upload_raw_events()
    kedro = Path(sys.executable).with_name("kedro")
    result = subprocess.run([str(kedro), "run", "--pipeline", "batch_s3_pg"], cwd=ROOT, check=False)
    if result.returncode != 0:
        return result.returncode
    show_summary()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
