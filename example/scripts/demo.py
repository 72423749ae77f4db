"""``make demo``: sample events on the local S3 server, ``kedro run``, then the rows it wrote.

Run by ``make demo`` once the local stack is up (``make services``); safe to run again: the
summary is an upsert that leaves unchanged rows alone, the daily counts an overwrite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from spark_etl.stack import read_local_stack

from spark_etl_example.sample_data import (
    connect_postgres,
    put_user_events,
    user_events,
)

PROJECT = Path(__file__).resolve().parents[1]
RAW_BUCKET = "spark-etl-example-raw"
EVENTS = 20_000
USERS = 500


def show_results(stack: dict[str, str]) -> None:
    """Print the row counts and the top users of the PostgreSQL tables."""
    with connect_postgres(stack) as conn:
        users = conn.execute("SELECT count(*) FROM user_summary").fetchone()
        days = conn.execute("SELECT count(*) FROM daily_event_counts").fetchone()
        print(f"demo: user_summary holds {users[0] if users else 0} rows; top 5 by amount:")
        for row in conn.execute(
            "SELECT user_id, total_events, total_amount, last_event_time, event_type_counts "
            "FROM user_summary ORDER BY total_amount DESC, user_id LIMIT 5"
        ):
            print("  ", *row)
        print(f"demo: daily_event_counts holds {days[0] if days else 0} rows (day, event type)")


def main() -> int:
    """Upload, run, show."""
    stack = read_local_stack(PROJECT)
    if not stack:
        print("demo: the local stack is not up; run `make services`", file=sys.stderr)
        return 1
    put_user_events(stack, RAW_BUCKET, list(user_events(EVENTS, users=USERS, seed=42)))
    print(f"demo: wrote {EVENTS} raw events of {USERS} users to s3a://{RAW_BUCKET}/user_events/")
    kedro = Path(sys.executable).with_name("kedro")
    if subprocess.run([str(kedro), "run"], cwd=PROJECT, check=False).returncode != 0:
        return 1
    show_results(stack)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
