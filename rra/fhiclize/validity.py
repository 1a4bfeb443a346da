"""Is a converter's output FHiCL? Only ever a warning: the legacy bytes are archived either way."""
from rra.fhicl import FhiclError, check


def problem(text, name):
    """Why text (the file `name`) is not FHiCL, as artdaq_database's parser would say; or None."""
    try:
        check(text, name)
    except FhiclError as e:
        return str(e)
    return None
