"""settings.txt -> settings.fcl: normalised keys, bare lists, numbers and booleans unquoted."""

import re

from .values import content_lines, is_numeric, quote

KEY_SEPARATORS = re.compile(r"[\s\-()/#.]+")


def _element(item):
    """A list element as legacy wrote it: unquoted, with '-' as '_'."""
    if (item.startswith('"') and item.endswith('"')) or (item.startswith("'") and item.endswith("'")):
        item = item[1:-1]
    return item.replace("-", "_")


def convert(text):
    """Keep legacy's output, `[a, b-c]` -> `[ a, b_c ]` included (it dropped a list's last character if not ']')."""
    out = []
    for line in content_lines(text):
        key, colon, value = line.partition(":")
        if not colon:
            continue
        key, value = KEY_SEPARATORS.sub("_", key.strip()), value.strip()
        if value.startswith("["):
            items = [item.strip() for item in value[1:-1].split(",")]
            out.append("%s: [ %s ]" % (key, ", ".join(_element(item) for item in items if item)))
        elif is_numeric(value):
            out.append("%s: %s" % (key, value))
        elif value.lower() in ("true", "false"):
            out.append("%s: %s" % (key, value.lower()))
        else:
            out.append("%s: %s" % (key, quote(value)))
    return "\n".join(out) + "\n" if out else ""
