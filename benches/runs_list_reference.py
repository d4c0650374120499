"""Reference for benches/runs_list.rs: list run folders the plain-Python way, reading what
`lorabench runs` reads: status.json, the name and trainer from run.yaml (a line scan, no YAML
library), the last line of metrics.jsonl, and /proc for whether the trainer lives."""

import json
import os
import sys

root = sys.argv[1]
rows = []
for rid in sorted(os.listdir(root)):
    d = os.path.join(root, rid)
    try:
        with open(os.path.join(d, "status.json")) as f:
            st = json.load(f)
        name = backend = ""
        with open(os.path.join(d, "run.yaml")) as f:
            for line in f:
                if line.startswith("name:"):
                    name = line[5:].strip()
                elif line.startswith("trainer:"):
                    backend = line[8:].strip()
        state = st["state"]
        t = st.get("trainer")
        if state == "running" and t:
            try:
                with open(f"/proc/{t['pid']}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[19]) != t["start_time"]:
                    state = "failed"
            except OSError:
                state = "failed"
        last = {}
        try:
            with open(os.path.join(d, "metrics.jsonl"), "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 16384))
                lines = f.read().splitlines()
            for line in reversed(lines):
                try:
                    last = json.loads(line)
                    break
                except ValueError:
                    continue
        except OSError:
            pass
        rows.append((rid, name, backend, state, last.get("step"), last.get("total"), last.get("loss")))
    except (OSError, ValueError, KeyError) as e:
        rows.append((rid, "unreadable", str(e)))
for r in rows:
    print(*r)
