#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Plain-Python reference of the stage-2 reward (format + ranking NDCG@10 + answer F1 + overlong penalty), with `re`.

Written the way reward functions for verl / TRL are written (one function per rule, regular expressions, SQuAD
normalisation), implementing the same rules, with the same defaults, as the C++ composite in
bench/rewards/stage2_reward.cpp:
    total = 0.5 * format + 1.0 * ranking + 1.0 * answer + 1.0 * overlong
    format   1 when the text is exactly <think>..</think><rank>..</rank><answer>..</answer> (whitespace around), else 0
    ranking  NDCG@10 (binary gains) of the labels in <rank> (bare numbers or "Image 2"-style shared numbering);
             0 for a missing/duplicated/unclosed section, no label, a duplicate, an out-of-range or unknown label
    answer   SQuAD v1.1 token F1 of <answer> against the gold answers (max); 0 without a usable section
    overlong DAPO soft punishment with L_max = 1024, L_cache = 256 on num_tokens

Usage:
    rewards_reference.py generate OUT [--n 100000] [--seed 1]     write the inputs both programs read
    rewards_reference.py run IN [--totals TOTALS]                  time the reference; write one total per line
File format (bytes): a line "MMRAGRFT-REWARDS 1 <n>", then per record a line
"<num_tokens> <truncated> <num_docs> <gold ids comma-separated or -> <num_answers> <text bytes>", the answers one per
line, then the text's bytes and a newline.
"""
import argparse
import math
import random
import re
import string
import sys
import time

TAGS = ("think", "rank", "answer")
FORMAT_RE = re.compile(r"\s*<think>.*?</think>\s*<rank>.*?</rank>\s*<answer>.*?</answer>\s*", re.S)
LABEL_RE = re.compile(r"(?:([A-Za-z]+)[ \t_#-]*)?(\d+)")
PREFIXES = {"doc", "document", "image", "img", "text", "table", "passage", "candidate", "id"}
PUNCT = set(string.punctuation)
ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
K = 10
L_MAX, L_CACHE = 1024, 256


# --- the rules ------------------------------------------------------------------------------------------------------
def section(text, tag):
    """Content of <tag>..</tag> when the tag is opened once and closed once after it; else None."""
    open_t, close_t = "<%s>" % tag, "</%s>" % tag
    if text.count(open_t) != 1 or text.count(close_t) != 1:
        return None
    m = re.search(re.escape(open_t) + r"(.*?)" + re.escape(close_t), text, re.S)
    return m.group(1) if m else None


def format_reward(text):
    if not FORMAT_RE.fullmatch(text):
        return 0.0
    return 1.0 if all(text.count("<%s>" % t) == 1 and text.count("</%s>" % t) == 1 for t in TAGS) else 0.0


def parse_ranking(content, num_docs):
    """0-based document indices, or None when a label is a duplicate, out of range or unknown, or there is none."""
    order, seen = [], set()
    for prefix, number in LABEL_RE.findall(content):
        if prefix and prefix.lower() not in PREFIXES:
            return None
        n = int(number)
        if n < 1 or n > num_docs or n in seen:
            return None
        seen.add(n)
        order.append(n - 1)
    return order or None


def ndcg_at_k(ranking, gold, k):
    gold = set(gold)
    dcg = sum(1.0 / math.log2(r + 2) for r, d in enumerate(ranking[:k]) if d in gold)
    idcg = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(gold))))
    return dcg / idcg if idcg > 0 else 0.0


def ranking_reward(text, num_docs, gold):
    content = section(text, "rank")
    if content is None:
        return 0.0
    order = parse_ranking(content, num_docs)
    return 0.0 if order is None else ndcg_at_k(order, gold, K)


def normalize_answer(s):
    s = "".join(ch for ch in s.lower() if ch not in PUNCT)
    s = ARTICLES_RE.sub(" ", s)
    return " ".join(s.split())


def f1_score(prediction, gold):
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = {}
    for w in p:
        common[w] = common.get(w, 0) + 1
    same = 0
    for w in g:
        if common.get(w, 0) > 0:
            common[w] -= 1
            same += 1
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def answer_reward(text, answers):
    content = section(text, "answer")
    if content is None:
        return 0.0
    return max((f1_score(content, a) for a in answers), default=0.0)


def overlong_reward(num_tokens, truncated):
    if truncated or num_tokens > L_MAX:
        return -1.0
    if num_tokens <= L_MAX - L_CACHE:
        return 0.0
    return ((L_MAX - L_CACHE) - num_tokens) / L_CACHE


def stage2_reward(rec):
    text, num_tokens, truncated, num_docs, gold, answers = rec
    return (0.5 * format_reward(text) + ranking_reward(text, num_docs, gold) + answer_reward(text, answers) +
            overlong_reward(num_tokens, truncated))


# --- inputs ---------------------------------------------------------------------------------------------------------
WORDS = ("the of and a in to is was for on as by with from at that which this image shows caption text document "
         "river bridge tower museum painting statue building park street flag roof window car red blue green white "
         "black yellow round square tall small large old new north south east west year century king queen team "
         "album film song station island question answer evidence mentions describes relevant because however "
         "therefore first second third photo snippet table colour shape number").split()
ANSWERS = ["white", "red and blue", "the Eiffel Tower", "three", "Sydney Opera House", "a round dome", "yes", "no",
           "1889", "green roof", "London Bridge", "two towers", "the river Seine", "blue", "square"]


def label(rng, d):
    return rng.choice(["%d", "%d", "Image %d", "Text %d", "Doc %d"]) % (d + 1)


def ranking_text(rng, order):
    form = rng.randrange(7)
    if form == 0:
        return "[" + ", ".join(str(d + 1) for d in order) + "]"
    if form == 1:
        return " > ".join(str(d + 1) for d in order)
    if form == 2:
        return " > ".join(label(rng, d) for d in order)
    if form == 3:
        return ", ".join("[Doc %d]" % (d + 1) for d in order)
    if form == 4:
        return "\n".join(str(d + 1) for d in order)
    if form == 5:
        return "Ranking: [" + ", ".join(str(d + 1) for d in order) + "]"
    return ", ".join(str(d + 1) for d in order)


def make_record(rng):
    num_docs = rng.randint(3, 10)
    gold = sorted(rng.sample(range(num_docs), rng.randint(1, min(3, num_docs))))
    answers = rng.sample(ANSWERS, rng.randint(1, 2))
    words = [rng.choice(WORDS) for _ in range(rng.randint(150, 450))]
    for _ in range(rng.randint(1, 4)):  # the reasoning cites documents by label
        words.insert(rng.randrange(len(words)), "Image %d" % rng.randint(1, num_docs))
    think = " ".join(words)
    # The ranking: gold documents mostly near the top, a few others after them.
    docs = list(range(num_docs))
    rng.shuffle(docs)
    docs.sort(key=lambda d: (d not in gold) if rng.random() < 0.7 else rng.random())
    order = docs[:rng.randint(1, num_docs)]
    rank = ranking_text(rng, order)
    roll = rng.random()
    if roll < 0.03:
        rank = rank + ", " + str(order[0] + 1)        # duplicate
    elif roll < 0.05:
        rank = rank + ", " + str(num_docs + 1)        # out of range
    a = rng.random()
    answer = answers[0] if a < 0.5 else (answers[0] + " " + rng.choice(WORDS) if a < 0.7 else rng.choice(ANSWERS))
    text = "<think>%s</think>\n<rank>%s</rank>\n<answer>%s</answer>" % (think, rank, answer)
    num_tokens = int(len(text.split()) * 1.3)
    truncated = 0
    m = rng.random()
    if m < 0.02:                                       # truncated at the length limit
        text = text[: rng.randrange(len(text) // 2, len(text) - 5)]
        truncated, num_tokens = 1, L_MAX
    elif m < 0.04:
        text = text.replace("<rank>", "").replace("</rank>", "")
    elif m < 0.06:
        text += " I hope this helps!"
    elif m < 0.07:
        text += "\n<answer>" + rng.choice(ANSWERS) + "</answer>"
    return text, num_tokens, truncated, num_docs, gold, answers


def generate(path, n, seed):
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.write(b"MMRAGRFT-REWARDS 1 %d\n" % n)
        for _ in range(n):
            text, num_tokens, truncated, num_docs, gold, answers = make_record(rng)
            data = text.encode()
            f.write(b"%d %d %d %s %d %d\n" % (num_tokens, truncated, num_docs,
                                              ",".join(map(str, gold)).encode() or b"-", len(answers), len(data)))
            for a in answers:
                f.write(a.encode() + b"\n")
            f.write(data + b"\n")


def read(path):
    recs = []
    with open(path, "rb") as f:
        header = f.readline().split()
        assert header[:2] == [b"MMRAGRFT-REWARDS", b"1"], "not a rewards input file"
        for _ in range(int(header[2])):
            num_tokens, truncated, num_docs, gold, num_answers, size = f.readline().split()
            answers = [f.readline()[:-1].decode() for _ in range(int(num_answers))]
            text = f.read(int(size)).decode()
            f.read(1)
            gold = [] if gold == b"-" else [int(g) for g in gold.split(b",")]
            recs.append((text, int(num_tokens), bool(int(truncated)), int(num_docs), gold, answers))
    return recs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("out")
    g.add_argument("--n", type=int, default=100000)
    g.add_argument("--seed", type=int, default=1)
    r = sub.add_parser("run")
    r.add_argument("input")
    r.add_argument("--totals")
    a = ap.parse_args()
    if a.cmd == "generate":
        generate(a.out, a.n, a.seed)
        return
    recs = read(a.input)
    nbytes = sum(len(rec[0].encode()) for rec in recs)
    c0, t0 = time.process_time(), time.perf_counter()
    totals = [stage2_reward(rec) for rec in recs]
    c1, t1 = time.process_time(), time.perf_counter()
    secs, cpu = t1 - t0, c1 - c0
    # CPU time is the figure to compare on a shared machine: wall time also counts the time other processes ran.
    print("python reference: %d completions, %.1f MB, wall %.3f s, cpu %.3f s, %.2f us/completion (cpu), "
          "%.0f completions/s (cpu), mean reward %.6f" % (len(recs), nbytes / 1e6, secs, cpu, 1e6 * cpu / len(recs),
                                                         len(recs) / cpu, sum(totals) / len(totals)))
    if a.totals:
        with open(a.totals, "w") as f:
            f.write("\n".join(repr(t) for t in totals) + "\n")


if __name__ == "__main__":
    sys.exit(main())
