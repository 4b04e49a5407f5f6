"""Everything the UI layer (screens, widgets, dialogs, the kit, the app) uses from the core.

The UI imports the core from here, and the model and the pure helpers
(``model``, ``format``, ``filtering``, ``paths``, ``config``) from their modules;
import-linter holds it to that (pyproject.toml). The names keep their one home;
this module is the UI's view of them, grouped by the package they come from.
"""

from __future__ import annotations

from auren_tui.core.backend.containers import Containers
from auren_tui.core.backend.live import (
    LOST,
    Backend,
    ConnInfo,
    NotConnected,
    OnRecords,
    OnStatus,
    TailHandle,
)
from auren_tui.core.backend.tail_buffer import TailBuffer
from auren_tui.core.backend.webhooks import Outgoing, SecretMissing, Sent, preview
from auren_tui.core.docker.client import NoDocker
from auren_tui.core.docker.containers import Action, ContainerRow, LineBuffer, OnEnd, OnLines
from auren_tui.core.docker.stats import Stats
from auren_tui.core.export import save_lines
from auren_tui.core.history.alerts import AlertWatch
from auren_tui.core.history.model import (
    CHART_KEYS,
    WINDOWS,
    Alert,
    Chart,
    History,
    Marker,
    Series,
    window_label,
)
from auren_tui.core.kafka.client import TopicInfo
from auren_tui.core.kafka.consumer import TailStatus, rate
from auren_tui.core.kafka.filters import Matcher, parse_filter
from auren_tui.core.kafka.records import TailRecord, render_bytes
from auren_tui.core.kafka.start import RecordError, Start, parse_start
from auren_tui.core.notify import Notifier
from auren_tui.core.restore.attempt import Outcome
from auren_tui.core.restore.engine import STEPS
from auren_tui.core.restore.errors import LockHeld, RestoreError
from auren_tui.core.restore.spec import SpecError
from auren_tui.core.restore.target import Plan
from auren_tui.core.secrets import hint
from auren_tui.core.transport.hostkeys import UnknownHostKey
from auren_tui.core.webhooks import saved
from auren_tui.core.webhooks.client import (
    PRESETS,
    SUITE_ORDER,
    CheckResult,
    NegativeKind,
    WebhookRequest,
    WebhookResponse,
)
from auren_tui.core.webhooks.load import BUCKETS_MS, LoadSpec, LoadStats
from auren_tui.core.webhooks.saved import SavedRequest
from auren_tui.core.webhooks.signing import PROVIDERS, Provider
from auren_tui.core.webhooks.templates import DEFAULT_TEMPLATE, TEMPLATES, render
from auren_tui.core.webhooks.trace import Traced

__all__ = [
    "BUCKETS_MS",
    "CHART_KEYS",
    "DEFAULT_TEMPLATE",
    "LOST",
    "PRESETS",
    "PROVIDERS",
    "STEPS",
    "SUITE_ORDER",
    "TEMPLATES",
    "WINDOWS",
    "Action",
    "Alert",
    "AlertWatch",
    "Backend",
    "Chart",
    "CheckResult",
    "ConnInfo",
    "ContainerRow",
    "Containers",
    "History",
    "LineBuffer",
    "LoadSpec",
    "LoadStats",
    "LockHeld",
    "Marker",
    "Matcher",
    "NegativeKind",
    "NoDocker",
    "NotConnected",
    "Notifier",
    "OnEnd",
    "OnLines",
    "OnRecords",
    "OnStatus",
    "Outcome",
    "Outgoing",
    "Plan",
    "Provider",
    "RecordError",
    "RestoreError",
    "SavedRequest",
    "SecretMissing",
    "Sent",
    "Series",
    "SpecError",
    "Start",
    "Stats",
    "TailBuffer",
    "TailHandle",
    "TailRecord",
    "TailStatus",
    "TopicInfo",
    "Traced",
    "UnknownHostKey",
    "WebhookRequest",
    "WebhookResponse",
    "hint",
    "parse_filter",
    "parse_start",
    "preview",
    "rate",
    "render",
    "render_bytes",
    "save_lines",
    "saved",
    "window_label",
]
