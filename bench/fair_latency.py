"""Bid latency as N keep-alive connections see it, each waiting for its answer before its next bid: the same
bids as the shared ``bidstorm.lua`` (amounts unique per connection and rising), from a small asyncio client,
with each request's latency, connection and status kept. It tells the server's own waits from the load
generator's: by Little's law each connection's mean latency is N ÷ throughput, so the p99 of a fair server
stays near that mean, and a long tail is a connection served late.

  # a server and its auctions, as ../shared/bench/perfpair.sh makes them (see its README):
  python ../shared/bench/bidstorm.py --base URL --op-email E --op-password P --auctions 100 --bidders 16 \\
      --setup-only /tmp/storm.wrk
  taskset -c 1 .venv/bin/python bench/fair_latency.py --base URL --wrk-file /tmp/storm.wrk [--connections 64]

Prints requests, req/s, N ÷ req/s, latency p50/p99/max, the slowest requests' connections, and the range of
requests per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from urllib.parse import urlsplit


async def _connection(
    number: int, host: str, port: int, auctions: list[str], tokens: list[str], until: float, kept: list[tuple]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    count = 0
    while time.monotonic() < until:
        count += 1
        auction = auctions[(count + number) % len(auctions)]
        token = tokens[(count * 7 + number) % len(tokens)]
        body = b'{"amount":"%d.00"}' % (10000 + count * 1024 + number)
        head = (
            f"POST /api/v1/auctions/{auction}/bids HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        started = time.monotonic()
        writer.write(head.encode() + body)
        answer = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in answer.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        kept.append((time.monotonic() - started, number, int(answer[9:12])))
    writer.close()


async def run(args: argparse.Namespace, auctions: list[str], tokens: list[str]) -> None:
    url = urlsplit(args.base)
    kept: list[tuple] = []
    until = time.monotonic() + args.seconds
    await asyncio.gather(
        *(
            _connection(n, url.hostname or "127.0.0.1", url.port or 80, auctions, tokens, until, kept)
            for n in range(args.connections)
        )
    )
    latencies = sorted(latency for latency, _, _ in kept)
    rate = len(kept) / args.seconds
    print(
        f"{len(kept)} requests, {rate:.0f} req/s, {args.connections} ÷ req/s = {args.connections / rate * 1e3:.0f} ms; "
        f"latency p50 {latencies[len(latencies) // 2] * 1e3:.0f} ms, "
        f"p99 {latencies[int(0.99 * len(latencies))] * 1e3:.0f} ms, max {latencies[-1] * 1e3:.0f} ms"
    )
    slowest = sorted(kept, reverse=True)[:5]
    print(
        "slowest:",
        ", ".join(f"{latency * 1e3:.0f} ms (conn {n}, {status})" for latency, n, status in slowest),
    )
    per = Counter(n for _, n, _ in kept).values()
    print(f"requests per connection: {min(per)}–{max(per)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the product's URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--wrk-file", required=True, help="written by bidstorm.py --setup-only")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with open(args.wrk_file) as f:  # line 1: auction ids, line 2: bearer tokens
        auctions, tokens = (f.readline().strip().split(",") for _ in range(2))
    asyncio.run(run(args, auctions, tokens))


if __name__ == "__main__":
    main()
