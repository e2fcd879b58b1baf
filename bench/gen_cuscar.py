"""Generate realistic CUSCAR D.95B interchanges for the benchmarks (written by us, not samples).

    python bench/gen_cuscar.py --messages 2000 > /tmp/cuscar2000.edi
    python bench/gen_cuscar.py --megabytes 200 > /tmp/cuscar200mb.edi

Each message is a sea cargo report of one vessel call with several consignments (B/L), parties,
goods items and containers with valid ISO 6346 check digits; about 3 KB per message.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator

_ISO6346_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
               [10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31,
                32, 34, 35, 36, 37, 38], strict=True)),
}  # fmt: skip

OWNERS = ["MSCU", "MAEU", "CMAU", "OOLU", "COSU", "HLXU", "EGLV", "ONEU"]
PORTS = ["CNSHA", "SGSIN", "CNYTN", "KRPUS", "JPTYO", "TWKHH", "VNSGN", "MYPKG"]
GOODS = [
    ("ELECTRONIC INTEGRATED CIRCUITS", "854231"),
    ("COTTON T-SHIRTS, KNITTED", "610910"),
    ("FROZEN PORK CUTS", "020329"),
    ("LITHIUM-ION BATTERIES", "850760"),
    ("PLASTIC HOUSEHOLD ARTICLES", "392490"),
    ("RED WINE IN BOTTLES < 2L", "220421"),
]
PACKAGES = ["CT", "PK", "PL", "BX", "CS"]


def container_id(owner: str, serial: int) -> str:
    """ISO 6346: owner code + U + 6-digit serial + check digit."""
    body = f"{owner[:3]}U{serial:06d}"
    total = sum(_ISO6346_VALUES[c] * (2**i) for i, c in enumerate(body))
    return body + str(total % 11 % 10)


def message(n: int, rnd: random.Random) -> str:
    ref = f"{n}"
    voyage = f"{rnd.randint(100, 999)}E"
    vessel_imo = 9000000 + rnd.randint(0, 999999)
    pol = rnd.choice(PORTS)
    segs = [
        f"UNH+{ref}+CUSCAR:D:95B:UN",
        f"BGM+85+MF{n:08d}+9",
        "DTM+137:202411230800:203",
        f"RFF+VON:{voyage}",
        "NAD+CA+MSCU:160:ZZZ",
        f"TDT+20+{voyage}+1++MSCU:172:ZZZ+++{vessel_imo}:146:11:MSC ANNA",
        f"LOC+5+{pol}:139:6",
        "LOC+60+HKHKG:139:6",
        "DTM+132:202411250600:203",
    ]
    containers = []
    for _ in range(rnd.randint(2, 4)):
        cid = container_id(rnd.choice(OWNERS), rnd.randint(0, 999999))
        containers.append(cid)
        segs += [
            f"EQD+CN+{cid}+45G1:102:5++3+5",
            f"MEA+AAE+G+KGM:{rnd.randint(8000, 28000)}",
            f"SEL+{rnd.randint(100000, 999999)}+CA",
        ]
    for c in range(1, rnd.randint(3, 5) + 1):
        segs += [
            f"CNI+{c}+{rnd.choice(OWNERS)}{rnd.randint(10**8, 10**9 - 1)}",
            f"RFF+BM:{rnd.choice(OWNERS)}{rnd.randint(10**8, 10**9 - 1)}",
            f"LOC+9+{pol}:139:6",
            "LOC+12+HKHKG:139:6",
            "NAD+CZ+++SHANGHAI ORIENT TRADING CO LTD+88 HUAIHAI ROAD?+ SUITE 5+SHANGHAI++200021+CN",
            "NAD+CN+++PEARL DELTA IMPORTS LTD+12 CANTON ROAD+HONG KONG+++HK",
            "NAD+N1+++SAME AS CONSIGNEE",
        ]
        for g in range(1, rnd.randint(1, 3) + 1):
            desc, hs = rnd.choice(GOODS)
            pkgs = rnd.randint(1, 900)
            segs += [
                f"GID+{g}+{pkgs}:{rnd.choice(PACKAGES)}",
                f"FTX+AAA+++{desc}",
                f"FTX+AAA+++HS CODE {hs}",
                f"MEA+AAE+G+KGM:{rnd.randint(100, 20000)}.{rnd.randint(0, 9)}",
                f"MEA+AAE+AAW+MTQ:{rnd.randint(1, 60)}.{rnd.randint(0, 99):02d}",
                f"SGP+{rnd.choice(containers)}+{pkgs}",
            ]
    segs.append(f"UNT+{len(segs) + 1}+{ref}")
    return "'".join(segs) + "'\n"


def interchange(messages: int | None, megabytes: float | None, seed: int = 1) -> Iterator[str]:
    rnd = random.Random(seed)
    yield "UNA:+.? 'UNB+UNOA:3+MSCU:ZZZ+HKCED:ZZZ+241123:0800+BENCH1'\n"
    n = 0
    size = 0
    limit = int(megabytes * 1e6) if megabytes else None
    while (messages is not None and n < messages) or (limit is not None and size < limit):
        n += 1
        text = message(n, rnd)
        size += len(text)
        yield text
    yield f"UNZ+{n}+BENCH1'\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int)
    ap.add_argument("--megabytes", type=float)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.messages is None and args.megabytes is None:
        args.messages = 2000
    out = sys.stdout
    for part in interchange(args.messages, args.megabytes, args.seed):
        out.write(part)


if __name__ == "__main__":
    main()
