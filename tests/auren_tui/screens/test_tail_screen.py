"""The Tail screen: on replayed records, then against the harness's real broker."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, SelectionList

from auren_tui.app import AurenApp, build_app
from auren_tui.core.backend.live import LiveBackend
from auren_tui.core.backend.replay import ReplayBackend
from auren_tui.core.backend.tail_buffer import TailBuffer
from auren_tui.core.config import local_profile
from auren_tui.core.kafka.consumer import TailStatus
from auren_tui.core.kafka.records import TailRecord
from auren_tui.core.kafka.start import Start
from auren_tui.core.paths import Locations
from auren_tui.dialogs.topic_picker import TopicPicker
from auren_tui.screens.dashboard import DashboardScreen
from auren_tui.screens.tail import TailScreen
from auren_tui.widgets.record_log import RecordLog
from tests.auren_tui.data import NOW, stack
from tests.auren_tui.kafka_util import create_topic, delete_topic, produce, topic_name
from tests.auren_tui.server_stack import wait_for
from tests.services.kafka import Kafka

REPO = Path(__file__).resolve().parents[3]
T0 = 1_795_000_000_000  # ms: the same fixed clock as the dashboard's snapshots
SOURCES = ("oura", "whoop", "terra", "oura")


def replay_records(n: int = 12) -> list[TailRecord]:
    """Biometric events as the bridge writes them, at fixed times."""
    out = []
    for i in range(n):
        topic = "biometric-events" if i % 3 else "terra-biometric-events"
        value = {
            "source": SOURCES[i % 4],
            "user_id": f"u{i % 5}",
            "type": "heart_rate",
            "value": 58 + i,
            "seq": i,
        }
        out.append(
            TailRecord(
                topic,
                i % 2,
                100 + i,
                T0 + i * 1500,
                f"u{i % 5}".encode(),
                json.dumps(value).encode(),
                (("trace", f"t{i:03}".encode()),),
            )
        )
    return out


def locations(tmp_path: Path) -> Locations:
    return Locations(tmp_path / "c", tmp_path / "d", tmp_path / "s", tmp_path / "k")


def tail_screen(app: AurenApp) -> TailScreen:
    screen = app.screen
    assert isinstance(screen, TailScreen), screen
    return screen


def header(screen: TailScreen) -> str:
    return str(screen.query_one("#tail-status").render())


def drawn(screen: TailScreen) -> list[TailRecord]:
    return list(screen.query_one(RecordLog).records)


# ---- the hand-off between the tail's thread and the UI ----------------------------------


def test_the_buffer_keeps_a_ring_at_most_and_ignores_replaced_tails() -> None:
    buffer = TailBuffer(limit=5)
    _, old_records, old_status = buffer.begin()
    generation, on_records, on_status = buffer.begin()
    old_records(replay_records(3))
    old_status(TailStatus("live", "old"))
    on_records(replay_records(4))
    on_records(replay_records(4))
    on_status(TailStatus("live"))
    records, dropped, status = buffer.take()
    assert (len(records), dropped) == (5, 3)
    assert status == TailStatus("live")
    assert buffer.take() == ([], 0, None)
    handle = ReplayBackend([]).open_tail([], Start(), on_records, on_status)
    assert buffer.adopt(generation, handle)
    assert buffer.release() is handle
    assert not buffer.adopt(generation, handle)  # a late open of a closed tail


# ---- on replayed records (no broker) ---------------------------------------------------


async def test_key_2_opens_the_tail_on_the_default_topics_and_1_goes_back(tmp_path: Path) -> None:
    backend = ReplayBackend([stack()], records=replay_records())
    app = build_app(backend, clock=lambda: NOW, locations=locations(tmp_path))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("2")
        screen = tail_screen(app)
        await wait_for(lambda: len(drawn(screen)) == 12, 5, "the replayed records")
        assert screen.topics == ["biometric-events", "terra-biometric-events"]
        assert screen.status.state == "live"
        assert "12 records" in header(screen)
        assert "not drawn 0" in header(screen)
        detail = str(screen.query_one("#detail").render())
        assert '"seq": 11' in detail
        assert "trace=t011" in detail
        await pilot.press("f", "space")
        assert not screen.query_one(RecordLog).auto_scroll
        assert "follow off" in header(screen)
        assert "PAUSED (0 new)" in header(screen)
        await pilot.press("f", "space")
        assert screen.query_one(RecordLog).auto_scroll
        assert "PAUSED" not in header(screen)
        await pilot.press("1")
        assert isinstance(app.screen, DashboardScreen)


async def test_select_copy_save_and_the_picker(tmp_path: Path) -> None:
    backend = ReplayBackend([stack()], records=replay_records())
    app = build_app(backend, clock=lambda: NOW, locations=locations(tmp_path))
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await pilot.press("2")
        screen = tail_screen(app)
        await wait_for(lambda: len(drawn(screen)) == 12, 5, "the replayed records")
        await pilot.press("up", "up")
        assert screen.query_one(RecordLog).selected == drawn(screen)[-3]
        assert '"seq": 9' in str(screen.query_one("#detail").render())
        copied: list[str] = []
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign,assignment]
        await pilot.press("c")
        assert json.loads(copied[0])["offset"] == 109

        await pilot.press("o")
        await wait_for(lambda: isinstance(app.screen, TopicPicker), 5, "the picker")
        await pilot.press("escape")
        assert app.screen is screen

        await pilot.press("o")  # one topic, from 5 back
        await wait_for(lambda: isinstance(app.screen, TopicPicker), 5, "the picker")
        options = app.screen.query_one(SelectionList)
        await wait_for(lambda: options.option_count == 2, 5, "the topics listed")
        assert options.selected == ["biometric-events", "terra-biometric-events"]
        options.deselect("biometric-events")
        start = app.screen.query_one("#start", Input)
        start.value = "nowhere"
        start.focus()
        await pilot.press("enter")
        assert "expected end, beginning" in str(app.screen.query_one("#picker-error").render())
        start.value = "-5"
        await pilot.press("enter")
        await wait_for(lambda: screen.topics == ["terra-biometric-events"], 5, "the new tail")
        assert screen.start == Start("back", 5)
        await wait_for(lambda: len(drawn(screen)) == 4, 5, "its records only")
        handle = screen.handle
        assert handle is not None
        assert handle.alive
    # The app quit with the screen open: its tail was stopped.
    await wait_for(lambda: not handle.alive, 5, "the tail to stop")


async def test_a_filter_given_to_the_screen_shows_in_its_box_and_escape_clears_it(
    tmp_path: Path,
) -> None:
    backend = ReplayBackend([stack()], records=replay_records())
    app = build_app(backend, clock=lambda: NOW, locations=locations(tmp_path))
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(lambda: app.dashboard.polls >= 1, 5, "the first poll")
        screen = TailScreen(
            backend, tmp_path, ["biometric-events"], Start("beginning"), filter_text="source=oura"
        )
        await app.push_screen(screen)
        await wait_for(lambda: screen.total == 8, 5, "the topic's records")
        await pilot.pause(0.3)  # a box's preset value is no typing: nothing re-applied
        assert {json.loads(r.value or b"")["source"] for r in drawn(screen)} == {"oura"}
        assert "filter source=oura" in header(screen)
        await pilot.press("slash")
        assert screen.query_one("#filter", Input).value == "source=oura"
        await pilot.press("escape")
        await wait_for(lambda: len(drawn(screen)) == 8, 5, "every record again")
        assert "filter" not in header(screen)
        assert app.focused is screen.query_one(RecordLog)


async def test_the_tail_screen_from_the_command_palette(tmp_path: Path) -> None:
    app = build_app(ReplayBackend([stack()]), locations=locations(tmp_path))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("colon")
        await pilot.press(*"tail")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, TailScreen | TopicPicker), 5, "the tail")


# ---- on the harness's broker -----------------------------------------------------------


def live_app(kafka: Kafka, tmp_path: Path, ring: int = 10_000) -> tuple[AurenApp, LiveBackend]:
    host, _, port = kafka.bootstrap.rpartition(":")
    profile = local_profile()
    overrides: dict[str, dict[str, object]] = {"kafka": {"host": host, "port": int(port)}}
    profile = replace(
        profile, catalog=profile.catalog.with_overrides(overrides), service_overrides=overrides
    )
    backend = LiveBackend(profile, locations(tmp_path))
    return build_app(backend, locations=locations(tmp_path), tail_ring=ring), backend


def events(n: int, first: int = 0) -> list[dict[str, Any]]:
    return [
        {"value": {"source": SOURCES[i % 4], "seq": i}, "key": b"k", "partition": i % 3}
        for i in range(first, first + n)
    ]


PRODUCE = """
import asyncio, sys
from tests.auren_tui.kafka_util import produce
from tests.auren_tui.screens.test_tail_screen import events
asyncio.run(produce(sys.argv[1], sys.argv[2], events(int(sys.argv[3]))))
"""


def tail_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in ("kafka-tail", "kafka-tail-stop")]


async def open_live(app: AurenApp, topic: str, ring: int, start: Start | None = None) -> TailScreen:
    await wait_for(lambda: app.dashboard.connected, 15, "the local connection")
    screen = TailScreen(
        app.backend, app.locations.data_dir, [topic], start or Start("end"), ring_size=ring
    )
    await app.push_screen(screen)
    await wait_for(lambda: screen.status.state == "live", 30, lambda: screen.status.line())
    return screen


@pytest.mark.services
async def test_records_filter_pause_save_and_no_thread_left(kafka: Kafka, tmp_path: Path) -> None:
    topic = topic_name("tui")
    await create_topic(kafka.bootstrap, topic, 3)
    app, backend = live_app(kafka, tmp_path)
    try:
        async with app.run_test(size=(140, 40), notifications=True) as pilot:
            screen = await open_live(app, topic, 10_000)
            await produce(kafka.bootstrap, topic, events(8))
            await wait_for(lambda: len(drawn(screen)) == 8, 20, "8 records drawn")
            assert "8 records" in header(screen)

            await pilot.press("slash", *"source=oura", "enter")
            await wait_for(lambda: len(drawn(screen)) == 4, 5, "only oura")
            assert {json.loads(r.value or b"")["source"] for r in drawn(screen)} == {"oura"}
            await produce(kafka.bootstrap, topic, events(4, first=8))
            await wait_for(lambda: len(drawn(screen)) == 6, 20, "new oura records drawn")

            await pilot.press("p")
            assert screen.paused
            await produce(kafka.bootstrap, topic, events(8, first=12))
            await wait_for(lambda: screen.total == 20, 20, "records arrive while paused")
            await pilot.pause()
            assert len(drawn(screen)) == 6  # nothing drawn while paused
            assert "PAUSED (8 new)" in header(screen)
            await pilot.press("p")
            await wait_for(lambda: len(drawn(screen)) == 10, 5, "the rest after resume")

            await pilot.press("s")
            saved = locations(tmp_path).data_dir
            await wait_for(lambda: any(saved.glob("tail-*.jsonl")), 5, "the saved file")
            (path,) = saved.glob("tail-*.jsonl")
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            assert [(d["partition"], d["offset"]) for d in lines] == [
                (r.partition, r.offset) for r in drawn(screen)
            ]
            assert all(d["value"]["source"] == "oura" for d in lines)
            assert not list(saved.glob(".tail-*"))  # no temporary file left

            await pilot.press("o")  # the picker lists the broker's topics with offsets
            picker = app.screen
            assert isinstance(picker, TopicPicker)
            options = picker.query_one(SelectionList)
            await wait_for(lambda: options.option_count > 0, 20, "the topics listed")
            (label,) = [
                str(o.prompt) for i in range(options.option_count)
                if topic in str((o := options.get_option_at_index(i)).prompt)
            ]  # fmt: skip
            assert "3 partitions" in label
            assert "end 0:" in label
            await pilot.press("escape")

            handle = screen.handle
            assert handle is not None
            assert handle.alive
            await pilot.press("1")  # the screen goes: so does its tail
            await wait_for(lambda: not handle.alive, 15, "the tail thread to end")
            last = await open_live(app, topic, 100)  # and one left open when the app quits
            left_open = last.handle
            assert left_open is not None
    finally:
        backend.close()
    await wait_for(lambda: not left_open.alive, 15, "the last tail to end with the app")
    await wait_for(lambda: not tail_threads(), 15, lambda: f"threads left: {tail_threads()}")


@pytest.mark.services
async def test_a_burst_keeps_the_ring_bounded_and_the_ui_responsive(
    kafka: Kafka, tmp_path: Path
) -> None:
    topic = topic_name("burst")
    await create_topic(kafka.bootstrap, topic, 3)
    # Already on the broker: read from the beginning, it comes as fast as the broker
    # can send it, and no producer competes with the UI for the CPU while it does.
    producer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PRODUCE, kafka.bootstrap, topic, "20000", cwd=REPO
    )
    assert await producer.wait() == 0
    app, backend = live_app(kafka, tmp_path, ring=5_000)
    gaps: list[float] = []
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            screen = await open_live(app, topic, 5_000, Start("beginning"))
            last = [time.monotonic()]

            def beat() -> None:
                now = time.monotonic()
                gaps.append(now - last[0])
                last[0] = now

            app.set_interval(0.02, beat)
            await wait_for(lambda: "20,000 records" in header(screen), 60, lambda: header(screen))
            await wait_for(lambda: len(gaps) >= 25, 10, "half a second of ticks after it")
            assert len(screen.ring) == 5_000
            log = screen.query_one(RecordLog)
            assert len(log.records) <= 5_000
            assert screen.not_drawn > 0 or len(log.records) == 5_000
            assert "ring 5,000/5,000" in header(screen)
            # Every record was drawn, kept, or counted as not drawn.
            assert screen.total == 20_000
            assert screen.not_drawn <= screen.total - len(log.records)

            # Following, the log holds every record of the ring (it draws only what
            # is on screen); holding still (pause, then follow off) it stays so, in
            # order, and each row is the record's line.
            assert list(log.records) == list(screen.ring)
            for key in ("p", "f"):
                await pilot.press(key)
                assert screen.holding
                assert list(log.records) == list(screen.ring)
                assert [log.line(i) for i in range(log.line_count)] == [
                    r.line() for r in screen.ring
                ]
                await pilot.press(key)
                await wait_for(lambda: not screen.holding, 5, "following again")
    finally:
        backend.close()
    worst = max(gaps)
    print(f"\nburst of 20,000: max UI tick gap {worst * 1000:.0f} ms over {len(gaps)} ticks")
    assert worst < 0.25


@pytest.mark.services
async def test_a_deleted_topic_is_said_in_the_header(kafka: Kafka, tmp_path: Path) -> None:
    topic = topic_name("gone")
    await create_topic(kafka.bootstrap, topic, 1)
    app, backend = live_app(kafka, tmp_path)
    try:
        async with app.run_test(size=(140, 40)):
            screen = await open_live(app, topic, 100)
            await delete_topic(kafka.bootstrap, topic)
            await wait_for(lambda: "topic deleted" in header(screen), 30, lambda: header(screen))
            assert "was deleted on the broker" in header(screen)
            assert screen.query_one("#tail-status").has_class("fault")
    finally:
        backend.close()
