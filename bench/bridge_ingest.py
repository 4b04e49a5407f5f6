"""Webhook ingest throughput of the bridge, side by side with a bare uvicorn ceiling.

    .venv/bin/python bench/bridge_ingest.py [--seconds 15] [--connections 32] [--workers N ...]
        [--baseline TREE]

Starts throwaway PostgreSQL, Redis and Kafka (tests/services), then for each
worker count: the bridge (``auren-bridge serve``) on a fresh database and
topic, a wrk load of unique, correctly signed Oura/WHOOP/HealthKit webhooks
(each request sent at most once), the database and Kafka checks, and the same
wrk load against ``bench/bare_app.py`` under the same uvicorn settings. Prints
accepted webhooks/s, other statuses, latency percentiles and the ratio
bridge/ceiling. Everything started is stopped at the end, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
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
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from tests.bridge_service.process import BridgeProcess  # noqa: E402
from tests.bridge_service.signing import SECRETS, event_body, sign  # noqa: E402
from tests.services.base import (  # noqa: E402
    ManagedProcess,
    ServiceUnavailable,
    free_port,
    make_tempdir,
    remove_tree,
    wait_until,
)
from tests.services.kafka import Kafka  # noqa: E402
from tests.services.postgres import Postgres  # noqa: E402
from tests.services.redis import Redis  # noqa: E402

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "wrk_replay.lua"
SOURCES = ("oura", "whoop", "healthkit")
# The bridge refuses timestamps older than this (SIGNATURE_TOLERANCE_SECONDS).
TOLERANCE_SECONDS = 300
TARGET_RATE, TARGET_P99_MS, TARGET_RATIO = 1000.0, 50.0, 0.35


# -- request files ----------------------------------------------------------


def write_requests(path: Path, count: int) -> float:
    """Write ``count`` unique signed webhooks (sources in turn); return their timestamp.

    Each signature is computed over exactly the body bytes written (and sent);
    one line per request: ``path<TAB>name: value<TAB>...<TAB>body``.
    """
    stamp = time.time()
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            source = SOURCES[n % len(SOURCES)]
            body = event_body(source, n, user=f"bench-{n % 500}")
            headers = sign(source, body, secret=SECRETS[source], ts=stamp)
            fields = [f"/webhooks/{source}", *(f"{k}: {v}" for k, v in headers.items())]
            text = body.decode()
            if "\t" in text or "\n" in text:
                raise ValueError("a body with a tab or newline cannot go into the request file")
            out.write("\t".join([*fields, text]) + "\n")
    return stamp


# -- wrk --------------------------------------------------------------------


@dataclass
class WrkResult:
    raw: dict[str, Any]
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return float(self.raw["duration_us"]) / 1e6

    @property
    def counts(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in self.raw["counts"].items()}

    @property
    def answered(self) -> int:
        return sum(self.counts.values())

    def status(self, code: int) -> int:
        return self.counts.get(code, 0)

    def rate(self, code: int | None = None) -> float:
        n = self.answered if code is None else self.status(code)
        return n / self.seconds

    def latency_ms(self, name: str) -> float:
        return float(self.raw["latency_us"][name]) / 1000

    @property
    def socket_errors(self) -> int:
        e = self.raw["errors"]
        return int(e["connect"] + e["read"] + e["write"] + e["timeout"])

    @property
    def wrapped(self) -> int:
        return int(self.raw["wrapped"])

    @property
    def unanswered(self) -> int:
        """Requests wrk started but stopped waiting for (the bridge may still store them)."""
        issued = sum(int(t["issued"]) for t in self.raw["threads"])
        # wrk calls request() once on thread 0 before the run to check pipelining.
        return max(0, issued - 1 - self.answered)


def run_wrk(
    url: str,
    requests: Path,
    args: argparse.Namespace,
    seconds: float,
    watch: dict[str, object] | None = None,
) -> WrkResult:
    """One wrk run; ``watch`` names the services whose CPU use is reported."""
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(LUA),
        url,
        "--",
        str(requests),
        str(args.threads),
    ]
    groups = {name: root_pid(service) for name, service in (watch or {}).items()}
    before = cpu_sample()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 120)
    after = cpu_sample()
    for line in out.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            raw = json.loads(line.removeprefix("WRK_RESULT "))
            return WrkResult(raw, cpu_split(before, after, groups))
    raise RuntimeError(f"wrk gave no result (exit {out.returncode}): {out.stderr or out.stdout}")


# -- where the CPU went ------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class CpuSample:
    """Machine-wide busy ticks, per-process (parent, ticks), our reaped children's CPU."""

    busy: int
    procs: dict[int, tuple[int, int]]
    me: float
    children: float
    wall: float


