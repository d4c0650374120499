"""Seeds for fuzz/corpus/jpeg_scaled: tiny JPEGs saved by Pillow (libjpeg-turbo) in every layout
the preview decoders meet, small so the fuzzer runs hundreds of inputs a second.
Rerun from the repository root: /work/venv/bin/python fuzz/make_jpeg_corpus.py
"""
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "jpeg_scaled")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(3)
# Odd sizes: partial MCUs at the right and bottom edges.
rgb = Image.fromarray(rng.integers(0, 256, (29, 37, 3), dtype=np.uint8), "RGB")
for name, img, options in [
    ("yuv420.jpg", rgb, dict(subsampling=2)),
    ("yuv422.jpg", rgb, dict(subsampling=1)),
    ("yuv444.jpg", rgb, dict(subsampling=0)),
    ("grey.jpg", rgb.convert("L"), {}),
    ("restart.jpg", rgb, dict(subsampling=2, restart_marker_blocks=1)),
    ("progressive.jpg", rgb, dict(progressive=True)),
    ("adobe-rgb.jpg", rgb, dict(keep_rgb=True)),
    ("cmyk.jpg", rgb.convert("CMYK"), {}),
]:
    img.save(os.path.join(OUT, name), "JPEG", quality=75, **options)
