#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the bundled demo data set of mmrag_rft (data/demo/) in the WebQA JSON format. Deterministic.

Each question asks about one item, "<entity> of the <place>". Its candidates are five documents: the item's image
(gold), the item's text snippet (gold), an image of the same entity at another place, a snippet about another entity
at the same place (the two hard negatives), and an unrelated image. Images are 24x8 RGB pictures of three 8x8 slots,
1-3 of them holding a coloured shape; the colour, shape and count are drawn per question, so the answer to an image
question can only be read from the pixels. Question categories follow WebQA: color, shape, number, YesNo, choose
(image questions) and Others (answered by the item's snippet).

Files: webqa_demo.json (one object keyed by Guid, as WebQA_train_val.json; "split" is "train" or "val") and
imgs.tsv (image_id TAB base64 of a binary PPM, as WebQA's imgs.tsv holds base64 images keyed by image id).
Usage: python3 gen_data.py [out_dir] [--train N] [--val N] [--seed S]
"""
import argparse
import base64
import json
import os
import random

ENTITIES = ["zorb", "kilo", "vamp", "lunt", "pim", "dax", "quib", "ront", "mell", "tusk", "fen", "yarl", "bix",
            "gop", "hask", "wren"]
PLACES = ["park", "city", "farm", "lake", "hill", "shop"]
COLORS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220), "yellow": (230, 210, 40)}
SHAPES = ["circle", "square", "triangle"]
AGES = ["old", "new"]


def shape_mask(shape, x, y):
    """True where the 8x8 slot pixel (x, y) lies inside the shape. The three shapes differ in area (square 64 pixels,
    circle 32, triangle 18), so the shape is as plain in the pixels as the colour; with a 6x6 square, square and
    circle differed in four corner pixels and the demo's policy never learnt to tell them apart."""
    if shape == "square":
        return True  # the whole slot
    if shape == "circle":
        return (x - 3.5) ** 2 + (y - 3.5) ** 2 <= 3.2 ** 2
    # triangle, apex up: row y spans a width growing from the top
    half = (y - 0.5) * 0.5 if y >= 1 else -1
    return y >= 1 and y <= 6 and abs(x - 3.5) <= half + 0.01


def render(rng, noise, color, shape, count):
    """A 24x8 RGB image: `count` of the three slots hold the shape in the colour; light noisy background. `rng`
    draws the slots, `noise` (one per image) the pixel noise."""
    w, h = 24, 8
    slots = sorted(rng.sample(range(3), count))
    base = COLORS[color]
    px = bytearray()
    for y in range(h):
        for x in range(w):
            slot, sx = divmod(x, 8)
            if slot in slots and shape_mask(shape, sx, y):
                c = [min(255, max(0, v + noise.randint(-25, 25))) for v in base]
            else:
                g = 235 + noise.randint(-12, 12)
                c = [g, g, g]
            px.extend(c)
    return b"P6\n24 8\n255\n" + bytes(px)


def question_for(rng, cat, item, look):
    e, p = item
    color, shape, count, age = look
    if cat == "color":
        return f"what color is the {e} of the {p} ?", color
    if cat == "shape":
        return f"what shape is the {e} of the {p} ?", shape
    if cat == "number":
        return f"how many shapes does the {e} of the {p} show ?", str(count)
    if cat == "YesNo":
        asked = color if rng.random() < 0.5 else rng.choice([c for c in COLORS if c != color])
        return f"is the {e} of the {p} {asked} ?", "yes" if asked == color else "no"
    if cat == "choose":
        other = rng.choice([c for c in COLORS if c != color])
        a, b = (color, other) if rng.random() < 0.5 else (other, color)
        return f"is the {e} of the {p} {a} or {b} ?", color
    return f"is the {e} of the {p} old or new ?", age  # Others: answered by the snippet


def random_look(rng):
    return (rng.choice(list(COLORS)), rng.choice(SHAPES), rng.randint(1, 3), rng.choice(AGES))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "data", "demo"))
    ap.add_argument("--train", type=int, default=640)
    ap.add_argument("--val", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20260)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    cats = ["color", "shape", "number", "YesNo", "choose", "Others"]
    records, images = {}, []
    next_image = [30000000]
    next_snippet = [0]

    def image_fact(item, look):
        iid = next_image[0]
        next_image[0] += 1
        images.append((iid, render(rng, random.Random(iid), look[0], look[1], look[2])))
        title = f"{item[0]} of the {item[1]}"
        return {"image_id": iid, "title": title, "caption": "photo",
                "url": f"https://demo.invalid/{item[0]}/{item[1]}", "imgUrl": f"https://demo.invalid/img/{iid}.ppm"}

    def text_fact(item, look):
        sid = f"d{next_snippet[0]:07x}"
        next_snippet[0] += 1
        return {"snippet_id": sid, "title": f"{item[0]} of the {item[1]}",
                "fact": f"the {item[0]} of the {item[1]} is {look[3]} .", "url": f"https://demo.invalid/{item[0]}"}

    for n in range(args.train + args.val):
        split = "train" if n < args.train else "val"
        e, p = rng.choice(ENTITIES), rng.choice(PLACES)
        item, look = (e, p), random_look(rng)
        cat = cats[n % len(cats)]
        q, a = question_for(rng, cat, item, look)
        p2 = rng.choice([x for x in PLACES if x != p])
        e2 = rng.choice([x for x in ENTITIES if x != e])
        e3 = rng.choice([x for x in ENTITIES if x not in (e, e2)])
        p3 = rng.choice([x for x in PLACES if x != p])
        guid = f"demo{n:05d}"
        records[guid] = {
            "Guid": guid, "Q": f'"{q}"', "A": [f'"{a}"'], "Qcate": cat, "split": split, "topic": e,
            "img_posFacts": [image_fact(item, look)],
            "img_negFacts": [image_fact((e, p2), random_look(rng)), image_fact((e3, p3), random_look(rng))],
            "txt_posFacts": [text_fact(item, look)],
            "txt_negFacts": [text_fact((e2, p), random_look(rng))],
        }
    with open(os.path.join(args.out, "webqa_demo.json"), "w") as f:
        json.dump(records, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(args.out, "imgs.tsv"), "w") as f:
        for iid, data in images:
            f.write(f"{iid}\t{base64.b64encode(data).decode()}\n")
    print(f"wrote {len(records)} questions ({args.train} train, {args.val} val) and {len(images)} images to {args.out}")


if __name__ == "__main__":
    main()
