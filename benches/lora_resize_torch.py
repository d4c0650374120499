"""Reference for benches/lora_resize.rs: resize LoRA modules the common script way.

For each module, as kohya's networks/resize_lora.py does it on the CPU in float32:
M = up @ down, U, S, Vh = torch.linalg.svd(M), then up' = U[:, :r] @ diag(S[:r]),
down' = Vh[:r]. Timed with full_matrices=True (kohya's call) and False (the cheaper thin SVD).
Factor generation is outside the timed region.

Usage: python lora_resize_torch.py MODULES.json --old-rank 128 --new-rank 32 [--samples N|all]
MODULES.json is a list of {"name", "out", "in"}. With --samples N, N modules of each distinct
shape are timed and the total is the per-shape mean times the count; "all" times every module.
Prints one JSON object on stdout. Run by `cargo bench --bench lora_resize`.
"""

import argparse
import json
import sys
import time
from collections import defaultdict

import torch


def resize_once(up, down, new_rank, full_matrices):
    start = time.perf_counter()
    m = up @ down
    u, s, vh = torch.linalg.svd(m, full_matrices=full_matrices)
    new_up = u[:, :new_rank] @ torch.diag(s[:new_rank])
    new_down = vh[:new_rank].contiguous()
    elapsed = time.perf_counter() - start
    del new_up, new_down
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("modules")
    parser.add_argument("--old-rank", type=int, required=True)
    parser.add_argument("--new-rank", type=int, required=True)
    parser.add_argument("--samples", default="3")
    args = parser.parse_args()

    with open(args.modules) as f:
        modules = json.load(f)
    by_shape = defaultdict(list)
    for m in modules:
        by_shape[(m["out"], m["in"])].append(m["name"])
    take_all = args.samples == "all"
    samples = None if take_all else max(1, int(args.samples))

    gen = torch.Generator().manual_seed(0)
    torch.set_grad_enabled(False)
    # Warm-up (allocator, LAPACK thread pool).
    w = torch.randn(640, args.old_rank, generator=gen)
    resize_once(w, w.T.contiguous(), args.new_rank, True)

    per_shape = {}
    total_full = total_thin = 0.0
    for (out, inn), names in sorted(by_shape.items()):
        n = len(names) if take_all else min(samples, len(names))
        full = thin = 0.0
        for _ in range(n):
            up = torch.randn(out, args.old_rank, generator=gen) * 0.01
            down = torch.randn(args.old_rank, inn, generator=gen)
            full += resize_once(up, down, args.new_rank, True)
            thin += resize_once(up, down, args.new_rank, False)
        per_shape[f"{out}x{inn}"] = {"count": len(names), "full_s": full / n, "thin_s": thin / n}
        print(f"  torch {out}x{inn}: full {full / n:.3f} s, thin {thin / n:.3f} s", file=sys.stderr, flush=True)
        total_full += full / n * len(names)
        total_thin += thin / n * len(names)

    print(
        json.dumps(
            {
                "torch_version": torch.__version__,
                "threads": torch.get_num_threads(),
                "samples": "all" if take_all else samples,
                "mode": "every module" if take_all else "per-shape mean x count",
                "per_shape": per_shape,
                "total_full_s": total_full,
                "total_thin_s": total_thin,
            }
        )
    )


if __name__ == "__main__":
    main()
