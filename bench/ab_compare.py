"""Two recgw binaries (or one binary under two settings) side by side in the same run: the
same stack, the same hot 16 KiB recording by token, wrk rounds interleaved A, B, A, B … so
both see the same background noise; the median req/s of each and their ratio.

For changes whose cost per request is small against the noise of a shared machine (one
round is not enough there: compare medians of several interleaved rounds).

    ~/.cache/recgw/venv/bin/python bench/ab_compare.py --a OLD/recgw --b build/recgw \\
        [--b-env RECGW_CACHE_OBJECTS_BYTES=0] [--rounds 7] [--seconds 3] [--conns 16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from run import cpu_split, wrk  # noqa: E402
from stack import Stack, start_gateway, stop_all  # noqa: E402


def env_pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"ab_compare.py: expected KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="recgw binary A (the baseline)")
    ap.add_argument("--b", required=True, help="recgw binary B")
    ap.add_argument("--a-env", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--b-env", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--size", type=int, default=16 * 1024, help="object bytes")
    ap.add_argument("--out", help="write the rounds as JSON here")
    args = ap.parse_args()

    st = Stack(tempfile.mkdtemp(prefix="recgw-ab-")).start("redis", "ferretdb", "minio")
    gateways = []
    try:
        key, token = f"ab/{uuid.uuid4().hex}.ogg", uuid.uuid4().hex + "abcdefghijk"
        st.put_object(key, os.urandom(args.size), "audio/ogg")
        st.insert_call("sess-" + uuid.uuid4().hex[:12], token=token, key=key, status="ready")
        common = {"RECGW_CACHE_L1_TTL_S": "3600"}
        for name, binary, extra in (("a", args.a, args.a_env), ("b", args.b, args.b_env)):
            gw = start_gateway(st, {**common, **env_pairs(extra)}, (), binary=binary,
                               log_dir=tempfile.mkdtemp(prefix=f"recgw-ab-{name}-"))
            gateways.append(gw)
        urls = {name: gw.url + "/api/v1/public/recordings/" + token for name, gw in zip("ab", gateways)}
        for url in urls.values():
            warm = wrk(url, 4, 1)
            if warm.get("error") or warm["non2xx"]:
                raise SystemExit(f"ab_compare.py: warm-up of {url} failed: {warm}")
        rounds: dict[str, list[dict]] = {"a": [], "b": []}
        for i in range(args.rounds):
            order = "ab" if i % 2 == 0 else "ba"  # neither side always runs first
            for name in order:
                gw = gateways["ab".index(name)]
                c0 = cpu_split(gw.proc.pid)
                r = wrk(urls[name], args.conns, args.seconds)
                c1 = cpu_split(gw.proc.pid)
                served = max(1.0, r["rps"] * args.seconds)
                # The gateway's own CPU per request (user, system), which the other processes
                # on a shared box do not move as much as they move req/s.
                r["cpu_us"] = [round((c1[0] - c0[0]) / served * 1e6, 1), round((c1[1] - c0[1]) / served * 1e6, 1)]
                if r.get("error"):
                    raise SystemExit(f"ab_compare.py: wrk failed against {name}: {r['error']}")
                rounds[name].append(r)
                print(f"round {i} {name}: {r['rps']:.0f} req/s p99 {r['p99_ms']} ms non2xx {r['non2xx']} "
                      f"cpu µs/request user {r['cpu_us'][0]} sys {r['cpu_us'][1]}", flush=True)
        med = {name: statistics.median(r["rps"] for r in rs) for name, rs in rounds.items()}
        cpu = {name: [statistics.median(r["cpu_us"][k] for r in rs) for k in (0, 1)] for name, rs in rounds.items()}
        # Rounds i of A and B ran back to back, under the same background load; on a shared box
        # that load drifts by tens of percent within a run, which the medians of each side
        # carry and the round-by-round ratio does not.
        paired = [rb["rps"] / max(ra["rps"], 1e-9) for ra, rb in zip(rounds["a"], rounds["b"])]
        paired_ratio = statistics.geometric_mean(paired)
        paired_cpu = statistics.mean(sum(rb["cpu_us"]) - sum(ra["cpu_us"]) for ra, rb in zip(rounds["a"], rounds["b"]))
        b_wins = sum(1 for x in paired if x > 1)
        print(f"median req/s: A {med['a']:.0f}, B {med['b']:.0f}, B/A {med['b'] / max(med['a'], 1e-9):.3f}")
        print(f"paired by round: B/A {paired_ratio:.3f} (geometric mean; B ahead in {b_wins} of {len(paired)}), "
              f"gateway CPU B - A {paired_cpu:+.1f} µs/request")
        print(f"median gateway CPU µs/request (user + sys): A {cpu['a'][0]} + {cpu['a'][1]}, "
              f"B {cpu['b'][0]} + {cpu['b'][1]}")
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"args": vars(args), "rounds": rounds, "median_rps": med, "median_cpu_us": cpu,
                           "b_over_a": med["b"] / max(med["a"], 1e-9), "paired_b_over_a": paired_ratio,
                           "paired_cpu_us_b_minus_a": paired_cpu, "loadavg": os.getloadavg()}, f, indent=1)
        return 0
    finally:
        stop_all(gateways)
        st.stop()


if __name__ == "__main__":
    sys.exit(main())
