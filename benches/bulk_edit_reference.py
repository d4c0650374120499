"""Reference for benches/dataset_bulk.rs: the same tag edit as a plain Python loop.

Adds a tag to every caption of DIR the way a quick script would: read, split on commas,
append, write in place. No journal, no atomic replace, no fsync: the cheapest honest way to
do the edit, so lorabench's figure (journal and crash safety included) is compared to it.
Usage: python3 bulk_edit_reference.py DIR TAG   (prints the wall time in seconds)
"""
import os
import sys
import time

root, tag = sys.argv[1], sys.argv[2]
start = time.perf_counter()
changed = 0
for name in sorted(os.listdir(root)):
    if not name.endswith(".txt"):
        continue
    path = os.path.join(root, name)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    tags = [t.strip() for t in text.split(",") if t.strip()]
    if tag not in tags:
        tags.append(tag)
        with open(path, "w", encoding="utf-8") as f:
            f.write(", ".join(tags))
        changed += 1
print(f"{time.perf_counter() - start:.6f} {changed}")
