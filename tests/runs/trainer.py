"""A small training-shaped program for the run tests: real tqdm on stderr with a trainer's
`steps` bar and `loss`/`lr` postfix, its argv echoed as JSON on stdout, signals recorded, and
on request a crash, or signals it ignores (to test the SIGTERM and SIGKILL escalation)."""

import argparse
import json
import signal
import sys
import time

from tqdm import tqdm

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=20)
p.add_argument("--delay", type=float, default=0.05)
p.add_argument("--crash-at", type=int)
p.add_argument("--signals", help="append the name of each signal received here")
p.add_argument("--ignore", action="append", default=[], help="signal names to survive")
p.add_argument("--echo", action="append", default=[], help="arguments to echo back")
a = p.parse_args()


def on_signal(sig, _frame):
    name = signal.Signals(sig).name
    if a.signals:
        with open(a.signals, "a") as f:
            f.write(name + "\n")
    print(f"got {name}", flush=True)
    if name in a.ignore:
        return
    print("saving before exit", flush=True)
    sys.exit(130 if name == "SIGINT" else 143)


signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGTERM, on_signal)
print("echo " + json.dumps(a.echo), flush=True)

bar = tqdm(total=a.steps, desc="steps")
for i in range(a.steps):
    time.sleep(a.delay)
    if a.crash_at == i + 1:
        raise ValueError(f"boom at step {i + 1}")
    bar.update(1)
    bar.set_postfix(loss=1.0 / (i + 1), lr=1e-4)
bar.close()
print("done", flush=True)
