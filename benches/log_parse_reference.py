#!/usr/bin/env python3
"""The reference for benches/log_parse.rs: a plain Python regex loop over a kohya log, the way a
monitoring script would read it (trainers.md §2.5): read in 64 KiB chunks, split on \\r and \\n,
match each line against the tqdm frame regex, keep the `steps` bar's last loss per step.
Prints `points N last_step S last_loss L`."""

import re
import sys

FRAME = re.compile(
    rb"^(?P<desc>.*?):\s*(?P<pct>\d{1,3})%(?:\|(?P<bar>[^|]*)\|)?\s*(?P<n>\d+)/(?P<total>\d+)\s*"
    rb"\[(?P<elapsed>(?:\d+:)?\d{2}:\d{2})<(?P<remaining>(?:\d+:)?\d{2}:\d{2}|\?),\s*"
    rb"(?P<rate>\?|\d+(?:\.\d+)?)(?P<unit>it/s|s/it)(?:,\s*(?P<postfix>[^\]]*))?\]"
)
SPLIT = re.compile(rb"[\r\n]")
LOSS = re.compile(rb"avr_loss=([^,\]]+)")


def main(path):
    points = 0
    last_step = None
    last_loss = None
    rest = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(64 * 1024)
            if not chunk:
                break
            lines = SPLIT.split(rest + chunk)
            rest = lines.pop()
            for line in lines:
                m = FRAME.match(line)
                if m is None or m.group("desc") != b"steps":
                    continue
                step = int(m.group("n"))
                postfix = m.group("postfix")
                loss = None
                if postfix:
                    lm = LOSS.search(postfix)
                    if lm:
                        loss = float(lm.group(1))
                if step != last_step:
                    points += 1
                    last_step = step
                last_loss = loss if loss is not None else last_loss
    print(f"points {points} last_step {last_step} last_loss {last_loss}")


if __name__ == "__main__":
    main(sys.argv[1])
