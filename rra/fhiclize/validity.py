"""Is a converter's output FHiCL? Only ever a warning: the legacy bytes are archived either way."""

import functools

from rra.fhicl import FhiclError, check


@functools.lru_cache(maxsize=1024)  # consecutive runs mostly make the same files: each is parsed once
def problem(text, name):
    """Why text (the file `name`) is not FHiCL, as artdaq_database's parser would say; or None."""
    try:
        check(text, name)
    except FhiclError as e:
        return str(e)
    return None
