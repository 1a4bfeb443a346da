"""The one error type of the artdaqDB layer."""


class ArtdaqDBError(Exception):
    """A failed artdaqDB operation, naming the run, file and database (never its credentials)."""

    def __init__(self, message, run=None, file=None, uri=None):
        super().__init__(message)
        self.message, self.run, self.file, self.uri = message, run, file, uri

    def __str__(self):
        where = [p for p in (self.uri and 'artdaqDB %s' % self.uri,
                             self.run is not None and 'run %s' % self.run,
                             self.file and str(self.file)) if p]
        return ': '.join(where + [self.message])
