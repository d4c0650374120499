"""Dump the text-cleaning tables that open_clip's tokenizer uses (through ftfy and html) to JSON.

lorabench's CLIP token counter (src/dataset/tokens.rs) embeds the result, so that it cleans a
caption exactly as open_clip does before BPE. Rerun after upgrading ftfy or Python:

    /work/venv/bin/python assets/make_clip_text_tables.py > assets/clip_text_tables.json
"""
import html
import html.entities
import json
import sys

import ftfy
from ftfy import chardata

tables = {
    "ftfy_version": ftfy.__version__,
    "python_version": sys.version.split()[0],
    # html.unescape's table (names with and without the final ';').
    "html5": html.entities.html5,
    # html.unescape's numeric references: replaced code points, and code points dropped.
    "invalid_charrefs": {str(k): v for k, v in html._invalid_charrefs.items()},
    "invalid_codepoints": sorted(html._invalid_codepoints),
    # ftfy.fixes.unescape_html's table ('&name;' -> text, plus upper-cased names).
    "ftfy_entities": chardata.HTML_ENTITIES,
    "ligatures": {chr(k): v for k, v in chardata.LIGATURES.items()},
    "width": {chr(k): v for k, v in chardata.WIDTH_MAP.items()},
    "control": sorted(chardata.CONTROL_CHARS.keys()),
    # fix_c1_controls: U+0080..U+009F read as sloppy-windows-1252.
    "c1": {chr(b): bytes([b]).decode("sloppy-windows-1252") for b in range(0x80, 0xA0)},
}
json.dump(tables, sys.stdout, ensure_ascii=True, sort_keys=True)
