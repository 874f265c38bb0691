#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes a synthetic file with the shape and size of WebQA_train_val.json (random words, no real data).

Usage: make_webqa_like.py OUT.json [--records 41732] [--val-only] [--predictions PRED.jsonl] [--seed 1]
Shape per record (field names as in the official release): Guid, Q (wrapped in literal quotes), A (list), Qcate,
split, topic, img_posFacts / img_negFacts (image_id, title, caption, url, imgUrl), txt_posFacts / txt_negFacts
(snippet_id, title, fact, url). Sizes follow the published statistics: about 16 image and 15 text negatives per
question, captions of ~15 words and facts of ~45 words; 36,766 train + 4,966 val records give ~ 0.9-1 GB.
"""
import argparse, json, random, uuid

WORDS = ("the of and a in to is was for on as by with from at that his her it an were are which this be "
         "city river church bridge tower museum painting statue building park street flag roof window car "
         "red blue green white black yellow round square tall small large old new north south east west "
         "one two three four five year century king queen war team game album film song station island").split()
CATS = ["YesNo", "Others", "choose", "number", "color", "shape", "text"]


def words(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--records", type=int, default=41732)
    ap.add_argument("--val-only", action="store_true")
    ap.add_argument("--predictions")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    next_img = 10000000
    preds = open(a.predictions, "w") if a.predictions else None
    with open(a.out, "w") as f:
        f.write("{")
        for i in range(a.records):
            guid = uuid.UUID(int=rng.getrandbits(128)).hex
            cat = rng.choice(CATS)
            split = "val" if a.val_only or i % 8 == 0 else "train"

            def img():
                nonlocal next_img
                next_img += 1
                return {"image_id": next_img, "title": words(rng, 4), "caption": words(rng, rng.randint(5, 25)),
                        "url": "https://commons.wikimedia.org/wiki/File:" + words(rng, 2).replace(" ", "_"),
                        "imgUrl": "https://upload.wikimedia.org/" + uuid.UUID(int=rng.getrandbits(128)).hex + ".jpg"}

            def txt():
                return {"title": words(rng, 3), "fact": words(rng, rng.randint(25, 70)),
                        "url": "https://en.wikipedia.org/wiki/" + words(rng, 2).replace(" ", "_"),
                        "snippet_id": uuid.UUID(int=rng.getrandbits(128)).hex}

            text_q = cat == "text"
            rec = {"Q": '"' + words(rng, 12) + '?"', "A": ['"' + words(rng, 10) + '."'], "topic": words(rng, 1),
                   "split": split, "Qcate": cat, "Guid": guid,
                   "img_posFacts": [] if text_q else [img() for _ in range(rng.randint(1, 2))],
                   "img_negFacts": [img() for _ in range(rng.randint(10, 22))],
                   "txt_posFacts": [txt() for _ in range(rng.randint(1, 2))] if text_q else [],
                   "txt_negFacts": [txt() for _ in range(rng.randint(10, 20))]}
            f.write(("" if i == 0 else ", ") + json.dumps(guid) + ": " + json.dumps(rec))
            if preds and split == "val":
                gold = [x["image_id"] for x in rec["img_posFacts"]] + [x["snippet_id"] for x in rec["txt_posFacts"]]
                negs = [x["image_id"] for x in rec["img_negFacts"][:2]] + [x["snippet_id"] for x in rec["txt_negFacts"][:2]]
                ranking = (gold[:1] + negs + gold[1:]) if rng.random() < 0.5 else (negs[:1] + gold + negs[1:])
                preds.write(json.dumps({"id": guid, "answer": rec["A"][0] if rng.random() < 0.6 else words(rng, 6),
                                        "sources": gold[:1] + negs[:1], "ranking": ranking}) + "\n")
        f.write("}")
    if preds:
        preds.close()


if __name__ == "__main__":
    main()
