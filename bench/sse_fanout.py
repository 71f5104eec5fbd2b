"""Live feed at scale: N Server-Sent-Events subscribers on one auction while bids arrive at a steady rate.

    flock /tmp/bench.lock .venv/bin/python bench/sse_fanout.py \\
        --database-url postgresql+asyncpg://exchange@127.0.0.1:54329/exchange \\
        [--configs postgresql:1000,postgresql:5000,sqlite:1000] [--seconds 30] [--rate 20] \\
        [--shared ../shared/bench]

For each configuration ``DB:N`` (``postgresql`` needs ``--database-url``, an admin URL: a scratch database
``bench_sse_<pid>`` is created next to it and dropped at the end; ``sqlite`` is a fresh file in a temporary
directory):

1. the product is started the way production starts it: ``python -m app serve --workers 2`` (EXCHANGE_ENV=test,
   EXCHANGE_SANDBOX=true: the set-up moves the business clock), with an operator made by ``create-operator``;
2. ``bidstorm.py --setup-only FILE`` (in ``--shared``, default ``../shared/bench`` next to the project) makes one
   English auction with 16 qualified bidders through the public API (free bidding for 30 days: no extension);
3. ``sse_fanout.py`` (the shared client, also in ``--shared``) connects N subscribers to the auction's event stream,
   then bids ``--rate`` times a second for ``--seconds`` and reports the delay from each bid's 201 to each
   subscriber's receipt of its event (p50/p99/max), the subscribers that missed an event, and the bids placed.

Both shared scripts run in a tools venv under /tmp (``--tools-venv``) with aiohttp and httpx, made on first use.
The open-file limit is raised to its hard limit for the server and the client.

Measured on the server: the sum of the worker processes' RSS (``/proc/<pid>/status`` VmRSS) before the
subscribers connect and its peak while they are connected (sampled every 0.25 s), as MB per 1,000 connections;
the workers' CPU seconds (``/proc/<pid>/stat`` utime + stime) over the client's run, and the client's own (it
shares the machine's cores with the server: at 5,000 subscribers it is what limits the bid rate); the number of
tracebacks in the server's log; and how long the server took to stop after SIGTERM with the streams open.
Prints one JSON line per configuration, then a summary table.

The shared client counts an event as received only if the bid's 201 reached it first: an event that arrives
before the 201 (the fan-out beat the response, or the client's loop was busy) counts as missed.
``--count-early`` runs a copy of the shared client patched to remember every event each subscriber receives
(the copy is made in the run's temporary directory, as ``bench/perfpair.sh`` patches the yardstick, and
refuses to run if a patch no longer applies): it adds ``early_events`` (events that arrived before their
bid's 201), ``subscribers_missing_any_event`` and ``events_never_received`` (bids with a 201 whose event a
subscriber never got). ``--client`` runs another client with the same options instead.
The machine may be shared: wrap the run in ``flock /tmp/bench.lock`` so benchmarks do not overlap.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup as s

OPERATOR_EMAIL = "ops@fanout.bench.example.cn"
OPERATOR_PASSWORD = "fanout-operator-123"
DEFAULT_CONFIGS = "postgresql:1000,postgresql:5000,sqlite:1000"
GOALS = (
    "goals: lag p99 < 250 ms at 1,000 (PostgreSQL), < 1 s at 5,000; no subscriber missing; < 50 MB / 1,000"
)


def tools_python(venv: Path) -> Path:
    """A venv with the shared client's dependencies (aiohttp; httpx for bidstorm.py)."""
    python = venv / "bin" / "python"
    marker = venv / ".ready"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "aiohttp", "httpx"], check=True)
        marker.write_text("aiohttp httpx\n")
    return python


