#!/usr/bin/env python3
"""Writes a large epoch inputs file (tally/reward/inputs/v1) for the
end-to-end `tally reward compute` benchmark (docs/BENCHMARKS.md).

    scripts/bench/reward-inputs.py 1000000 > /tmp/inputs-1m.json

Deterministic: the same counters as crates/tally-reward/benches/reward.rs
(xorshift64, actors `actor-0000000`...), one account per line, accounts in
reverse id order so the decoder has to sort them.
"""
import sys

MASK = (1 << 64) - 1


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    x = 0x2545F4914F6CDD1D

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
    out.write(
        '{"schema":"tally/reward/inputs/v1","epoch":"2026-w47",'
        '"window":{"start":1763337600,"end":1763942400},"producer":"meter-1",\n'
        '"accounts":[\n'
    )
    out.write(",\n".join(rows))
    out.write("\n]}\n")


if __name__ == "__main__":
    main()