def cpu_sample() -> CpuSample:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    procs: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            rest = stat[stat.rindex(")") + 2 :].split()
            procs[int(entry.name)] = (int(rest[1]), int(rest[11]) + int(rest[12]))
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSample(
        busy=sum(fields) - fields[3] - fields[4],
        procs=procs,
        me=me.ru_utime + me.ru_stime,
        children=children.ru_utime + children.ru_stime,
        wall=time.monotonic(),
    )


def _tree_ticks(sample: CpuSample, root: int) -> int:
    """CPU ticks of ``root`` and all its descendants (PostgreSQL backends, uvicorn workers)."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in sample.procs.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += sample.procs.get(pid, (0, 0))[1]
        todo.extend(children.get(pid, []))
    return total


def cpu_split(a: CpuSample, b: CpuSample, groups: dict[str, int | None]) -> dict[str, float]:
    """Cores used between two samples by each named process tree, by wrk, and the rest.

    wrk is the only child this script reaps meanwhile; "others" is the machine's busy
    time less all of ours: other users of the machine. Figures are comparable only
    when it is near 0.
    """
    seconds = b.wall - a.wall
    out: dict[str, float] = {}
    for name, pid in groups.items():
        if pid is not None:
            ticks = _tree_ticks(b, pid) - _tree_ticks(a, pid)
            out[name] = max(0.0, ticks / TICKS / seconds)
    out["this script"] = (b.me - a.me) / seconds
    out["wrk"] = (b.children - a.children) / seconds
    machine = (b.busy - a.busy) / TICKS / seconds
    out["others"] = max(0.0, machine - sum(out.values()))
    return out


def root_pid(service: object) -> int | None:
    """The pid of a harness service's main process."""
    proc = service if isinstance(service, ManagedProcess) else getattr(service, "_proc", None)
    popen = getattr(proc, "proc", None)
    return popen.pid if popen is not None and popen.poll() is None else None


# -- the services -----------------------------------------------------------