# --count-early: (text in the shared client, what replaces it), each expected exactly once.
_EARLY_PATCHES = (
    (
        "    received = [0] * a.subscribers\n",
        "    received = [0] * a.subscribers\n"
        "    seen: list[dict[str, float]] = [dict() for _ in range(a.subscribers)]\n",
    ),
    (
        '                            key = d.get("current_price")\n',
        '                            key = d.get("current_price")\n'
        "                            seen[i].setdefault(key, time.perf_counter())\n",
    ),
    (
        '"missing_subscribers": sum(1 for x in received if x < n_bids),',
        '"missing_subscribers": sum(1 for x in received if x < n_bids), '
        '"early_events": sum(1 for i in range(connected) for m, t in sent.items() if seen[i].get(m, t) < t), '
        '"subscribers_missing_any_event": sum(1 for i in range(connected) if any(m not in seen[i] for m in sent)), '
        '"events_never_received": sum(1 for i in range(connected) for m in sent if m not in seen[i]),',
    ),
)


def early_counting_client(shared_client: Path, directory: Path) -> Path:
    """A copy of the shared client that also counts the events it saw before their bid's 201."""
    text = shared_client.read_text()
    for old, new in _EARLY_PATCHES:
        if text.count(old) != 1:
            raise SystemExit(f"the shared client changed: --count-early cannot patch {old.strip()!r}")
        text = text.replace(old, new)
    patched = directory / "sse_fanout_counting_early.py"
    patched.write_text(text)
    return patched


def raise_open_files() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def established(port: int) -> int:
    """TCP connections accepted on ``port`` (server side, ESTABLISHED)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "01" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        count += 1
        except OSError:
            continue
    return count


class Sampler(threading.Thread):
    """Samples the workers' summed RSS and the open connections until stopped."""

    def __init__(self, workers: list[int], port: int, want: int) -> None:
        super().__init__(daemon=True)
        self.workers, self.port, self.want = workers, port, want
        self.peak_connected_mb = 0.0
        self.max_connections = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            try:
                total = sum(rss_mb(pid) for pid in self.workers)
            except OSError:
                continue
            n = established(self.port)
            self.max_connections = max(self.max_connections, n)
            if n >= self.want * 0.98:
                self.peak_connected_mb = max(self.peak_connected_mb, total)


def wait_ready(port: int, proc: subprocess.Popen[bytes], workers: int) -> list[int]:
    deadline = time.monotonic() + 120
    ok = 0
    while ok < 3 * workers:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        try:
            status, _ = asyncio.run(s._get_once(port, "/readyz"))
            ok = ok + 1 if status == 200 else 0
        except s.HttpError:
            ok = 0
            time.sleep(0.2)
    kids = s._children(proc.pid)
    while len(kids) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
        kids = s._children(proc.pid)
    return kids


