"""Where each run's targets live under the work dir (the only place rra writes)."""

from pathlib import Path


class Layout:
    """Paths of the work dir: one directory per run, one target per stage."""

    def __init__(self, work_dir):
        self.work_dir = Path(work_dir)
        self.runs_dir = self.work_dir / "runs"
        self.dep_file = self.work_dir / ".doit.db"

    def run_dir(self, run):
        return self.runs_dir / str(run)

    def fhicl_dir(self, run):
        return self.run_dir(run) / "fhicl"

    def fhicl_manifest(self, run):
        return self.fhicl_dir(run) / "manifest.json"

    def artdaqdb_marker(self, run):
        return self.run_dir(run) / "artdaqdb.json"

    def blob(self, run):
        return self.run_dir(run) / "blob.txt"

    def ucondb_marker(self, run):
        return self.run_dir(run) / "ucondb.json"

    def validated(self, run):
        return self.run_dir(run) / "validated.md5"

    def files_marker(self, run):
        """What UconDB's files object holds for the run (ucon_db.files_object), validated."""
        return self.run_dir(run) / "files.json"

    def batch_lock(self, first_run):
        """Held while one task stores a batch, so its partners wait and then find their work done."""
        return self.work_dir / "locks" / ("batch-%d.lock" % first_run)

    def failure(self, run, stage):
        """The record of a stage's last failed attempt (for rra report)."""
        return self.run_dir(run) / ("failed-%s.json" % stage)
