"""Loads a file lorabench wrote for a trainer the way the trainer loads it (yaml / json) and
checks the keys the trainer reads (trainers.md §5-8). Prints a JSON summary for the Rust test;
exits 1 naming what is missing.

Usage: python check_files.py ai-toolkit|simpletuner|onetrainer|diffusers FILE
"""
import json
import os
import sys

import yaml

kind, path = sys.argv[1], sys.argv[2]
problems = []


def need(obj, key, where):
    if not isinstance(obj, dict) or key not in obj:
        problems.append(f"{where}: no `{key}`")
        return None
    return obj[key]


def need_dir(p, where):
    if not (isinstance(p, str) and os.path.isdir(p)):
        problems.append(f"{where}: {p!r} is no folder")


if kind == "ai-toolkit":
    # run.py -> toolkit.job.get_job: `job: extension`, `config.name`, `config.process[]`.
    with open(path) as f:
        doc = yaml.safe_load(f)
    if need(doc, "job", "top") != "extension":
        problems.append("job is not `extension`")
    config = need(doc, "config", "top") or {}
    name = need(config, "name", "config")
    process = (need(config, "process", "config") or [{}])[0]
    if need(process, "type", "process") != "sd_trainer":
        problems.append("process type is not sd_trainer")
    need_dir(os.path.dirname(need(process, "training_folder", "process") or "") or ".", "training_folder")
    network = need(process, "network", "process") or {}
    need(network, "type", "network")
    train = need(process, "train", "process") or {}
    model = need(process, "model", "process") or {}
    need(model, "name_or_path", "model")
    datasets = need(process, "datasets", "process") or []
    for i, d in enumerate(datasets):
        need_dir(need(d, "folder_path", f"datasets[{i}]"), f"datasets[{i}].folder_path")
        need(d, "caption_ext", f"datasets[{i}]")
    summary = {
        "name": name,
        "linear": network.get("linear"),
        "steps": train.get("steps"),
        "arch": model.get("arch"),
        "trigger_word": process.get("trigger_word"),
        "folders": [d.get("folder_path") for d in datasets],
        "num_repeats": datasets[0].get("num_repeats") if datasets else None,
    }
elif kind == "simpletuner":
    with open(path) as f:
        cfg = json.load(f)
    for key in ["model_family", "model_type", "pretrained_model_name_or_path", "output_dir"]:
        need(cfg, key, "config.json")
    if cfg.get("model_type") != "lora":
        problems.append("model_type is not lora")
    backend_file = need(cfg, "data_backend_config", "config.json")
    with open(backend_file) as f:
        backends = json.load(f)
    images = [b for b in backends if b.get("dataset_type", "image") == "image"]
    embeds = [b for b in backends if b.get("dataset_type") == "text_embeds"]
    if len(embeds) != 1 or not embeds[0].get("default"):
        problems.append("needs exactly one default text_embeds backend")
    for b in backends:
        need(b, "id", "backend")
        need(b, "type", "backend")
    for b in images:
        need_dir(need(b, "instance_data_dir", b.get("id")), "instance_data_dir")
        if need(b, "caption_strategy", b.get("id")) != "textfile":
            problems.append("caption_strategy is not textfile")
    summary = {
        "model_family": cfg.get("model_family"),
        "lora_rank": cfg.get("lora_rank"),
        "max_train_steps": cfg.get("max_train_steps"),
        "backends": len(backends),
        "repeats": images[0].get("repeats") if images else None,
    }
elif kind == "onetrainer":
    with open(path) as f:
        cfg = json.load(f)
    for key in ["training_method", "model_type", "base_model_name", "workspace_dir",
                "output_model_destination", "epochs", "concepts"]:
        need(cfg, key, "config")
    for i, c in enumerate(cfg.get("concepts", [])):
        need_dir(need(c, "path", f"concepts[{i}]"), f"concepts[{i}].path")
        text = need(c, "text", f"concepts[{i}]") or {}
        if text.get("prompt_source") != "sample":
            problems.append(f"concepts[{i}]: captions are not read from the .txt files")
    summary = {
        "training_method": cfg.get("training_method"),
        "model_type": cfg.get("model_type"),
        "epochs": cfg.get("epochs"),
        "concepts": len(cfg.get("concepts", [])),
    }
elif kind == "diffusers":
    # The `datasets` imagefolder loader: metadata.jsonl beside the images, `file_name`
    # relative to it, the caption column `text`.
    root = os.path.dirname(path)
    rows = missing = 0
    with open(path) as f:
        for n, line in enumerate(f, 1):
            row = json.loads(line)
            rows += 1
            name = need(row, "file_name", f"line {n}")
            if not isinstance(need(row, "text", f"line {n}"), str):
                problems.append(f"line {n}: text is not a string")
            if name is None or not os.path.isfile(os.path.join(root, name)):
                missing += 1
    summary = {"rows": rows, "missing_images": missing}
else:
    sys.exit(f"unknown kind {kind}")

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(json.dumps(summary))
