"""Buckets as sd-scripts itself assigns them, for tests/dataset/kohya_buckets.rs.

Reads JSON from stdin: a list of {"resolution": [W, H], "min": N, "max": N, "steps": N,
"no_upscale": bool, "sizes": [[w, h], ...]}. For each set it adjusts min/max to the step with
BaseDataset.adjust_min_max_bucket_reso_by_steps, builds sd-scripts' own BucketManager the way
BaseDataset.make_buckets does (make_buckets() only in upscale mode) and calls select_bucket on
every size. Writes [{"min": N, "max": N, "buckets": [[w, h], ...], "assigned": [[bucket_w,
bucket_h, resized_w, resized_h], ...]}, ...] to stdout.

Run with the sd-scripts folder as the first argument and kohya-cpu.sh's python.
"""

import json
import sys

sys.path.insert(0, sys.argv[1])
from library import train_util  # noqa: E402

out = []
for s in json.load(sys.stdin):
    res = tuple(s["resolution"])
    lo, hi = train_util.BaseDataset.adjust_min_max_bucket_reso_by_steps(
        None, res, s["min"], s["max"], s["steps"]
    )
    manager = train_util.BucketManager(s["no_upscale"], res, lo, hi, s["steps"])
    if not s["no_upscale"]:
        manager.make_buckets()
    assigned = []
    for w, h in s["sizes"]:
        reso, resized, _ = manager.select_bucket(w, h)
        assigned.append([int(reso[0]), int(reso[1]), int(resized[0]), int(resized[1])])
    buckets = [] if s["no_upscale"] else [list(map(int, r)) for r in manager.predefined_resos]
    out.append({"min": lo, "max": hi, "buckets": buckets, "assigned": assigned})
json.dump(out, sys.stdout)
