"""``make bench``: every benchmark in tests/bench (bench_*.py), one after the other, OCPP-J first.

Each runs as ``python -m tests.bench.<name>`` with its output passed through; the JSON lines it prints are
collected into bench/results/all-<time>.jsonl. BENCH_ONLY=ocppj,soap limits the run to those benchmarks.
Exits non-zero when any benchmark failed, after running the others.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from tests.bench.servers import ROOT


def benchmarks() -> list[str]:
    names = sorted(p.stem for p in (ROOT / "tests" / "bench").glob("bench_*.py"))
    names.sort(key=lambda n: n != "bench_ocppj")
    only = [f"bench_{n.strip()}" for n in os.environ.get("BENCH_ONLY", "").split(",") if n.strip()]
    return [n for n in names if not only or n in only]


def main() -> int:
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"all-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.jsonl"
    failed = []
    for name in benchmarks():
        print(f"\n=== {name} ===", flush=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", f"tests.bench.{name}"], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        with open(path, "a") as out:
            for line in proc.stdout:
                print(line, end="", flush=True)
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    out.write(json.dumps({"benchmark": name, **record}) + "\n")
        if proc.wait() != 0:
            failed.append(f"{name} (exit {proc.returncode})")
    print(f"\nall results: {path.relative_to(ROOT)}")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
