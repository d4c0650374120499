"""PyTorch CPU reference for benches/lora_merge.rs: merge a kohya LoRA into a single-file
checkpoint the way merge scripts do it (load the whole checkpoint, W += s * alpha/r * up @ down
in float32, cast back, save), then compare with lorabench's output.

usage: lora_merge_reference.py BASE LORA MAP_JSON STRENGTH OUT [LORABENCH_OUT]
MAP_JSON maps kohya module names to checkpoint keys (built by the bench from the same layout).
Prints one line: internal time and, with LORABENCH_OUT, the largest difference found.
"""

import json
import sys
import time

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file


def main():
    base_path, lora_path, map_path, strength, out_path = sys.argv[1:6]
    ours = sys.argv[6] if len(sys.argv) > 6 else None
    strength = float(strength)
    t0 = time.time()
    base = load_file(base_path)
    lora = load_file(lora_path)
    mapping = json.load(open(map_path))
    with torch.no_grad():
        for name, key in mapping.items():
            down = lora[f"{name}.lora_down.weight"].float()
            up = lora[f"{name}.lora_up.weight"].float()
            alpha = lora[f"{name}.alpha"].float().item()
            w = base[key]
            delta = (up.flatten(1) @ down.flatten(1)).reshape(w.shape)
            base[key] = (w.float() + (strength * alpha / down.shape[0]) * delta).to(w.dtype)
    save_file(base, out_path, metadata={"merged": lora_path})
    elapsed = time.time() - t0
    line = f"torch {torch.__version__}, {torch.get_num_threads()} threads, {elapsed:.2f} s inside python"
    if ours:
        worst = 0.0
        keys = list(mapping.values())[::16]
        with safe_open(ours, "pt") as f:
            for key in keys:
                worst = max(worst, (f.get_tensor(key).float() - base[key].float()).abs().max().item())
        line += f"; max |lorabench - torch| over {len(keys)} merged weights = {worst:.1e}"
    print(line)


if __name__ == "__main__":
    main()
