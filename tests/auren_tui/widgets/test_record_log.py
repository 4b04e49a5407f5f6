"""The tail's RecordLog: what each row shows, where the view stays, keys and wheel."""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from auren_tui.core.kafka.records import TailRecord
from auren_tui.widgets.record_log import RecordLog

WIDTH, HEIGHT = 60, 10
MAX = 50


def record(n: int, value: bytes | None = None) -> TailRecord:
    return TailRecord("events", 0, n, 1_795_000_000_000, None, value or b'{"n": %d}' % n)


class LogApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[TailRecord | None] = []

    def compose(self) -> ComposeResult:
        yield RecordLog(MAX, id="log")

    def on_record_log_selected(self, message: RecordLog.Selected) -> None:
        self.selected.append(message.record)


async def wheel(pilot: Pilot[None], log: RecordLog, event: type[events.MouseEvent]) -> None:
    """One notch of the wheel over ``log``, as the driver posts it."""
    log.post_message(event(log, 1, 1, 0, 0, 0, False, False, False))
    await pilot.pause()


def rows(log: RecordLog) -> list[str]:
    return [log.render_line(y).text for y in range(log.size.height)]


def offsets(log: RecordLog) -> list[int | None]:
    """The offset each row shows (None: a blank row)."""
    out: list[int | None] = []
    for text in rows(log):
        at = text.find("events/0@")
        out.append(int(text[at + 9 :].split()[0]) if at >= 0 else None)
    return out


async def test_following_shows_the_newest_and_keeps_every_record_up_to_its_bound() -> None:
    app = LogApp()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        log = app.query_one(RecordLog)
        log.add([record(n) for n in range(3)])
        await pilot.pause()
        assert offsets(log) == [0, 1, 2] + [None] * (HEIGHT - 3)
        assert all(cell_len(row) == WIDTH for row in rows(log))  # no scroll bar yet

        log.add([record(n) for n in range(3, 80)])
        await pilot.pause()
        assert [r.offset for r in log.records] == list(range(30, 80))  # the bound: 50
        assert offsets(log) == list(range(70, 80))
        # A scroll bar in the last column, its thumb at the bottom.
        bar = [row[-1] for row in rows(log)]
        assert bar[-1] == "▐"
        assert bar[0] == "│"
        assert log.selected == log.records[-1]


async def test_a_selected_record_stays_in_view_while_records_arrive_and_leave() -> None:
    app = LogApp()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        log = app.query_one(RecordLog)
        log.add([record(n) for n in range(40)])
        await pilot.pause()
        log.focus()
        await pilot.press("up", "up")
        assert log.selected == record(37)
        assert app.selected[-1] == record(37)
        shown = offsets(log)
        assert 37 in shown

        log.add([record(n) for n in range(40, 45)])  # below the view: it stays
        await pilot.pause()
        assert offsets(log) == shown
        assert log.selected == record(37)

        log.add([record(n) for n in range(45, 60)])  # 10 leave the front
        await pilot.pause()
        assert log.selected == record(37)
        assert offsets(log) == shown

        log.add([record(n) for n in range(60, 100)])  # the selected one leaves too
        await pilot.pause()
        assert log.cursor is None
        assert app.selected[-1] is None
        assert log.selected == record(99)

        await pilot.press("home")
        assert log.selected == record(50)
        assert offsets(log)[0] == 50
        await pilot.press("end")
        assert log.cursor is None
        assert offsets(log) == list(range(90, 100))


async def test_the_wheel_scrolls_back_and_at_the_bottom_follows_again() -> None:
    app = LogApp()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        log = app.query_one(RecordLog)
        log.add([record(n) for n in range(30)])
        await pilot.pause()
        await wheel(pilot, log, events.MouseScrollUp)
        assert offsets(log) == list(range(17, 27))
        log.add([record(30)])
        await pilot.pause()
        assert offsets(log) == list(range(17, 27))  # scrolled back: it holds still
        await wheel(pilot, log, events.MouseScrollDown)
        assert offsets(log) == list(range(20, 30))
        await wheel(pilot, log, events.MouseScrollDown)
        assert offsets(log) == list(range(21, 31))  # the bottom: following again
        log.add([record(31)])
        await pilot.pause()
        assert offsets(log) == list(range(22, 32))


async def test_rows_are_cut_to_the_width_without_control_characters_and_pan() -> None:
    long = b'{"note": "' + b"x" * 200 + b'"}'
    wide = '{"name": "日本語のテキスト' * 8
    hostile = b'{"a": "\x1b[2J\x07bell"}'
    app = LogApp()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        log = app.query_one(RecordLog)
        log.add([record(0, long), record(1, wide.encode()), record(2, hostile)])
        await pilot.pause()
        texts = rows(log)
        assert all(cell_len(text) == WIDTH for text in texts)
        assert not [c for text in texts for c in text if ord(c) < 32 or 127 <= ord(c) < 160]
        first = texts[0]
        log.focus()
        await pilot.press("right")
        assert rows(log)[0][: WIDTH - 9] == first[8 : WIDTH - 1]
        assert all(cell_len(text) == WIDTH for text in rows(log))
        await pilot.press("left")
        assert rows(log)[0] == first


async def test_reset_shows_exactly_the_records_given() -> None:
    app = LogApp()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        log = app.query_one(RecordLog)
        log.add([record(n) for n in range(20)])
        log.focus()
        await pilot.press("up")
        log.reset([record(n) for n in range(100, 103)])
        await pilot.pause()
        assert log.cursor is None
        assert app.selected[-1] is None
        assert offsets(log) == [100, 101, 102] + [None] * (HEIGHT - 3)
        assert [log.line(i) for i in range(log.line_count)] == [
            record(n).line() for n in range(100, 103)
        ]


async def test_every_row_is_exactly_the_widget_wide_through_every_change_of_width() -> None:
    # Rows are cached by width: when the scroll bar appears (one column less for
    # text), on a resize, and after a pan, no row may keep a width it had before.
    wide = "日本語のテキスト".encode() * 12
    app = LogApp()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        log = app.query_one(RecordLog)

        def check(what: str) -> None:
            width, height = log.size
            bar = len(log.records) > height
            for y, strip in enumerate(log.render_line(y) for y in range(height)):
                assert strip.cell_length == width, what
                assert cell_len(strip.text) == width, f"{what}: row {y} {strip.text!r}"
                if bar:
                    assert strip.text[-1] in "▐│", f"{what}: row {y} has no scroll bar"

        log.add([record(n, wide if n % 2 else None) for n in range(HEIGHT - 1)])
        await pilot.pause()
        check("fewer records than rows")
        log.add([record(n, wide if n % 2 else None) for n in range(HEIGHT - 1, HEIGHT + 2)])
        await pilot.pause()
        check("the scroll bar appeared")
        await pilot.resize_terminal(WIDTH - 7, HEIGHT - 2)
        await pilot.pause()
        check("narrower and shorter")
        log.focus()
        await pilot.press("right")
        check("panned")
        await pilot.resize_terminal(WIDTH + 9, HEIGHT + 20)
        await pilot.pause()
        check("taller than the records: no bar")
