"""FHiCL as artdaq_database sees it: FHiCL -> JSON document, its JSON dialect, and export."""

from . import cppjson
from .document import check, to_document, to_json
from .errors import FhiclError
from .writer import to_fhicl

__all__ = ["to_document", "to_json", "to_fhicl", "check", "FhiclError", "cppjson"]
