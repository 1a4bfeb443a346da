"""The one error of this package: FHiCL the C++ library would reject."""

from ..errors import RraError


class FhiclError(RraError):
    """Invalid FHiCL, or a document the C++ FhiclWriter cannot export."""

    def __init__(self, message, name="", line=0, column=0, text=""):
        self.message, self.name, self.line, self.column, self.text = message, name, line, column, text
        where = "%s:%d:%d: " % (name or "<fhicl>", line, column) if line else ("%s: " % name if name else "")
        super().__init__("%s%s%s" % (where, message, " near %r" % text if text else ""))
