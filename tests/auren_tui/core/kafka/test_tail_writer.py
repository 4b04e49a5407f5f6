"""``auren-tui tail --json`` writes its lines from a second process
(core/kafka/line_writer.py): every way the command can end must still leave every
line read written once, in order per partition, and no process behind.

Walked here with the real script on the harness Kafka: reaching the end, a
count, the reader of stdout going away (``| head``), Ctrl-C while following,
the topic deleted under the tail, and records of every shape (binary, text,
multi-line JSON, repeated header names) written by the child exactly as the
in-process writer writes them.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

import pytest

from auren_tui.core.kafka.records import TailRecord
from tests.auren_tui.kafka_util import (
    BIN,
    cli_env,
    create_topic,
    delete_topic,
    produce,
    stacks_of,
    topic_name,
)
from tests.services.base import wait_until
from tests.services.kafka import Kafka

pytestmark = pytest.mark.services

SHAPES: list[dict[str, object]] = [
    {"value": {"source": "oura", "n": 1}, "key": b"u1", "headers": [("trace", b"t1")]},
    {"value": b"plain text", "key": None},
    {"value": b"\x00\xff binary", "key": b"\x01\x02", "headers": [("bin", b"\xfe")]},
    {"value": b'{"multi":\n"line"}', "key": b"k"},
    {"value": b'{"a":"\\ud800"}', "headers": [("a", b"1"), ("a", b"2"), ("b", b"")]},
    {"value": b"NaN"},
    {"value": b"", "key": b""},
    {"value": None, "key": b"tombstone"},
    {"value": b'{"t":"caf\xc3\xa9 \xe2\x80\xa8"}', "headers": [("\u00e9", b"caf\xc3\xa9")]},
]


def _tail(home: Path, *args: str, **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "auren-tui"), "tail", *args, "--json"],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        **kw,  # type: ignore[call-overload]
    )


def _children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (the writer process of a running tail)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _seed(kafka: Kafka, records: list[dict[str, object]], partitions: int = 1) -> str:
    topic = topic_name("writer")

    async def go() -> None:
        await create_topic(kafka.bootstrap, topic, partitions)
        await produce(kafka.bootstrap, topic, records)

    asyncio.run(go())
    return topic


def test_every_shape_is_written_as_the_in_process_writer_writes_it(
    kafka: Kafka, tmp_path: Path
) -> None:
    topic = _seed(kafka, [dict(s, partition=0) for s in SHAPES] * 3)
    proc = _tail(tmp_path, topic, "--bootstrap", kafka.bootstrap, "--from", "beginning",
                 "--exit-at-end")  # fmt: skip
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().split("\n")  # not splitlines(): a value may hold U+2028
    assert lines.pop() == ""
    assert len(lines) == 3 * len(SHAPES)
    for line in lines:
        data = json.loads(line)
        # Rebuilt as a TailRecord from what the line says, the record writes the same line.
        record = _record(data)
        assert record.json_line() == line, data


def _record(data: dict[str, object]) -> TailRecord:
    """The TailRecord a line describes (values re-encoded as they were produced)."""
    shape = SHAPES[int(data["offset"]) % len(SHAPES)]  # type: ignore[call-overload]
    value = shape["value"]
    raw = json.dumps(value).encode() if isinstance(value, dict) else value
    return TailRecord(
        str(data["topic"]),
        int(data["partition"]),  # type: ignore[call-overload]
        int(data["offset"]),  # type: ignore[call-overload]
        int(data["timestamp_ms"]),  # type: ignore[call-overload]
        shape.get("key"),  # type: ignore[arg-type]
        raw,  # type: ignore[arg-type]
        tuple(shape.get("headers", ())),  # type: ignore[arg-type]
    )


def test_a_reader_that_goes_away_ends_the_tail_quietly(kafka: Kafka, tmp_path: Path) -> None:
    topic = _seed(kafka, [{"value": {"n": i}, "partition": 0} for i in range(20_000)])
    proc = _tail(tmp_path, topic, "--bootstrap", kafka.bootstrap, "--from", "beginning")
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()
    assert json.loads(first)["offset"] == 0
    proc.stdout.close()  # `| head -1`
    assert proc.wait(timeout=60) == 0
    err = proc.stderr.read().decode()
    assert "Traceback" not in err
    assert "error" not in err, err


def test_ctrl_c_while_following_stops_both_processes(kafka: Kafka, tmp_path: Path) -> None:
    topic = _seed(kafka, [{"value": {"n": i}, "partition": 0} for i in range(100)])
    proc = _tail(tmp_path, topic, "--bootstrap", kafka.bootstrap, "--from", "beginning")
    assert proc.stdout is not None
    assert proc.stderr is not None
    seen = [proc.stdout.readline() for _ in range(100)]
    assert [json.loads(line)["offset"] for line in seen] == list(range(100))
    writers = _children(proc.pid)
    assert len(writers) == 1, writers  # the line writer
    proc.send_signal(signal.SIGINT)
    try:
        status = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 30 s after Ctrl-C; its threads:\n{stacks_of(proc)}")
    assert status == 130
    err = proc.stderr.read().decode()
    assert "Traceback" not in err, err
    wait_until(lambda: not Path(f"/proc/{writers[0]}").exists(), 10, "the writer to be gone")


def test_lines_read_before_the_topic_is_deleted_are_all_written(
    kafka: Kafka, tmp_path: Path
) -> None:
    count = 5_000
    topic = _seed(kafka, [{"value": {"n": i}, "partition": 0} for i in range(count)])
    proc = _tail(tmp_path, topic, "--bootstrap", kafka.bootstrap, "--from", "beginning")
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(count)]
    asyncio.run(delete_topic(kafka.bootstrap, topic))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    said = err.decode().splitlines()
    assert said[-1].startswith("auren-tui: error: "), said
    assert "deleted" in said[-1], said
    assert out == b""  # nothing after the records
    assert [json.loads(line)["value"]["n"] for line in lines] == list(range(count))
    assert not _children(proc.pid)


def test_the_writer_is_not_used_when_output_is_filtered(kafka: Kafka, tmp_path: Path) -> None:
    topic = _seed(kafka, [{"value": {"n": i, "source": "oura" if i % 2 else "whoop"},
                           "partition": 0} for i in range(50)])  # fmt: skip
    proc = _tail(tmp_path, topic, "--bootstrap", kafka.bootstrap, "--from", "beginning",
                 "--exit-at-end", "--filter", "source=oura")  # fmt: skip
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    # Matched in the reading process: a writer given every record would print them all.
    assert [json.loads(line)["value"]["n"] for line in out.splitlines()] == list(range(1, 50, 2))
