"""Checks the files lorabench writes for kohya sd-scripts with sd-scripts' own code.

Usage: python check_kohya.py SD_SCRIPTS SCRIPT ARG...  (ARG... = the argv after the script)

- The training script's argparse parser parses the argv, then `read_config_from_file` loads
  run.toml the way the script does. sd-scripts does not reject unknown TOML keys, so every key
  is also checked to be one of the parser's options, with a value its type and choices accept.
- `verify_training_args` runs as in training.
- The dataset TOML goes through config_util's voluptuous schema (ConfigSanitizer) and the
  BlueprintGenerator, as train_network.py does.
- The sample prompt file is read with train_util.load_prompts.
Prints one JSON object with what sd-scripts made of it; exits 1 listing the problems.
"""
import argparse
import importlib
import json
import os
import sys

sd_scripts, script, *argv = sys.argv[1:]
# read_config_from_file parses sys.argv again, as it would in the real script.
sys.argv = [script, *argv]
sys.path.insert(0, sd_scripts)
os.chdir(sd_scripts)
module = importlib.import_module(os.path.splitext(script)[0])
from library import config_util, train_util  # noqa: E402
import toml  # noqa: E402

parser = module.setup_parser()
args = parser.parse_args(argv)
train_util.verify_command_line_training_args(args)
args = train_util.read_config_from_file(args, parser)
train_util.verify_training_args(args)

problems = []
actions = {a.dest: a for a in parser._actions}
raw = toml.load(argv[argv.index("--config_file") + 1])
for key, value in raw.items():
    action = actions.get(key)
    if action is None:
        problems.append(f"run.toml: `{key}` is no option of {script}")
        continue
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            problems.append(f"run.toml: `{key}` is a flag, got {value!r}")
        continue
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and action.nargs in (None, "?"):
        problems.append(f"run.toml: `{key}` takes one value, got a list")
    for v in values:
        if action.choices is not None and v not in action.choices:
            problems.append(f"run.toml: `{key}` = {v!r} is not one of {list(action.choices)}")
        if callable(action.type):
            try:
                action.type(str(v))
            except Exception as e:  # argparse would reject it the same way
                problems.append(f"run.toml: `{key}` = {v!r}: {e}")

user_config = config_util.load_user_config(str(args.dataset_config))
sanitizer = config_util.ConfigSanitizer(True, True, args.masked_loss, True)
blueprint = config_util.BlueprintGenerator(sanitizer).generate(user_config, args)

prompts = train_util.load_prompts(args.sample_prompts) if args.sample_prompts else []

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)

out = {
    "args": {k: (str(v) if not isinstance(v, (int, float, bool, list, type(None))) else v)
             for k, v in vars(args).items()},
    "datasets": [
        {
            "resolution": list(d.params.resolution) if d.params.resolution else None,
            "batch_size": d.params.batch_size,
            "enable_bucket": d.params.enable_bucket,
            "min_bucket_reso": d.params.min_bucket_reso,
            "max_bucket_reso": d.params.max_bucket_reso,
            "bucket_reso_steps": d.params.bucket_reso_steps,
            "bucket_no_upscale": d.params.bucket_no_upscale,
            "subsets": [
                {
                    "image_dir": str(s.params.image_dir),
                    "num_repeats": s.params.num_repeats,
                    "class_tokens": s.params.class_tokens,
                    "caption_extension": s.params.caption_extension,
                    "shuffle_caption": s.params.shuffle_caption,
                    "keep_tokens": s.params.keep_tokens,
                    "caption_dropout_rate": s.params.caption_dropout_rate,
                }
                for s in d.subsets
            ],
        }
        for d in blueprint.dataset_group.datasets
    ],
    "prompts": prompts,
}
print(json.dumps(out, default=str))
