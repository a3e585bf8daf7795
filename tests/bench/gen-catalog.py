#!/usr/bin/env python3
"""gen-catalog.py - write a realistic, deterministic product catalog CSV.

    tests/bench/gen-catalog.py [-n ROWS] [--seed N] [--variant N [--changed F]] [--crlf] [--bom] [-o FILE]

Columns sku,name,description,active,price. SKUs look like ABC-000123; about
2% of the rows repeat an earlier SKU in a different case (the same product
for the importer: the last one wins). Names are words, some with UTF-8
letters; descriptions are 80 to 200 characters with commas, doubled quotes
and, now and then, a line break inside the quoted value. Booleans come in
several accepted spellings; prices have 0 to 2 decimals. The same arguments
always give the same bytes, so timings can be compared between runs.

--variant N (N > 0) writes the same SKUs, duplicates and descriptions in
the same order, with other names and prices: importing it over the catalog
of variant 0 updates every product (the "all-update" benchmark case).
With --changed F (0 < F < 1) only that share of the rows, picked at random
(deterministically), takes the variant's values; the others stay variant 0
("10% changed": --variant 1 --changed 0.1).
"""
import argparse
import random
import sys

WORDS = ("steel bracket hinge valve sensor cable adapter module filter panel pump "
         "bearing gasket spring switch relay fuse clamp bolt washer nozzle hose "
         "fitting coupling motor gear pulley belt chain sprocket lever knob handle "
         "frame plate cover housing mount base shelf rack drawer cabinet").split()
ADJ = ("small large heavy-duty compact premium basic industrial quiet fast "
       "waterproof stainless galvanised anodised reinforced flexible").split()
UTF8 = ("Müller", "Größe", "café", "façade", "naïve", "Ångström", "Łódź", "Škoda",
        "señor", "crème", "東京", "Ωmega", "résumé", "Zürich")
PREFIXES = [a + b + c for a in "ABCDEFGH" for b in "KLMNPQ" for c in "RSTUVW"]
ACTIVE = ("true", "false", "1", "0", "yes", "no", "y", "n", "TRUE", "Yes", "")


def quote(v):
    if any(c in v for c in ',"\r\n') or v != v.strip():
        return '"' + v.replace('"', '""') + '"'
    return v


def description(rng):
    target = rng.randint(80, 200)
    parts = []
    n = 0
    while n < target:
        w = rng.choice(WORDS)
        r = rng.random()
        if r < 0.08:
            w = '"' + w + '"'
        elif r < 0.20:
            w += ","
        elif r < 0.23:
            w = rng.choice(UTF8)
        parts.append(w)
        n += len(w) + 1
    text = " ".join(parts)
    if len(text) > 200:
        text = text[:200].rstrip()
    if rng.random() < 0.03:
        cut = len(text) // 2
        text = text[:cut].rstrip() + "\n" + text[cut:].lstrip()
    while len(text) < 80:
        text += " " + rng.choice(WORDS)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--rows", type=int, default=500000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--crlf", action="store_true", help="CRLF line ends")
    ap.add_argument("--bom", action="store_true", help="start with a UTF-8 BOM")
    ap.add_argument("--variant", type=int, default=0,
                    help="same SKUs, other names and prices (0: the catalog itself)")
    ap.add_argument("--changed", type=float, default=1.0,
                    help="with --variant: the share of rows that take its values (default 1)")
    ap.add_argument("-o", "--output", default="-")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    # a second stream, so that variant 0 stays byte for byte what it was
    vrng = random.Random("%d/%d" % (args.seed, args.variant)) if args.variant else None
    # a third one picks the rows that change, so the variant's values stay the same
    crng = random.Random("%d/%d/changed" % (args.seed, args.variant))
    eol = "\r\n" if args.crlf else "\n"
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8", newline="")
    if args.output == "-":
        sys.stdout.reconfigure(newline="")
    buf = []
    if args.bom:
        buf.append("\ufeff")
    buf.append("sku,name,description,active,price" + eol)
    skus = []
    for i in range(args.rows):
        if skus and rng.random() < 0.02:
            old = rng.choice(skus)
            sku = old.lower() if rng.random() < 0.7 else old.capitalize()
        else:
            sku = "%s-%06d" % (PREFIXES[i % len(PREFIXES)], i)
            skus.append(sku)
        name = " ".join([rng.choice(ADJ), rng.choice(WORDS)]).capitalize()
        if rng.random() < 0.1:
            name += " " + rng.choice(UTF8)
        if rng.random() < 0.05:
            name += ", " + rng.choice(WORDS)
        price = "%d.%02d" % (rng.randint(0, 4999), rng.randint(0, 99))
        r = rng.random()
        if r < 0.1:
            price = str(rng.randint(1, 999))
        elif r < 0.15:
            price = price[:-1]
        if vrng and (args.changed >= 1 or crng.random() < args.changed):
            name = "%s %s, rev %d" % (vrng.choice(ADJ).capitalize(),
                                      vrng.choice(WORDS), args.variant)
            price = "%d.%02d" % (vrng.randint(5000, 9999), vrng.randint(0, 99))
        buf.append(",".join((sku, quote(name), quote(description(rng)), rng.choice(ACTIVE), price)) + eol)
        if len(buf) >= 10000:
            out.write("".join(buf))
            buf = []
    out.write("".join(buf))
    out.flush()


if __name__ == "__main__":
    main()
