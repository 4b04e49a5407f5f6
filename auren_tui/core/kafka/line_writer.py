"""A second process that turns records into JSON lines while the first reads Kafka.

``auren-tui tail --json`` does two things per record: aiokafka's own work
(decoding the fetch, one object per record) and ours (checking the value,
writing the line). In one interpreter they take turns on one core; the
machine has more. ``LineWriter`` forks, before any other thread or any
connection exists, a child that reads batches from a pipe, writes their lines to the
same stdout and exits at the pipe's end, so the two halves overlap: the tail
then runs at close to the consumer's own rate (bench/tail.py).

A batch crosses the pipe as one MessagePack array of plain arrays
(``Fields``), framed by its length (no pickle: record values are untrusted
bytes); the order of batches is the order of the lines. The child
never touches the network or the parent's objects. Its exit status says how
writing ended: 0 done, ``PIPE_CLOSED`` when whoever reads stdout went away
(``| head``), anything else a failure it described on stderr in one line.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import queue
import signal
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

PIPE_CLOSED = 3
_FRAME = struct.Struct("!I")
_PIPE_BYTES = 1 << 20  # ask for a 1 MiB pipe
QUEUED = 8  # batches packed and not yet in the pipe (~2 MB each at 5,000 records)
_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder().decode


class LineWriter:
    """The parent's end: ``send`` batches, ``close`` waits for the last line.

    ``render(rows) -> list[str]`` runs in the child; a row is a record's
    ``topic, partition, offset, timestamp, key, value, headers`` as a list.
    Batches are written to the pipe by a thread of their own, up to
    ``QUEUED`` at a time: the reading loop packs a batch and goes on reading
    while the child formats the previous ones.
    """

    def __init__(self, render: Callable[[list[list[Any]]], list[str]]) -> None:
        read, write = os.pipe()
        with contextlib.suppress(OSError):  # a smaller pipe only means more waiting
            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(write)
            os._exit(_child(read, render))
        os.close(read)
        self.pid = pid
        self._fd: int | None = write
        self._status: int | None = None
        self._broken = False
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUED)
        self._sender = threading.Thread(target=self._send_all, name="line-writer", daemon=True)
        self._sender.start()
        self._exited = threading.Event()
        self._on_exit: Callable[[int], None] | None = None
        threading.Thread(target=self._watch, name="line-writer-exit", daemon=True).start()

    def on_exit(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(status)`` (from another thread) when the child ends before
        ``close()``: whoever reads stdout went away (``PIPE_CLOSED``), or it failed.
        A tail that follows a quiet topic learns it here, not at its next record."""
        self._on_exit = callback
        if self._exited.is_set() and self._status not in (None, 0):
            callback(self._status)

    def _watch(self) -> None:
        _, status = os.waitpid(self.pid, 0)
        self._status = os.waitstatus_to_exitcode(status)
        self._broken = True
        self._exited.set()
        callback = self._on_exit
        if callback is not None and self._fd is not None:
            callback(self._status)

    def send(self, records: Sequence[Any]) -> None:
        """Hand on a batch of aiokafka records (waits only while ``QUEUED`` are pending).

        Raises ``BrokenPipeError`` when the child is gone (it has said why)."""
        if self._broken or self._fd is None:
            raise BrokenPipeError("the line writer has stopped")
        fields = [(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, r.headers)
                  for r in records]  # fmt: skip
        payload = _pack(fields)
        self._queue.put(_FRAME.pack(len(payload)) + payload)

    def _send_all(self) -> None:
        """The sending thread: frames to the pipe in order (the GIL is free while it waits)."""
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._broken:
                continue  # drain, so that send() never waits on a dead child
            data = memoryview(frame)
            try:
                while data:
                    written = os.write(self._fd or -1, data)
                    data = data[written:]
            except OSError:
                self._broken = True

    def close(self) -> int:
        """End of input: wait until every line is written; the child's exit status."""
        if self._fd is not None:
            self._queue.put(None)
            self._sender.join()
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
        self._exited.wait()
        assert self._status is not None
        return self._status

    def abandon(self) -> None:
        """Stop the child without waiting for its lines (Ctrl-C, an error)."""
        if not self._exited.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
        self._broken = True
        self.close()


def _child(read: int, render: Callable[[list[list[Any]]], list[str]]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Nothing made here is cyclic (lists, tuples, strings): reference counting frees it
    # all, and a collector would only walk the heap inherited from the parent, again
    # and again, at every few thousand allocations.
    gc.disable()
    out = os.fdopen(1, "wb", buffering=1 << 20, closefd=False)
    source = os.fdopen(read, "rb", buffering=1 << 20)
    try:
        while True:
            head = source.read(_FRAME.size)
            if len(head) < _FRAME.size:
                out.flush()
                return 0
            (size,) = _FRAME.unpack(head)
            lines = render(_unpack(source.read(size)))
            lines.append("")
            out.write("\n".join(lines).encode())
            out.flush()
    except BrokenPipeError:
        return PIPE_CLOSED
    except Exception as exc:  # one line, as every other error of the CLI
        text = " ".join(str(exc).split())
        with contextlib.suppress(OSError):
            os.write(
                2, f"auren-tui: error: writing records: {type(exc).__name__}: {text}\n".encode()
            )
        return 1
