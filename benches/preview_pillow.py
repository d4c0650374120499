"""Pillow reference for benches/preview.rs (run by it; needs only Pillow).

    python benches/preview_pillow.py REPS MAX_W MAX_H FILE...

For every file: open, Image.draft('RGB', box) (libjpeg DCT scaling), thumbnail(box), REPS
timed runs after one warm-up. Prints one JSON object: Pillow's version, the median seconds per
file and the size of the last thumbnail.
"""

import json
import statistics
import sys
import time

from PIL import Image


def main() -> None:
    reps, box = int(sys.argv[1]), (int(sys.argv[2]), int(sys.argv[3]))
    medians, sizes = {}, {}
    for path in sys.argv[4:]:
        times = []
        for i in range(reps + 1):
            start = time.perf_counter()
            with Image.open(path) as im:
                im.draft("RGB", box)
                im.thumbnail(box)
                size = im.size
            if i:
                times.append(time.perf_counter() - start)
        medians[path] = statistics.median(times)
        sizes[path] = size
    print(json.dumps({"pillow": Image.__version__, "median_s": medians, "size": sizes}))


if __name__ == "__main__":
    main()
