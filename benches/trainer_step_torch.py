"""Reference for benches/trainer_step.rs: one LoRA training step (forward, backward, clipping,
AdamW) of diffusers' UNet2DConditionModel with peft adapters on the same layers, on the CPU
(or `--device cuda`).
Prints one JSON line: per-step milliseconds and the RSS right after the imports and model
build (the bench measures the peak itself)."""

import argparse
import json
import resource
import time

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DConditionModel
from peft import LoraConfig

p = argparse.ArgumentParser()
p.add_argument("--channels", type=int, nargs="+", required=True)
p.add_argument("--layers-per-block", type=int, required=True)
p.add_argument("--groups", type=int, required=True)
p.add_argument("--heads", type=int, required=True)
p.add_argument("--cross", type=int, required=True)
p.add_argument("--latent", type=int, required=True)
p.add_argument("--batch", type=int, required=True)
p.add_argument("--tokens", type=int, required=True)
p.add_argument("--rank", type=int, required=True)
p.add_argument("--targets", nargs="+", required=True)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--steps", type=int, required=True)
p.add_argument("--device", default="cpu")
p.add_argument("--sd15", action="store_true", help="SD1.5's block layout instead of the test UNet's")
a = p.parse_args()

torch.manual_seed(0)
n = len(a.channels)
if a.sd15:
    down = ("CrossAttnDownBlock2D",) * (n - 1) + ("DownBlock2D",)
    up = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n - 1)
else:
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1)
    up = ("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",)
dev = torch.device(a.device)
unet = UNet2DConditionModel(
    block_out_channels=tuple(a.channels),
    layers_per_block=a.layers_per_block,
    in_channels=4,
    out_channels=4,
    down_block_types=down,
    up_block_types=up,
    cross_attention_dim=a.cross,
    attention_head_dim=a.heads,
    norm_num_groups=a.groups,
).to(dev)
unet.requires_grad_(False)
unet.add_adapter(LoraConfig(r=a.rank, lora_alpha=a.rank, target_modules=a.targets, init_lora_weights=True))
params = [p for p in unet.parameters() if p.requires_grad]
unet.train()
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
sched = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
latents = torch.randn(a.batch, 4, a.latent, a.latent, device=dev)
context = torch.randn(a.batch, a.tokens, a.cross, device=dev)
rss_built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step():
    noise = torch.randn_like(latents)
    t = torch.randint(0, 1000, (a.batch,), device=dev)
    noisy = sched.add_noise(latents, noise, t)
    pred = unet(noisy, t, encoder_hidden_states=context).sample
    loss = F.mse_loss(pred.float(), noise.float())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()


for _ in range(a.warmup):
    step()
times = []
for _ in range(a.steps):
    t0 = time.perf_counter()
    step()
    times.append((time.perf_counter() - t0) * 1e3)
times.sort()
print(json.dumps({
    "median_ms": times[len(times) // 2],
    "min_ms": times[0],
    "params": sum(p.numel() for p in params),
    "threads": torch.get_num_threads(),
    "rss_after_build_mib": rss_built,
}))
