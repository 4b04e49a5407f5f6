"""`R` on a service's container: the diff against its known-good spec, the steps,
the service name typed back, then the restore with live progress per step.

Every docker call runs in a thread worker; the restorer's step callbacks come
from that thread and are posted over as ``StepChanged`` messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from auren_tui.core.api import STEPS, Containers, LockHeld, Outcome, Plan, RestoreError, SpecError
from auren_tui.core.format import one_line

MARK = {"running": ("…", "yellow"), "done": ("✓", "green"), "failed": ("✗", "bold red")}
MARK_SKIPPED = ("-", "dim")


@dataclass(eq=False)
class Planned(Message):
    plan: Plan | None
    error: str = ""


@dataclass(eq=False)
class StepChanged(Message):
    step: str
    state: str
    detail: str


@dataclass(eq=False)
class Finished(Message):
    outcome: Outcome | None
    error: str = ""
    locked: bool = False


class RestoreDialog(ModalScreen[bool]):
    """Dismisses with True when a restore ran (whatever its outcome)."""

    CSS_PATH = "restore.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("d", "dry_run", "Dry run"),
    ]

    def __init__(
        self, containers: Containers, service: str, container: str, read_only: bool
    ) -> None:
        super().__init__()
        self.containers = containers
        self.service, self.container, self.read_only = service, container, read_only
        self.plan: Plan | None = None
        self.running = False
        self.ran = False
        self.steps: dict[str, tuple[str, str]] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="restore-box"):
            yield Label(f"[b]Restore {self.service}[/b] ({self.container}) to its known-good spec")
            with VerticalScroll(id="restore-body"):
                yield Static("", id="restore-plan")
                yield Static("", id="restore-progress")
                yield Static("", id="restore-outcome")
            yield Input(placeholder=f"type {self.service} to enable Restore", id="restore-confirm")
            with Horizontal(id="restore-buttons"):
                yield Button("Close", id="close")
                yield Button("Dry run (d)", id="dry-run")
                yield Button("Restore", id="restore", variant="error", disabled=True)

    def on_mount(self) -> None:
        if self.read_only:
            self._plan_text(
                Text(
                    "read-only: restore changes the server; refused. "
                    "Open the profile without --read-only to restore.",
                    style="bold",
                )
            )
            for widget in ("#restore-confirm", "#dry-run", "#restore"):
                self.query_one(widget).display = False
            self.query_one("#close", Button).focus()
            return
        self._plan_text(Text(f"reading the known-good spec of {self.service}…", style="italic"))
        self.query_one("#restore-confirm", Input).disabled = True
        self.query_one("#close", Button).focus()
        self._load_plan()

    def _plan_text(self, text: Text) -> None:
        self.query_one("#restore-plan", Static).update(text)

    # -- the plan ----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="restore-plan", exit_on_error=False)
    def _load_plan(self) -> None:
        try:
            self.post_message(Planned(self.containers.plan(self.service)))
        except SpecError as exc:
            self.post_message(Planned(None, str(exc)))
        except Exception as exc:
            self.post_message(Planned(None, one_line(exc)))

    @on(Planned)
    def _planned(self, message: Planned) -> None:
        self.plan = message.plan
        if message.plan is None:
            error = message.error
            if "no known-good spec" in error:
                error = (
                    f"no known-good spec for {self.service}: "
                    f"`auren-tui spec capture {self.service}` while it is healthy"
                )
            self._plan_text(Text(error, style="bold red"))
            for widget in ("#restore-confirm", "#dry-run", "#restore"):
                self.query_one(widget).display = False
            return
        self._plan_text(describe(message.plan))
        if message.plan.recovery is not None and message.plan.recovery.disagreement:
            # Nothing can be done from here: the journal and the server disagree.
            for widget in ("#restore-confirm", "#restore"):
                self.query_one(widget).display = False
            return
        box = self.query_one("#restore-confirm", Input)
        box.disabled = False
        box.focus()

    @on(Input.Changed, "#restore-confirm")
    def _typed(self, event: Input.Changed) -> None:
        ready = self.plan is not None and not self.running and not self.ran
        self.query_one("#restore", Button).disabled = not (ready and event.value == self.service)

    @on(Input.Submitted, "#restore-confirm")
    def _submitted(self, event: Input.Submitted) -> None:
        if not self.query_one("#restore", Button).disabled:
            self._start()

    # -- buttons -----------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "close":
            self.action_close()
        elif event.button.id == "dry-run":
            self.action_dry_run()
        elif event.button.id == "restore":
            self._start()

    def action_close(self) -> None:
        if self.running:
            self.notify("A restore is running: it finishes or rolls back by itself.")
            return
        self.dismiss(self.ran)

    def action_dry_run(self) -> None:
        if self.read_only or self.plan is None or self.running:
            return
        plan = self.plan
        lines = ["dry run: nothing changed."]
        if plan.holder:
            lines.append(f"The lock is held by {plan.holder}: a restore now would be refused.")
        if plan.recovery is not None:
            lines += plan.recovery.lines()
        lines.append(
            f"{len(plan.changes)} difference(s) would be undone; the current container would "
            f"be kept as {plan.container}-failed-<UTC time>."
            if plan.exists
            else f"{plan.container} would be created from the spec."
        )
        self.query_one("#restore-outcome", Static).update(Text("\n".join(lines), style="italic"))

    def _start(self) -> None:
        if self.read_only or self.plan is None or self.running or self.ran:
            return
        if self.query_one("#restore-confirm", Input).value != self.service:
            return
        self.running = True
        self.query_one("#restore", Button).disabled = True
        self.query_one("#restore-confirm", Input).disabled = True
        self.query_one("#dry-run", Button).disabled = True
        self.query_one("#restore-outcome", Static).update(Text("restoring…", style="italic"))
        self._restore()

    # -- the restore -------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="restore-run", exit_on_error=False)
    def _restore(self) -> None:
        def on_step(step: str, state: str, detail: str) -> None:
            self.post_message(StepChanged(step, state, detail))  # thread-safe

        try:
            recover = self.plan is not None and self.plan.recovery is not None
            outcome = self.containers.restore(self.service, on_step, recover=recover)
        except LockHeld as exc:
            self.post_message(Finished(None, str(exc), locked=True))
        except (RestoreError, SpecError) as exc:
            self.post_message(Finished(None, str(exc)))
        except Exception as exc:
            self.post_message(Finished(None, one_line(exc)))
        else:
            self.post_message(Finished(outcome))

    @on(StepChanged)
    def _step(self, message: StepChanged) -> None:
        self.steps[message.step] = (message.state, message.detail)
        self.query_one("#restore-progress", Static).update(progress(self.steps))

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self.running, self.ran = False, True
        out = message.outcome
        if out is None:
            title = "refused" if message.locked else "not restored"
            text = Text.assemble((f"{title}: ", "bold red"), message.error)
        elif out.result == "recovered":
            text = Text(f"{self.container}: {out.recovered}", style="bold green")
        elif out.result == "restored":
            kept = f"; the failed container is kept as {out.failed_name}" if out.failed_name else ""
            text = Text.assemble((f"restored {self.container}: healthy", "bold green"), kept)
            if out.recovered:
                text.append(f"\n{out.recovered}", style="italic")
        else:
            text = Text.assemble((f"{out.result}: ", "bold red"), out.reason)
        if out is not None and out.lock_held:
            text.append(f"\n{out.lock_held}", style="bold red")
        self.query_one("#restore-outcome", Static).update(text)
        self.query_one("#close", Button).focus()


def describe(plan: Plan) -> Text:
    """The diff (env values masked) and the steps."""
    text = Text()
    spec = plan.spec
    if spec is not None:
        text.append(
            f"known-good v{spec.version}, captured {spec.captured_at} by {spec.captured_by}\n"
            f"image {spec.image_id[:19]}\n\n",
            style="dim",
        )
    if plan.recovery is not None:
        text.append("first, an interrupted restore (confirmed with this one):\n", style="bold")
        for line in plan.recovery.lines():
            text.append(f"  {line}\n", style="yellow")
        text.append("\n")
    text.append("running vs known-good:\n", style="bold")
    for line in plan.diff_lines():
        style = {"+": "green", "-": "red", "~": "yellow"}.get(line[:1], "")
        text.append(f"  {line}\n", style=style)
    if plan.holder:
        text.append(f"\nthe restore lock is held by {plan.holder}\n", style="bold red")
    text.append("\nsteps:\n", style="bold")
    for step, what in STEPS:
        text.append(f"  {step:7} {what}\n")
    text.append("  (if create or health fail: remove the new one, rename back, start it)", "dim")
    return text


def progress(steps: dict[str, tuple[str, str]]) -> Text:
    text = Text("progress:\n", style="bold")
    order = [s for s, _ in STEPS] + [s for s in steps if s not in dict(STEPS)]
    for step in order:
        if step not in steps:
            continue
        state, detail = steps[step]
        mark, style = MARK.get(state, MARK_SKIPPED)
        text.append(f"  {mark} ", style=style)
        text.append(f"{step:8} {state}")
        if detail:
            text.append(f"  {detail}", style="dim")
        text.append("\n")
    return text
