"""Latency of a signed-in `{ me { id } }` while anonymous clients sign in in a loop.

    python bench/signin_latency.py --url http://127.0.0.1:8101/graphql --logins 8 --probes 200

Against a running server with the demo users (`python server.py serve` seeds them). The
sign-in clients use the demo users' right passwords, so every `login` really verifies an
argon2 hash (a wrong one would soon be throttled and cost nothing). Prints the probe's median
and p95 latency, how many probes failed, and how many logins completed meanwhile. Not part
of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

LOGIN = "mutation ($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }"
ME = "{ me { id } }"
SIGNERS = (
    ("admin@example.com", "admin-password"),
    ("manager@example.com", "manager-password"),
    ("member2@example.com", "member-password"),
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8101/graphql")
    parser.add_argument("--logins", type=int, default=8, help="concurrent sign-in loops")
    parser.add_argument("--probes", type=int, default=200, help="`me` requests to time")
    args = parser.parse_args()
    async with httpx.AsyncClient(timeout=60) as client:
        signed = await client.post(
            args.url,
            json={"query": LOGIN, "variables": {"e": "member@example.com", "p": "member-password"}},
        )
        token = ((signed.json().get("data") or {}).get("login") or {}).get("token")
        if not token:
            raise SystemExit(f"login failed: {signed.text}")
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(20):  # warm up
            await client.post(args.url, json={"query": ME}, headers=headers)
        stop = asyncio.Event()
        logins = 0

        async def sign_in_loop(i: int) -> None:
            nonlocal logins
            email, password = SIGNERS[i % len(SIGNERS)]
            async with httpx.AsyncClient(timeout=60) as own:
                while not stop.is_set():
                    r = await own.post(
                        args.url, json={"query": LOGIN, "variables": {"e": email, "p": password}}
                    )
                    if not ((r.json().get("data") or {}).get("login") or {}).get("token"):
                        raise SystemExit(f"login as {email} failed: {r.text}")
                    logins += 1

        loops = [asyncio.create_task(sign_in_loop(i)) for i in range(args.logins)]
        await asyncio.sleep(1)  # let the sign-in loops get going
        times = []
        failed = 0
        started = time.perf_counter()
        for _ in range(args.probes):
            t0 = time.perf_counter()
            r = await client.post(args.url, json={"query": ME}, headers=headers)
            times.append((time.perf_counter() - t0) * 1000)
            if not (r.json().get("data") or {}).get("me"):
                failed += 1
        elapsed = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*loops)
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(
        f"{args.probes} `me` probes with {args.logins} sign-in loops: median "
        f"{statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms; "
        f"{failed} probes failed; {logins} logins in {elapsed:.1f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())
