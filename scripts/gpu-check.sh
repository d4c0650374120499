#!/usr/bin/env bash
# The built-in trainer on a GPU box: builds lorabench with the `cuda` feature (needs nvcc) and
# times LoRA training steps of a real-size SD1.5 UNet (random weights, 512x512 images = 64x64
# latents, batch 1 and 4) on the first GPU, beside the same steps in diffusers + peft where
# those are installed (LORABENCH_PYTHON, default python3, with benches/requirements.txt and a
# CUDA torch). Prints step time and peak VRAM per side; the bench's header says what it runs.
#
#   scripts/gpu-check.sh            # then copy the printed lines into BENCHMARKS.md
#
# CUDA_COMPUTE_CAP (e.g. 90 for H100/H200) is needed only when the build cannot see the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvcc >/dev/null || { echo "gpu-check: nvcc not found; install the CUDA toolkit (candle's cuda feature compiles its kernels with it)" >&2; exit 2; }
command -v nvidia-smi >/dev/null || { echo "gpu-check: nvidia-smi not found; is this a GPU box?" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nvcc --version | tail -1
python="${LORABENCH_PYTHON:-python3}"
"$python" -c 'import torch; assert torch.cuda.is_available(); print("torch", torch.__version__, "CUDA", torch.version.cuda)' \
    || echo "gpu-check: no CUDA torch in $python; the lorabench side runs alone"
TRAINER_STEP_DEVICE=cuda TRAINER_STEP_SIZES="${TRAINER_STEP_SIZES:-sd15}" \
    TRAINER_STEP_BATCHES="${TRAINER_STEP_BATCHES:-1,4}" TRAINER_STEP_STEPS="${TRAINER_STEP_STEPS:-10}" \
    cargo bench --features cuda --bench trainer_step
