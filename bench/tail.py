"""Kafka tail throughput: ``auren-tui tail --json`` side by side with kcat.

    .venv/bin/python bench/tail.py [--records 200000] [--partitions 3] [--runs 3]

Starts a throwaway Kafka (tests/services), produces ``--records`` bridge-like
event envelopes of ~500 bytes (key = user id, the bridge's headers) to a fresh
topic, then times, alternating, ``auren-tui tail TOPIC --from beginning --count
N --json > /dev/null`` (the real script, built-in local profile) and ``kcat -C
... -o beginning -c N -J -q > /dev/null``. Checks one auren-tui run's output
(N lines, each JSON, offsets unique per partition) and prints wall seconds,
records/s, each process's CPU and the ratio auren-tui/kcat. Everything started
is stopped at the end, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
for _path in (REPO, BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bridge_ingest import CpuSample, cpu_sample, cpu_split, root_pid  # noqa: E402

from tests.services.base import ServiceUnavailable, make_tempdir, remove_tree  # noqa: E402
from tests.services.kafka import Kafka  # noqa: E402

AUREN_TUI = Path(sys.executable).parent / "auren-tui"
SOURCES = ("oura", "whoop", "healthkit", "terra")
TARGET_RATIO = 0.5


# -- the records ------------------------------------------------------------


def envelope(n: int, size: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of one event as the bridge publishes it, ~``size`` bytes.

    The value is the ``Envelope`` as ``model_dump_json`` writes it (compact);
    the payload's ``note`` pads it to ``size``.
    """
    source = SOURCES[n % len(SOURCES)]
    user = f"user-{n % 997}"
    event_id = f"{source}-{n}-{uuid.uuid4().hex}"
    trace_id = uuid.uuid4().hex
    second = n % 86_400
    stamp = f"2026-11-25T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
    body: dict[str, Any] = {
        "event_id": event_id,
        "source": source,
        "user_id": user,
        "event_type": ("sleep.created", "workout.updated", "samples", "activity")[n % 4],
        "occurred_at": f"{stamp}Z",
        "received_at": f"{stamp}.{n % 1000:03d}Z",
        "trace_id": trace_id,
        "payload": {
            "data_type": "heart_rate",
            "object_id": f"obj-{n}",
            "samples": [
                {"value": 50 + (n + i) % 50, "unit": "count/min", "start": f"{stamp}Z"}
                for i in range(2)
            ],
            "device": {"model": "ring-gen3", "firmware": "2.9.1"},
            "note": "",
        },
    }
    text = json.dumps(body, separators=(",", ":"))
    body["payload"]["note"] = "x" * max(0, size - len(text))
    value = json.dumps(body, separators=(",", ":")).encode()
    headers = [("source", source.encode()), ("event_id", event_id.encode())]
    headers.append(("trace_id", trace_id.encode()))
    return user.encode(), value, headers


