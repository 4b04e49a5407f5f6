"""The signed load generator against wrk, both aimed at the bare 202 app.

    .venv/bin/python bench/webhook_load.py [--requests 30000] [--connections 32] [--seconds 10]

One run starts ``bench/bare_app.py`` (the bridge benchmark's ceiling: reads
the body, answers 202), then, side by side on the same app:

1. ``auren-tui webhook load oura --requests N --concurrency C --json``: every
   request a freshly rendered body with unique ids and a fresh HMAC signature;
2. ``wrk -t1 -cC -dS`` sending one fixed, pre-signed request over and over
   (wrk cannot sign: this is the raw HTTP ceiling of a load tool here).

It prints req/s, p50/p99, the cores used by the generator, the app and the
rest of the machine, and the ratio generator/wrk. Target: the generator
drives >= 2,000 signed req/s (issue 6).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bridge_ingest import cpu_sample, cpu_split, root_pid, start_bare  # noqa: E402
from tests.bridge_service.signing import SECRETS, event_body, sign  # noqa: E402
from tests.services.base import find_binary  # noqa: E402

BIN = Path(sys.executable).parent
TARGET = 2000.0


def run_generator(
    url: str, args: argparse.Namespace, home: Path, bare: object
) -> dict[str, object]:
    env = {
        **os.environ,
        "AUREN_TUI_HOME": str(home),
        "AUREN_TUI_OURA_SECRET": SECRETS["oura"],
    }
    cmd = [
        str(BIN / "auren-tui"), "webhook", "load", "oura", "--yes",
        "--requests", str(args.requests), "--concurrency", str(args.connections),
        "--bridge", url.removeprefix("http://"), "--json",
    ]  # fmt: skip
    before = cpu_sample()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=600)
    after = cpu_sample()
    if out.returncode != 0:
        raise RuntimeError(f"webhook load failed ({out.returncode}): {out.stderr.strip()}")
    summary: dict[str, object] = json.loads(out.stdout)
    cores = cpu_split(before, after, {"app": root_pid(bare)})
    cores["generator"] = cores.pop("wrk")  # the reaped child is the generator here
    summary["cores"] = cores
    return summary


def run_wrk(url: str, args: argparse.Namespace, workdir: Path, bare: object) -> dict[str, object]:
    body = event_body("oura")
    headers = sign("oura", body)
    lua = workdir / "post.lua"
    lua.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
        + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    )
    cmd = [find_binary("wrk", "wrk"), "-t1", f"-c{args.connections}", f"-d{args.seconds:g}s",
           "--latency", "-s", str(lua), f"{url}/webhooks/oura"]  # fmt: skip
    before = cpu_sample()
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=False, timeout=args.seconds + 60
    )
    after = cpu_sample()
    text = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    found = re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)", text, re.MULTILINE)
    lat = {p: _ms(value, unit) for p, value, unit in found}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "requests_per_second": rps,
        "p50_ms": lat.get("50"),
        "p99_ms": lat.get("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "cores": cpu_split(before, after, {"app": root_pid(bare)}),
    }


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=30_000, help="requests the generator sends")
    p.add_argument("--connections", type=int, default=32, help="concurrency of both")
    p.add_argument("--seconds", type=float, default=10, help="wrk's duration")
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers of the bare app")
    p.add_argument("--rounds", type=int, default=2, help="generator/wrk pairs, alternating")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="auren-whload-") as tmp:
        workdir = Path(tmp)
        bare, url = start_bare(workdir, args.workers)
        try:
            rows = []
            for _ in range(args.rounds):
                gen = run_generator(url, args, workdir / "home", bare)
                wrk = run_wrk(url, args, workdir, bare)
                rows.append((gen, wrk))
        finally:
            bare.stop()
    print(
        f"bare 202 app ({args.workers} uvicorn worker), {args.connections} connections, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'':28}{'auren-tui webhook load':>24}{'wrk (one fixed request)':>26}")
    for i, (gen, wrk) in enumerate(rows, 1):
        gc, wc = gen["cores"], wrk["cores"]
        assert isinstance(gc, dict)
        assert isinstance(wc, dict)
        ratio = float(str(gen["requests_per_second"])) / float(str(wrk["requests_per_second"]))
        table = [
            ("req/s", f"{gen['requests_per_second']:,.0f}", f"{wrk['requests_per_second']:,.0f}"),
            (
                "p50 / p99 ms",
                f"{gen['p50_ms']} / {gen['p99_ms']}",
                f"{wrk['p50_ms']} / {wrk['p99_ms']}",
            ),
            ("statuses", json.dumps(gen["statuses"]), f"non-2xx {wrk['non_2xx']}"),
            ("cores: load tool", f"{gc['generator']:.2f}", f"{wc['wrk']:.2f}"),
            ("cores: bare app", f"{gc['app']:.2f}", f"{wc['app']:.2f}"),
            ("cores: other processes", f"{gc['others']:.2f}", f"{wc['others']:.2f}"),
            ("ratio generator / wrk", f"{ratio:.2f}", ""),
        ]
        print(f"round {i}")
        for name, left, right in table:
            print(f"  {name:26}{left:>24}{right:>26}")
        if max(gc["others"], wc["others"]) > 0.1:
            print("  WARNING: other processes were busy: these figures are lower than idle")
    best = max(float(str(g["requests_per_second"])) for g, _ in rows)
    verdict = "met" if best >= TARGET else "NOT met"
    print(f"target (>= {TARGET:,.0f} signed req/s from the generator): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
