"""The log file rotates by size and by age, as the legacy archiver's did."""

import logging
import time

from rra.log import SizeAndAgeHandler


def emit(handler, text):
    handler.emit(logging.LogRecord("rra", logging.INFO, __file__, 1, text, None, None))


def test_rotates_by_size(tmp_path):
    h = SizeAndAgeHandler(tmp_path / "a.log", max_bytes=200, backups=2)
    h.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    for i in range(20):
        emit(h, "line %02d %s" % (i, "x" * 40))
    h.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a.log", "a.log.1", "a.log.2"]


def test_rotates_by_age_of_the_first_line(tmp_path):
    path = tmp_path / "a.log"
    old = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 31 * 86400))
    path.write_text("%s INFO    [run 1] [fhiclize] old news\n" % old)
    h = SizeAndAgeHandler(path)
    h.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    emit(h, "fresh")
    emit(h, "fresher")
    h.close()
    assert "old news" in (tmp_path / "a.log.1").read_text()
    assert path.read_text().count("\n") == 2 and "old news" not in path.read_text()
