#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Opens the explanation page of the fixture records in headless Chromium and checks what it shows.

Usage: check_report.py RENDER_EXE FILES_DIR OUT_DIR, or check_report.py --page PAGE N (a page made elsewhere
opens without script errors and lists N questions). Renders FILES_DIR/records.jsonl (+ summary.json) with
RENDER_EXE, lets the page's script run (--dump-dom after it finished), then checks: the script finished
(body data-status "ok") with no uncaught error; the first page shows page_size cards; the metrics table equals
summary.json; the per-category table, the fixed/broke counts, the rewards and the images equal the records; the
filter box (set through the #q= fragment, the same code path as typing) and the fixed/broke selector keep exactly the
matching questions. Exit 77 (skipped) when no chromium is installed. Standard library only.
"""
import base64
import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib

PAGE_SIZE = 5  # render_report.cpp


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def dump(browser, page, fragment=""):
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           "--user-data-dir=" + os.path.join(os.path.dirname(page), "profile"), "--virtual-time-budget=10000",
           "--dump-dom", "file://" + page + fragment]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=40)
    if r.returncode != 0 or "<body" not in r.stdout:
        fail("chromium exited %d: %s" % (r.returncode, r.stderr[-2000:]))
    body = re.search(r"<body([^>]*)>", r.stdout).group(1)
    if 'data-status="ok"' not in body:
        fail("the page's script did not finish (%s), stderr: %s" % (body, r.stderr[-2000:]))
    if "data-errors" in body:
        fail("script errors: " + body)
    # What the page shows, without the scripts' source (which holds the markup templates).
    return re.sub(r"<script[^>]*>.*?</script>", "", r.stdout, flags=re.S)


def png_pixels(uri):
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h, ch = 8, b"", 0, 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]:
            fail("PNG chunk %s has a wrong CRC" % kind)
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
            ch = {0: 1, 2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    out = []
    for y in range(h):
        row = raw[y * (w * ch + 1):(y + 1) * (w * ch + 1)]
        if row[0] != 0:
            fail("PNG row filter %d, expected 0" % row[0])
        out += list(row[1:])
    return w, h, ch, out


def check_page(page, n):
    """A page rendered elsewhere (mmrag-eval --html): the script finishes without errors and lists n questions."""
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        print("SKIP: no chromium on PATH (Debian: apt-get install chromium; scripts/install-deps.sh installs it)")
        sys.exit(77)
    page = os.path.abspath(page)
    got = int(re.search(r'data-matching="(\d+)"', dump(browser, page)).group(1))
    if got != n:
        fail("%s lists %d questions, expected %d" % (page, got, n))
    print("ok: %s lists %d questions" % (page, n))


def main():
    if sys.argv[1] == "--page":
        return check_page(sys.argv[2], int(sys.argv[3]))
    render, files, out = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        print("SKIP: no chromium on PATH (Debian: apt-get install chromium; scripts/install-deps.sh installs it)")
        sys.exit(77)
    os.makedirs(out, exist_ok=True)
    page = os.path.join(out, "report.html")
    recs_path, summary_path = os.path.join(files, "records.jsonl"), os.path.join(files, "summary.json")
    subprocess.run([render, recs_path, page, summary_path], check=True)
    records = [json.loads(l) for l in open(recs_path) if l.strip()]
    summary = json.load(open(summary_path))

    dom = dump(browser, page)
    m = re.search(r'id="count" data-matching="(\d+)"', dom)
    if not m or int(m.group(1)) != len(records):
        fail("count: %s, expected %d" % (m and m.group(1), len(records)))
    cards = re.findall(r'<details class="q" data-id="([^"]+)">', dom)
    if cards != [r["id"] for r in records[:PAGE_SIZE]]:
        fail("first page cards %s" % cards)

    # The metrics table equals summary.json.
    cells = dict(((s, k), v) for s, k, v in re.findall(r'data-stage="([^"]+)" data-metric="([^"]+)">([^<]*)</td>', dom))
    want = {(s, k): "%.3f" % v for s, col in summary.items() if isinstance(col, dict) for k, v in col.items()}
    if cells != want:
        fail("metrics table %s, expected %s" % (cells, want))

    # Per category: best fixed answer and each stage's accuracy, recomputed from the records.
    stages = [s["name"] for s in records[0]["stages"]]
    for cat in dict.fromkeys(r["category"] for r in records):
        rs = [r for r in records if r["category"] == cat]
        counts = {}
        for r in rs:
            a = r["answers"][0].lower()
            counts[a] = counts.get(a, 0) + 1
        row = re.search(r'<tr data-category="%s">(.*?)</tr>' % re.escape(cat), dom)
        if not row:
            fail("no category row " + cat)
        fixed = re.search(r"data-fixed[^>]*>([0-9.]+)", row.group(1)).group(1)
        if fixed != "%.3f" % (max(counts.values()) / len(rs)):
            fail("%s fixed answer %s" % (cat, fixed))
        for s in stages:
            acc = sum(st["answer_correct"] for r in rs for st in r["stages"] if st["name"] == s) / len(rs)
            got = re.search(r'data-stage="%s">([0-9.]+)</td>' % re.escape(s), row.group(1)).group(1)
            if got != "%.3f" % acc:
                fail("%s %s accuracy %s, expected %.3f" % (cat, s, got, acc))

    # Fixed and broke between the first and the last stage.
    first_last = [(r["stages"][0]["answer_correct"], r["stages"][-1]["answer_correct"]) for r in records]
    nfixed, nbroke = sum(a < b for a, b in first_last), sum(a > b for a, b in first_last)
    for name, n in (("fixed", nfixed), ("broke", nbroke)):
        if not re.search(r'id="%s" data-count="%d"' % (name, n), dom):
            fail("%s count is not %d" % (name, n))

    # Rewards, rule scores and images of the first page equal the records.
    rewards = re.findall(r'<b class="reward">reward ([0-9.\-]+)</b>', dom)
    want_r = ["%.3f" % s["reward"] for r in records[:PAGE_SIZE] for s in r["stages"]]
    if rewards != want_r:
        fail("rewards %s, expected %s" % (rewards, want_r))
    imgs = re.findall(r'<img alt="[^"]*" src="(data:image/png;base64,[^"]+)"', dom)
    want_i = [d["image"] for r in records[:PAGE_SIZE] for d in r["documents"] if "image" in d]
    if len(imgs) != len(want_i):
        fail("%d images, expected %d" % (len(imgs), len(want_i)))
    for uri, im in zip(imgs, want_i):
        if png_pixels(uri) != (im["width"], im["height"], im["channels"], im["pixels"]):
            fail("an image's PNG pixels differ from the record")
    # Text from the records is shown as text (a record's "</script>" neither ends the script nor adds markup).
    if records[-1]["stages"][-1]["answer"] not in html.unescape(dump(browser, page, "#q=" + records[-1]["id"])):
        fail("the last record's answer is not shown as text")

    # The filter and the selector.
    for frag, keep in (("#q=color", lambda r: "color" in (r["id"] + " " + r["question"] + " " + r["category"]).lower()),
                       ("#which=fixed", lambda r: r["stages"][0]["answer_correct"] < r["stages"][-1]["answer_correct"]),
                       ("#which=broke", lambda r: r["stages"][0]["answer_correct"] > r["stages"][-1]["answer_correct"])):
        d = dump(browser, page, frag)
        ids = re.findall(r'<details class="q" data-id="([^"]+)">', d)
        want_ids = [r["id"] for r in records if keep(r)][:PAGE_SIZE]
        n = int(re.search(r'data-matching="(\d+)"', d).group(1))
        if ids != want_ids or n != sum(map(keep, records)):
            fail("%s shows %s (%d matching), expected %s" % (frag, ids, n, want_ids))
    print("ok: %d records, %d cards a page, metrics, categories, fixed %d / broke %d, rewards, images, filter"
          % (len(records), PAGE_SIZE, nfixed, nbroke))


if __name__ == "__main__":
    main()
