"""Python reference for benches/lint.rs: decode every image with Pillow and compute imagehash's
dhash, one file after the other, as a typical Python dataset checker does.

    python benches/lint_reference.py DIR
Prints one JSON line: {"images": n, "failed": k, "seconds": t}.
"""
import json
import os
import sys
import time

import imagehash
from PIL import Image

EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


def main():
    root = sys.argv[1]
    paths = []
    for dirpath, _dirs, files in os.walk(root):
        paths += [os.path.join(dirpath, f) for f in files if os.path.splitext(f)[1].lower() in EXTS]
    paths.sort()
    start = time.perf_counter()
    failed = 0
    for p in paths:
        try:
            with Image.open(p) as im:
                im.load()
                imagehash.dhash(im)
        except Exception:
            failed += 1
    print(json.dumps({"images": len(paths), "failed": failed, "seconds": time.perf_counter() - start}))


main()
