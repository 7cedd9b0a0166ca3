"""Streamed export benchmark: a real uvicorn process (1 worker) exports 1,000,000 budget records
as CSV and as NDJSON; prints each export's size, duration, rows/s, and the server's memory
(resident set before, sampled peak during, and VmHWM, the process's lifetime peak). No warm-up:
the first export's one-off allocations count too.

Run by hand from the project root (results in docs/benchmarks.md):

    .venv/bin/python benchmarks/export_memory.py                       # SQLite
    .venv/bin/python benchmarks/export_memory.py --database postgresql # 127.0.0.1:5432

It makes a throwaway database (an SQLite file in a temporary directory, or a PostgreSQL database
on EB_TEST_POSTGRES_URL's server, dropped afterwards), migrates it, writes the records straight
to the table with executemany, and reads the exports with httpx, discarding the bytes.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
from alembic import command

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the app and tests packages

from app.cli import alembic_config
from app.core.db import create_db_engine
from app.core.settings import Settings
from tests.export.helpers import RssSampler, insert_budget_rows, rss_bytes
from tests.support import throwaway_database, uvicorn_server

MB = 1024 * 1024
HISTORY = "/v1/budget/history"
FORMATS = {"csv": "text/csv", "ndjson": "application/x-ndjson"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reason-length", type=int, default=150)
    parser.add_argument("--formats", default="csv,ndjson")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as directory,
        throwaway_database(args.database, Path(directory)) as url,
    ):
        settings = Settings(database_url=url)
        command.upgrade(alembic_config(settings), "head")
        engine = create_db_engine(settings)
        began = time.perf_counter()
        insert_budget_rows(engine, args.rows, reason_length=args.reason_length)
        engine.dispose()
        print(f"{args.database}: wrote {args.rows:,} rows in {time.perf_counter() - began:.1f} s")

        with (
            uvicorn_server(url, Path(directory)) as server,
            httpx.Client(base_url=server.base_url, timeout=120) as http,
        ):
            pid = server.process.pid
            print(f"server RSS after start-up, before any export: {rss_bytes(pid) / MB:.1f} MB")
            print("| format | rows | size | duration | rows/s | MB/s | RSS before | peak RSS |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            for name in args.formats.split(","):
                before = rss_bytes(pid)
                size = 0
                began = time.perf_counter()
                with (
                    RssSampler(pid, interval=0.05) as rss,
                    http.stream("GET", HISTORY, headers={"accept": FORMATS[name]}) as response,
                ):
                    response.raise_for_status()
                    for chunk in response.iter_raw():
                        size += len(chunk)
                seconds = time.perf_counter() - began
                print(
                    f"| {name} | {args.rows:,} | {size / MB:.0f} MB | {seconds:.1f} s "
                    f"| {args.rows / seconds:,.0f} | {size / MB / seconds:.1f} "
                    f"| {before / MB:.1f} MB | {rss.peak / MB:.1f} MB |"
                )
            print(f"server VmHWM (lifetime peak RSS): {rss_bytes(pid, 'VmHWM') / MB:.1f} MB")


if __name__ == "__main__":
    main()
