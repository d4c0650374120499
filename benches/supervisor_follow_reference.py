"""Reference for benches/supervisor_cpu.rs: follow a growing trainer log the plain way, as a
`tail -f` with a parser: every half second read what is new, split on \\r and \\n, take the
tqdm frames with a regex, append one JSON line per frame with a step."""

import json
import re
import sys
import time

FRAME = re.compile(rb"(\d+)/(\d+) \[[^<\]]*<[^,\]]*,\s*([\d.?]+)(it/s|s/it)(?:, ([^\]]*))?\]")
log, out = sys.argv[1], sys.argv[2]
pending = b""
with open(log, "rb") as f, open(out, "a") as w:
    while True:
        chunk = f.read()
        if chunk:
            parts = re.split(rb"[\r\n]", pending + chunk)
            pending = parts.pop()
            for line in parts:
                m = FRAME.search(line)
                if m:
                    point = {"step": int(m.group(1)), "total": int(m.group(2))}
                    for kv in (m.group(5) or b"").split(b", "):
                        k, _, v = kv.partition(b"=")
                        if k == b"loss":
                            point["loss"] = float(v)
                    w.write(json.dumps(point) + "\n")
            w.flush()
        time.sleep(0.5)
