"""Token ids as sd-scripts counts them, for tests/dataset/kohya_tokens.rs: transformers' CLIPTokenizer
(with ftfy, which it uses when installed) from the tokenizer folder given as the first argument.

Reads a JSON list of captions from stdin, writes a JSON list of id lists (without the start and
end tokens) to stdout. Run with kohya-cpu.sh's python.
"""

import json
import sys

from transformers import CLIPTokenizer

tokenizer = CLIPTokenizer.from_pretrained(sys.argv[1])
if tokenizer.fix_text is None:
    sys.exit("ftfy is not installed in this python: the tokenizer would not clean as sd-scripts does")
captions = json.load(sys.stdin)
json.dump([tokenizer.encode(c, add_special_tokens=False) for c in captions], sys.stdout)