def run_config(
    backend: str, subscribers: int, args: argparse.Namespace, tools: Path, shared: Path
) -> dict[str, Any]:
    admin = args.database_url if backend == "postgresql" else None
    if backend == "postgresql" and not admin:
        raise SystemExit("postgresql configurations need --database-url (an admin URL)")
    with (
        s.fresh_database(admin, "sse") as url,
        tempfile.TemporaryDirectory(prefix="bench-sse-") as tmp,
    ):
        env = s.server_env(url)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "app",
                "create-operator",
                "--email",
                OPERATOR_EMAIL,
                "--password",
                OPERATOR_PASSWORD,
            ],
            env=env,
            cwd=s.ROOT,
            check=True,
            capture_output=True,
        )
        port = s.free_port()
        log = Path(tmp) / "server.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                ],
                env=env,
                cwd=s.ROOT,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        stopped_in = None
        try:
            workers = wait_ready(port, proc, args.workers)
            wrk = Path(tmp) / "fanout.wrk"
            subprocess.run(
                [
                    str(tools),
                    str(shared / "bidstorm.py"),
                    "--base",
                    base,
                    "--op-email",
                    OPERATOR_EMAIL,
                    "--op-password",
                    OPERATOR_PASSWORD,
                    "--auctions",
                    "1",
                    "--bidders",
                    "16",
                    "--setup-only",
                    str(wrk),
                ],
                check=True,
            )
            time.sleep(1)
            rss_before = sum(rss_mb(pid) for pid in workers)
            cpu_before = sum(s.cpu_seconds(pid) for pid in workers)
            sampler = Sampler(workers, port, subscribers)
            sampler.start()
            started = time.perf_counter()
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            client = subprocess.run(
                [
                    str(tools),
                    str(client_script(args, shared, Path(tmp))),
                    "--base",
                    base,
                    "--wrk-file",
                    str(wrk),
                    "--subscribers",
                    str(subscribers),
                    "--rate",
                    str(args.rate),
                    "--seconds",
                    str(args.seconds),
                ],
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            client_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
            sampler.stop.set()
            sampler.join()
            cpu = sum(s.cpu_seconds(pid) for pid in workers) - cpu_before
            lines = [line for line in client.stdout.splitlines() if line.startswith("{")]
            if client.returncode != 0 or not lines:
                raise RuntimeError(f"the client failed ({client.returncode}): {client.stderr[-2000:]}")
            result: dict[str, Any] = json.loads(lines[-1])
        finally:
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
                stopped_in = round(time.perf_counter() - t0, 1)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        text = log.read_text(errors="replace")
    grown = max(0.0, sampler.peak_connected_mb - rss_before)
    connected = result.get("connected") or subscribers
    return {
        "db": backend,
        **result,
        "rss_before_mb": round(rss_before, 1),
        "rss_connected_mb": round(sampler.peak_connected_mb, 1),
        "mb_per_1000_connections": round(grown / connected * 1000, 1) if sampler.peak_connected_mb else None,
        "max_server_connections": sampler.max_connections,
        "server_cpu_s": round(cpu, 1),
        "client_cpu_s": round(client_cpu, 1),
        "client_wall_s": round(wall, 1),
        "server_stopped_in_s": stopped_in,
        "server_tracebacks": text.count("Traceback"),
    }


def client_script(args: argparse.Namespace, shared: Path, tmp: Path) -> Path:
    if args.client:
        return Path(args.client)
    if args.count_early:
        return early_counting_client(shared / "sse_fanout.py", tmp)
    return shared / "sse_fanout.py"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="postgresql+asyncpg:// admin URL for the PostgreSQL configurations"
    )
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="DB:SUBSCRIBERS,… (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--shared", default=str(s.ROOT.parent / "shared" / "bench"), help="bidstorm.py and sse_fanout.py"
    )
    parser.add_argument(
        "--client", help="another client script with the same options (default: the shared one)"
    )
    parser.add_argument(
        "--count-early",
        action="store_true",
        help="also count events that arrive before their bid's 201, and events never received",
    )
    parser.add_argument("--tools-venv", default="/tmp/sse-fanout-tools", help="venv of the shared scripts")
    args = parser.parse_args()
    shared = Path(args.shared).resolve()
    tools = tools_python(Path(args.tools_venv))
    limit = raise_open_files()
    results = []
    for config in args.configs.split(","):
        backend, _, n = config.strip().partition(":")
        backend = {"pg": "postgresql", "postgres": "postgresql"}.get(backend, backend)
        if backend not in ("postgresql", "sqlite"):
            raise SystemExit(f"unknown database in {config!r}")
        if int(n) * 2 + 100 > limit:
            raise SystemExit(f"{n} subscribers need more open files than {limit}")
        line = run_config(backend, int(n), args, tools, shared)
        print(json.dumps(line), flush=True)
        results.append(line)
    print(
        f"\nlive feed, {args.workers} workers, bids asked at {args.rate:g}/s for {args.seconds:g} s; {GOALS}"
    )
    head = ("db", "subs", "conn", "bids", "p50 ms", "p99 ms", "max ms", "missing", "MB/1000", "CPU s")
    if args.count_early:
        head += ("early", "lost subs")
    print(" | ".join(f"{h:>10}" for h in head))
    for r in results:
        row = (
            r["db"],
            r["subscribers"],
            r["connected"],
            r["bids"],
            r["lag_p50_ms"],
            r["lag_p99_ms"],
            r["lag_max_ms"],
            r["missing_subscribers"],
            r["mb_per_1000_connections"],
            r["server_cpu_s"],
        )
        if args.count_early:
            row += (r.get("early_events"), r.get("subscribers_missing_any_event"))
        print(" | ".join(f"{v!s:>10}" for v in row))


if __name__ == "__main__":
    main()
