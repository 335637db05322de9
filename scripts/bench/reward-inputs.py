#!/usr/bin/env python3
"""Writes a large epoch inputs file (tally/reward/inputs/v1) for the
end-to-end `tally reward compute` benchmark (docs/BENCHMARKS.md).

    scripts/bench/reward-inputs.py 1000000 > /tmp/inputs-1m.json
    scripts/bench/reward-inputs.py 50000 3 > /tmp/in50k-3.json

Deterministic: the same counters as crates/tally-reward/benches/reward.rs
(xorshift64, actors `actor-0000000`...), one account per line, accounts in
reverse id order so the decoder has to sort them. With a week number K
above 0, the epoch is `bench-K`, its window the K-th week after 2026-w47's
and the counters another sequence, so a run of K = 1, 2, ... forms a chain
of epochs with distinct measurements (scripts/bench/reward-http.sh).
"""
import sys

MASK = (1 << 64) - 1


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    week = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    x = 0x2545F4914F6CDD1D ^ (week * 0x9E3779B97F4A7C15 & MASK)

    def nxt() -> int:
        nonlocal x
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        return x

    rows = []
    for i in range(n):
        stored = nxt() % (1 << 40)
        served = nxt() % (1 << 42)
        up = nxt() % 2_592_000
        rows.append(
            '{"account":"actor-%07d","counters":{"bytes_stored":%d,'
            '"bytes_served":%d,"uptime_seconds":%d}}' % (i, stored, served, up)
        )
    rows.reverse()
    out = sys.stdout
    epoch = "2026-w47" if week == 0 else "bench-%d" % week
    start = 1763337600 + week * 604800
    out.write(
        '{"schema":"tally/reward/inputs/v1","epoch":"%s",'
        '"window":{"start":%d,"end":%d},"producer":"meter-1",\n'
        '"accounts":[\n' % (epoch, start, start + 604800)
    )
    out.write(",\n".join(rows))
    out.write("\n]}\n")


if __name__ == "__main__":
    main()
