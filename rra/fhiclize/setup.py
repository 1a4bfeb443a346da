"""setup.txt -> setup.fcl: the whole DAQ setup script as one FHiCL string."""

from .values import ascii_dots


def convert(text):
    """One `setup_script: "..."` line with no newline after it, as legacy wrote it."""
    text = ascii_dots(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return 'setup_script: "%s"' % text
