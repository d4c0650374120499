"""Seeds for fuzz/corpus/lora_header (small safetensors files made by the real library).
Rerun from the repository root: /work/venv/bin/python fuzz/make_corpus.py
"""
import json
import os

import torch
from safetensors.torch import save

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "lora_header")
torch.manual_seed(0)


def w(name, tensors, meta=None):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(save(tensors, metadata=meta))


w("kohya_linear", {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.randn(2, 4),
                   "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.randn(4, 2).half(),
                   "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": torch.tensor(1.0)},
  {"ss_network_dim": "2", "ss_tag_frequency": json.dumps({"1_x": {"a": 1}}), "sshs_model_hash": "00"})
w("kohya_conv", {"lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight": torch.randn(2, 3, 3, 3).bfloat16(),
                 "lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight": torch.randn(4, 2, 1, 1).bfloat16(),
                 "lora_unet_down_blocks_0_resnets_0_conv1.alpha": torch.tensor(2, dtype=torch.int64)})
w("peft", {"unet.mid_block.attentions.0.proj_out.lora_A.weight": torch.randn(2, 4),
           "unet.mid_block.attentions.0.proj_out.lora_B.weight": torch.randn(4, 2)},
  {"format": "pt", "lora_adapter_metadata": json.dumps({"unet.r": 2, "unet.lora_alpha": 4,
                                                         "unet.alpha_pattern": {"proj_out": 1}})})
w("loha", {f"lora_te_text_model_encoder_layers_0_mlp_fc1.{k}": torch.randn(*s) for k, s in
           [("hada_w1_a", (4, 2)), ("hada_w1_b", (2, 4)), ("hada_w2_a", (4, 2)), ("hada_w2_b", (2, 4))]})
w("empty", {})
with open(os.path.join(OUT, "short"), "wb") as f:
    f.write(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