def psql(dsn: str, sql: str) -> str:
    """One statement through psql (the harness's binary), unaligned output."""
    from tests.services.postgres import _pg_bindir

    return subprocess.run(
        [str(_pg_bindir() / "psql"), "-XAtq", "-d", dsn, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def new_database(pg: Postgres, name: str) -> str:
    pg.psql(f"create database {name}")
    return pg.dsn.rsplit("/", 1)[0] + f"/{name}"


def start_bare(workdir: Path, workers: int) -> tuple[ManagedProcess, str]:
    port = free_port()
    proc = ManagedProcess(
        [
            sys.executable,
            str(BENCH / "bare_app.py"),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        log=workdir / f"bare-w{workers}.log",
        cwd=workdir,
    )
    popen = proc.start()
    url = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: httpx.post(url, content=b"{}", timeout=2).status_code == 202,
        timeout=30,
        what=f"bare app on {url}",
        proc=popen,
        log=proc.log,
    )
    return proc, url


def drain(bridge: BridgeProcess, timeout: float) -> tuple[int | None, float | None]:
    """Poll /health until the outbox backlog is 0: (backlog at first poll, seconds to 0)."""
    started = time.monotonic()
    first: int | None = None
    while time.monotonic() - started < timeout:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            backlog = bridge.health()["components"]["outbox"]["backlog"]  # type: ignore[index]
            if first is None and backlog is not None:
                first = int(backlog)
            if backlog == 0:
                return first, time.monotonic() - started
        time.sleep(0.1)
    return first, None


async def _topic_size(bootstrap: str, topic: str) -> int:
    """Records in ``topic``: end minus beginning offsets summed over its partitions."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    async with asyncio.timeout(30):
        await admin.start()
        try:
            (described,) = await admin.describe_topics([topic])
        finally:
            await admin.close()
        tps = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        if not tps:
            return 0
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(tps)
            begins = await consumer.beginning_offsets(tps)
        finally:
            await consumer.stop()
    return sum(ends[tp] - begins[tp] for tp in tps)


def topic_size(bootstrap: str, topic: str) -> int | None:
    try:
        return asyncio.run(_topic_size(bootstrap, topic))
    except Exception as exc:
        print(f"  (could not read the size of {topic}: {type(exc).__name__}: {exc})")
        return None


# -- one configuration -------------------------------------------------------


@dataclass
class Outcome:
    label: str
    workers: int
    bridge: WrkResult
    ceiling: WrkResult | None
    warmup: WrkResult | None
    events: int
    backlog_at_end: int | None
    drain_seconds: float | None
    kafka_records: int | None
    generated: int

    @property
    def accepted_total(self) -> int:
        return self.bridge.status(202) + (self.warmup.status(202) if self.warmup else 0)

    @property
    def unanswered_total(self) -> int:
        return self.bridge.unanswered + (self.warmup.unanswered if self.warmup else 0)


def run_config(
    workers: int,
    args: argparse.Namespace,
    pg: Postgres,
    redis: Redis,
    kafka: Kafka,
    workdir: Path,
    started: list[Any],
    label: str = "bridge",
    extra_env: dict[str, str] | None = None,
    ceiling_run: bool = True,
) -> Outcome:
    tag = uuid.uuid4().hex[:8]
    dsn = new_database(pg, f"bench_{tag}")
    topic = f"biometric-events-bench-{tag}"
    bdir = workdir / f"bridge-w{workers}-{tag}"
    bdir.mkdir()
    bridge = BridgeProcess(
        env={
            "DATABASE_URL": dsn,
            "REDIS_URL": redis.url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "KAFKA_TOPIC": topic,
            "OURA_WEBHOOK_SECRET": SECRETS["oura"],
            "WHOOP_WEBHOOK_SECRET": SECRETS["whoop"],
            "HEALTHKIT_WEBHOOK_SECRET": SECRETS["healthkit"],
            "WORKERS": str(workers),
            "LOG_LEVEL": "WARNING",
            **dict(kv.split("=", 1) for kv in args.bridge_env),
            **(extra_env or {}),
        },
        workdir=bdir,
    )
    started.append(bridge)
    print(f"\n== WORKERS={workers}: {label} starting (database bench_{tag}, topic {topic})")
    bridge.start()

    count = args.requests or int(args.seconds * args.max_rate)
    warm_count = int(args.warmup * args.max_rate)
    t0 = time.monotonic()
    main_file, warm_file = bdir / "requests.tsv", bdir / "warmup.tsv"
    write_requests(main_file, count)
    if warm_count:
        write_requests(warm_file, warm_count)
    gen = time.monotonic() - t0
    print(f"  generated {count} + {warm_count} signed requests in {gen:.1f} s")
    if gen + args.warmup + args.seconds > TOLERANCE_SECONDS - 30:
        raise SystemExit("the run would outlive the signatures' 300 s tolerance: lower --seconds")

    watch: dict[str, object] = {
        "bridge": bridge,
        "postgres": pg,
        "redis": redis,
        "kafka": kafka,
    }
    warm = None
    if warm_count:
        warm = run_wrk(bridge.url, warm_file, args, args.warmup)
        print(f"  warm-up: {fmt_counts(warm.counts)}")
    result = run_wrk(bridge.url, main_file, args, args.seconds, watch)
    print(f"  cores used: {fmt_cpu(result.cpu)}")
    print(
        f"  bridge: {result.rate(202):.0f} accepted/s, p99 {result.latency_ms('p99'):.1f} ms, "
        f"{fmt_counts(result.counts)}"
    )
    backlog_at_end, drain_seconds = drain(bridge, args.drain_timeout)
    events = int(psql(dsn, "select count(*) from events"))
    kafka_records = topic_size(kafka.bootstrap, topic)
    bridge.stop()
    started.remove(bridge)

    ceiling = None
    if ceiling_run and not args.no_ceiling:
        bare, url = start_bare(workdir, workers)
        started.append(bare)
        try:
            ceiling = run_wrk(url, main_file, args, args.seconds, {"bare app": bare})
        finally:
            bare.stop()
            started.remove(bare)
        print(f"  ceiling: {ceiling.rate(202):.0f} req/s, p99 {ceiling.latency_ms('p99'):.1f} ms")
        print(f"  cores used: {fmt_cpu(ceiling.cpu)}")
    for f in (main_file, warm_file):
        f.unlink(missing_ok=True)
    return Outcome(
        label=label,
        workers=workers,
        bridge=result,
        ceiling=ceiling,
        warmup=warm,
        events=events,
        backlog_at_end=backlog_at_end,
        drain_seconds=drain_seconds,
        kafka_records=kafka_records,
        generated=count,
    )


# -- report -----------------------------------------------------------------


def fmt_cpu(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {cores:.2f}" for name, cores in cpu.items())


def fmt_counts(counts: dict[int, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(counts.items())) or "none"


def report(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    print(
        f"\nwrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s --latency "
        f"(warm-up {args.warmup:g} s), {os.cpu_count()} CPUs, uvicorn with "
        f"{uvicorn_flavour()}, LOG_LEVEL=WARNING"
    )
    rows: list[tuple[str, ...]] = []
    header: list[str] = [""]
    for o in outcomes:
        header += [f"{o.label} w={o.workers}", f"ceiling w={o.workers}"]

    def cell(r: WrkResult | None, fn: Any) -> str:
        return "-" if r is None else str(fn(r))

    def add(name: str, fn: Any) -> None:
        row = [name]
        for o in outcomes:
            row += [cell(o.bridge, fn), cell(o.ceiling, fn)]
        rows.append(tuple(row))

    add("accepted (202) req/s", lambda r: f"{r.rate(202):,.0f}")
    add("all answers req/s", lambda r: f"{r.rate():,.0f}")
    add("202 answers", lambda r: f"{r.status(202):,}")
    add("other statuses", lambda r: fmt_counts({k: v for k, v in r.counts.items() if k != 202}))
    add("socket errors", lambda r: str(r.socket_errors))
    add("requests reused", lambda r: f"{r.wrapped:,}")
    for p in ("p50", "p90", "p95", "p99", "max"):
        add(f"latency {p} (ms)", lambda r, p=p: f"{r.latency_ms(p):.1f}")
    add("cores: server", lambda r: f"{r.cpu.get('bridge', r.cpu.get('bare app', 0)):.2f}")
    add(
        "cores: pg+redis+kafka",
        lambda r: f"{sum(r.cpu.get(k, 0) for k in ('postgres', 'redis', 'kafka')):.2f}",
    )
    add("cores: wrk", lambda r: f"{r.cpu.get('wrk', 0):.2f}")
    add("cores: other processes", lambda r: f"{r.cpu.get('others', 0):.2f}")
    add(
        "server CPU ms / 202",
        lambda r: (
            f"{1000 * r.cpu.get('bridge', r.cpu.get('bare app', 0)) / max(r.rate(202), 1):.2f}"
        ),
    )
    ratio = ["ratio bridge/ceiling"]
    for o in outcomes:
        value = o.bridge.rate(202) / o.ceiling.rate(202) if o.ceiling else None
        ratio += ["-" if value is None else f"{value:.2f}", ""]
    rows.append(tuple(ratio))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    for line in (tuple(header), *rows):
        print(
            "  ".join(
                str(c).rjust(w) if i else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )

    noisy = [
        r.cpu.get("others", 0) for o in outcomes for r in (o.bridge, o.ceiling) if r is not None
    ]
    if noisy and max(noisy) > 0.1:
        print(
            f"\nWARNING: other processes used up to {max(noisy):.2f} cores during a run: "
            "these figures are lower than this machine gives when it is otherwise idle"
        )
    print()
    for o in outcomes:
        ok_db = o.accepted_total <= o.events <= o.accepted_total + o.unanswered_total
        warm_202 = o.warmup.status(202) if o.warmup else 0
        print(f"{o.label}, WORKERS={o.workers}:")
        print(
            f"  events in the database: {o.events:,}; 202s: {o.accepted_total:,} "
            f"(run {o.bridge.status(202):,} + warm-up {warm_202:,}); requests cut off "
            f"unanswered when wrk stopped: {o.unanswered_total} -> "
            f"{'OK' if ok_db else 'MISMATCH'}"
            + ("" if o.events == o.accepted_total else " (the difference is those)")
        )
        drained = "did not drain" if o.drain_seconds is None else f"{o.drain_seconds:.1f} s"
        print(
            f"  outbox backlog when the load stopped: {o.backlog_at_end}; drained to 0 in {drained}"
        )
        published = ""
        if o.kafka_records == o.events:
            published = " (= events in the database: all published)"
        elif o.kafka_records is not None:
            published = " (!= events in the database: not all published, or some twice)"
        print(f"  records in the Kafka topic: {o.kafka_records}{published}")
        if o.bridge.wrapped:
            print(
                f"  NOTE: {o.bridge.wrapped} requests were sent twice (file of {o.generated}); "
                "their 200s are duplicates, not failures: raise --max-rate"
            )
        met = o.bridge.rate(202) >= TARGET_RATE and o.bridge.latency_ms("p99") <= TARGET_P99_MS
        if o.ceiling is None:
            verdict = f"{'met' if met else 'NOT met'} (ratio not measured: --no-ceiling)"
        else:
            met = met and o.bridge.rate(202) / o.ceiling.rate(202) >= TARGET_RATIO
            verdict = "met" if met else "NOT met"
        print(
            f"  targets (>= {TARGET_RATE:.0f} accepted/s, p99 <= {TARGET_P99_MS:.0f} ms, "
            f"ratio >= {TARGET_RATIO}): {verdict}"
        )


def uvicorn_flavour() -> str:
    parts = []
    for mod in ("uvloop", "httptools"):
        try:
            __import__(mod)
            parts.append(mod)
        except ImportError:
            parts.append(f"no {mod}")
    return " + ".join(parts)


# -- main -------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=15, help="wrk duration per run (15)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    p.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[2],
        help="bridge WORKERS to measure, e.g. --workers 1 2 (default 2: best on 2 cores)",
    )
    p.add_argument("--warmup", type=float, default=2, help="warm-up seconds, own requests (2)")
    p.add_argument(
        "--max-rate",
        type=float,
        default=5000,
        help="requests generated per second of load, so the bridge never sees one twice (5000)",
    )
    p.add_argument("--requests", type=int, default=0, help="requests to generate (overrides)")
    p.add_argument("--drain-timeout", type=float, default=120, help="outbox drain wait (120 s)")
    p.add_argument(
        "--bridge-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the bridge (repeatable), e.g. RELAY_BATCH_SIZE=1000, "
        "or PYTHONPATH=/path/to/a/patched/copy to measure a change",
    )
    p.add_argument(
        "--baseline",
        metavar="TREE",
        help="also measure the bridge_service of another checkout (e.g. a git worktree of "
        "the previous commit), same load, same run, before this tree's",
    )
    p.add_argument("--no-ceiling", action="store_true", help="skip the bare uvicorn run")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    return p.parse_args(argv)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    workdir = make_tempdir("bench")
    started: list[Any] = []
    outcomes: list[Outcome] = []
    try:
        print("starting PostgreSQL, Redis, Kafka ...")
        pg = Postgres()
        started.append(pg)
        pg.start()
        redis = Redis()
        started.append(redis)
        redis.start()
        kafka = Kafka()
        started.append(kafka)
        kafka.start()
        for workers in args.workers:
            if args.baseline:
                # The same load on another tree's bridge_service, in the same run.
                outcomes.append(
                    run_config(
                        workers,
                        args,
                        pg,
                        redis,
                        kafka,
                        workdir,
                        started,
                        label="baseline",
                        extra_env={"PYTHONPATH": str(Path(args.baseline).resolve())},
                        ceiling_run=False,
                    )
                )
            outcomes.append(run_config(workers, args, pg, redis, kafka, workdir, started))
        report(outcomes, args)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        return 130
    except (ServiceUnavailable, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"bridge_ingest: {exc}", file=sys.stderr)
        return 1
    finally:
        for thing in reversed(started):
            with contextlib.suppress(Exception):
                if isinstance(thing, BridgeProcess | ManagedProcess):
                    thing.stop()
                else:
                    thing.close()
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            remove_tree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