async def _produce(bootstrap: str, topic: str, count: int, partitions: int, size: int) -> int:
    """Create ``topic`` and write ``count`` envelopes to it; return the bytes of values."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    total = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for n in range(count):
            key, value, headers = envelope(n, size)
            total += len(value)
            pending.append(await producer.send(topic, value, key=key, headers=headers))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return total


# -- one timed run ----------------------------------------------------------


@dataclass
class Run:
    tool: str
    seconds: float
    cpu_user: float
    cpu_system: float
    cores: dict[str, float] = field(default_factory=dict)

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_system


def timed(
    tool: str, cmd: list[str], env: dict[str, str], stdout: Path | None, kafka: Kafka, log: Path
) -> Run:
    """Run ``cmd`` to the end; its wall time and its own CPU (``wait4``), and who else used
    the machine meanwhile (Kafka, other processes)."""
    groups = {"kafka": root_pid(kafka)}
    with (
        open(stdout or os.devnull, "wb") as out,
        log.open("ab") as err,
    ):
        before: CpuSample = cpu_sample()
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        after = cpu_sample()
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-600:]
        raise RuntimeError(f"{tool} exited with {proc.returncode}: {tail}")
    cores = cpu_split(before, after, groups)
    cores[tool] = cores.pop("wrk")  # the one child reaped meanwhile
    return Run(tool, seconds, usage.ru_utime, usage.ru_stime, cores)


def tail_cmd(bootstrap: str, topic: str, count: int) -> list[str]:
    return [
        str(AUREN_TUI),
        "tail",
        topic,
        "--bootstrap",
        bootstrap,
        "--from",
        "beginning",
        "--count",
        str(count),
        "--json",
    ]


def kcat_cmd(kcat: str, bootstrap: str, topic: str, count: int) -> list[str]:
    where = ["-b", bootstrap, "-t", topic, "-o", "beginning", "-c", str(count)]
    return [kcat, "-C", *where, "-J", "-q"]


def verify(path: Path, count: int, per_partition: dict[int, int]) -> list[str]:
    """Problems with one ``--json`` output: line count, JSON, unique offsets, all partitions."""
    problems: list[str] = []
    seen: dict[int, set[int]] = {}
    lines = 0
    with path.open("rb") as f:
        for raw in f:
            lines += 1
            try:
                rec = json.loads(raw)
            except ValueError:
                if len(problems) < 5:
                    problems.append(f"line {lines} is not JSON: {raw[:80]!r}")
                continue
            if rec.get("value_encoding") != "json" or "event_id" not in rec.get("value", {}):
                problems.append(f"line {lines}: value is not the produced envelope")
            offsets = seen.setdefault(int(rec["partition"]), set())
            if rec["offset"] in offsets:
                problems.append(f"line {lines}: partition {rec['partition']} offset repeated")
            offsets.add(int(rec["offset"]))
    if lines != count:
        problems.append(f"{lines:,} lines, expected {count:,}")
    got = {p: len(o) for p, o in seen.items()}
    if lines == count and sum(per_partition.values()) == count and got != per_partition:
        problems.append(f"records per partition {got} != produced {per_partition}")
    return problems[:10]


async def _partition_sizes(bootstrap: str, topic: str) -> dict[int, int]:
    """Records per partition of ``topic`` (end minus first offset)."""
    from auren_tui.core.kafka import list_topics

    (info,) = [t for t in await list_topics(bootstrap) if t.name == topic]
    return {p: end - first for p, (first, end) in sorted(info.partitions.items())}


# -- report -----------------------------------------------------------------


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for line in (header, *rows):
        print(
            "  ".join(
                str(c).rjust(w) if i else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )


def report(runs: dict[str, list[Run]], count: int, args: argparse.Namespace) -> float:
    """Print the side-by-side table; return the ratio auren-tui/kcat of median rates."""
    tools = list(runs)
    med = {t: median_run(runs[t]) for t in tools}
    print(
        f"\n{count:,} records of ~{args.size} B in {args.partitions} partitions, "
        f"{args.runs} runs each (alternating), median run shown; {os.cpu_count()} CPUs"
    )
    rows: list[list[str]] = []

    def add(name: str, fn: Any) -> None:
        rows.append([name, *(fn(med[t]) for t in tools)])

    add("wall s", lambda r: f"{r.seconds:.2f}")
    add("records/s", lambda r: f"{count / r.seconds:,.0f}")
    add("CPU s (user+sys)", lambda r: f"{r.cpu:.2f} ({r.cpu_user:.2f}+{r.cpu_system:.2f})")
    add("CPU µs / record", lambda r: f"{1e6 * r.cpu / count:.1f}")
    add("cores: the tool", lambda r: f"{r.cores.get(r.tool, 0):.2f}")
    add("cores: kafka", lambda r: f"{r.cores.get('kafka', 0):.2f}")
    add("cores: other processes", lambda r: f"{r.cores.get('others', 0):.2f}")
    rows.append(
        ["all runs: wall s", *(" ".join(f"{r.seconds:.2f}" for r in runs[t]) for t in tools)]
    )
    ratio = (count / med[tools[0]].seconds) / (count / med[tools[1]].seconds)
    rows.append([f"ratio {tools[0]}/{tools[1]}", f"{ratio:.2f}", ""])
    print_table(["", *tools], rows)

    noisy = max(r.cores.get("others", 0) for rs in runs.values() for r in rs)
    if noisy > 0.1:
        print(
            f"\nWARNING: other processes used up to {noisy:.2f} cores during a run: "
            "these figures are lower than this machine gives when it is otherwise idle"
        )
    return ratio


# -- main -------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--records", type=int, default=200_000, help="records produced (200000)")
    p.add_argument("--size", type=int, default=500, help="bytes per value, about (500)")
    p.add_argument("--partitions", type=int, default=3, help="partitions of the topic (3)")
    p.add_argument("--runs", type=int, default=3, help="timed runs of each tool (3)")
    p.add_argument(
        "--tail-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for auren-tui (repeatable), e.g. "
        "PYTHONPATH=/path/to/a/patched/copy to measure a change",
    )
    p.add_argument("--keep", action="store_true", help="keep the work dir (outputs, logs)")
    return p.parse_args(argv)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        print("tail: kcat not found: apt-get install kcat (or make system-deps)", file=sys.stderr)
        return 1
    workdir = make_tempdir("bench-tail")
    home = workdir / "home"
    home.mkdir()
    env = {**os.environ, "AUREN_TUI_HOME": str(home)}
    env.update(dict(kv.split("=", 1) for kv in args.tail_env))
    kafka: Kafka | None = None
    try:
        print("starting Kafka ...")
        kafka = Kafka()
        kafka.start()
        topic = f"bench-tail-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        size = asyncio.run(
            _produce(kafka.bootstrap, topic, args.records, args.partitions, args.size)
        )
        per_partition = asyncio.run(_partition_sizes(kafka.bootstrap, topic))
        print(
            f"produced {args.records:,} records ({size / args.records:.0f} B values, "
            f"{size / 1e6:.0f} MB) to {topic} in {time.monotonic() - started:.1f} s: "
            f"per partition {per_partition}"
        )
        count = args.records
        log = workdir / "stderr.log"
        out = workdir / "auren-tui.jsonl"
        timed("auren-tui", tail_cmd(kafka.bootstrap, topic, count), env, out, kafka, log)
        problems = verify(out, count, per_partition)
        print(
            f"auren-tui output checked ({count:,} lines, JSON, offsets unique per partition): "
            + ("OK" if not problems else "FAILED\n  " + "\n  ".join(problems))
        )
        out.unlink()
        runs: dict[str, list[Run]] = {"auren-tui": [], "kcat": []}
        for n in range(args.runs):
            for tool, cmd in (
                ("auren-tui", tail_cmd(kafka.bootstrap, topic, count)),
                ("kcat", kcat_cmd(kcat, kafka.bootstrap, topic, count)),
            ):
                run = timed(tool, cmd, env, None, kafka, log)
                runs[tool].append(run)
                print(
                    f"  run {n + 1} {tool}: {run.seconds:.2f} s, {count / run.seconds:,.0f}/s, "
                    f"CPU {run.cpu:.2f} s, other processes {run.cores.get('others', 0):.2f} cores"
                )
        ratio = report(runs, count, args)
        print(
            f"\ntarget (auren-tui >= {TARGET_RATIO} of kcat's rate): "
            + ("met" if ratio >= TARGET_RATIO else "NOT met")
            + ("" if not problems else "; output check FAILED")
        )
        return 0 if not problems else 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        return 130
    except (ServiceUnavailable, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"tail: {exc}", file=sys.stderr)
        return 1
    finally:
        if kafka is not None:
            with contextlib.suppress(Exception):
                kafka.close()
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            remove_tree(workdir)


if __name__ == "__main__":
    sys.exit(main())
