"""rra.fhiclize: golden runs byte for byte, each converter's rules and quirks, and runs that must fail."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rra.fhiclize import CONVERTERS, FhiclizeError, fhiclize_run
from rra.fhiclize import boot, environment, history, lists, metadata, ranks, settings, setup, validity

from conftest import make_records, stop_run

DATA = Path(__file__).resolve().parent / "data"  # copied from ../shared: data/README.md
GOLDEN = DATA / "golden" / "fhiclize"
RUNS = sorted(p.name for p in (GOLDEN / "run_records").iterdir())
EXPECTED = [(run, f.name) for run in RUNS for f in sorted((GOLDEN / "expected" / run / "archive").iterdir())]


@pytest.fixture(scope="module")
def golden():
    """Each golden run converted once."""
    return {run: fhiclize_run(GOLDEN / "run_records" / run) for run in RUNS}


# ---- golden runs ----------------------------------------------------------------------------


def test_golden_runs_present():
    assert len(RUNS) == 6


@pytest.mark.parametrize("run,name", EXPECTED)
def test_golden_archive_file(golden, run, name):
    assert golden[run].files[name] == (GOLDEN / "expected" / run / "archive" / name).read_bytes()


@pytest.mark.parametrize("run", RUNS)
def test_golden_update(golden, run):
    expected = (GOLDEN / "expected" / run / "update" / "RunHistory2.fcl").read_bytes()
    assert golden[run].files["RunHistory2.fcl"] == expected
    assert not expected.endswith(b"\n")


@pytest.mark.parametrize("run", RUNS)
def test_golden_copies_config_name_and_set(golden, run):
    result, src = golden[run], GOLDEN / "run_records" / run
    fcl = {p.name for p in src.glob("*.fcl")}
    for name in fcl:
        assert result.files[name] == (src / name).read_bytes()
    made = {p.name for p in (GOLDEN / "expected" / run / "archive").iterdir()} | {"RunHistory2.fcl"}
    assert set(result.files) == fcl | made
    assert list(result.files) == sorted(result.files)
    assert result.config_name == (GOLDEN / "expected" / run / "config_name.txt").read_text().strip()
    assert result.warnings == []


def test_generated_records_convert_without_warnings(tmp_path):
    """The record generator's runs (finished, running, lite, stopped later) all convert cleanly."""
    for out, extra in ((tmp_path / "full", []), (tmp_path / "lite", ["--lite"])):
        make_records(out, 1, 12, "--running", 3, *extra)
        for run_dir in out.iterdir():
            result = fhiclize_run(run_dir)
            assert result.warnings == []
            assert result.files["RunHistory2.fcl"].startswith(b"DAQInterface_start_time: ")
    assert b"stop_time" not in fhiclize_run(tmp_path / "full" / "12").files["RunHistory2.fcl"]
    stop_run(tmp_path / "full", 12)
    result = fhiclize_run(tmp_path / "full" / "12")
    assert b"\nDAQInterface_stop_time: " in result.files["RunHistory2.fcl"]
    assert b"\ntotal_events: " in result.files["metadata.fcl"]


# ---- metadata -------------------------------------------------------------------------------


def test_metadata_components_end_at_next_key_blank_line_or_end():
    assert metadata.convert("Component #0: a\nComponent #1: b\nConfig name: x\n") == (
        'components: ["a", "b"]\nconfig_name: "x"\n'
    )
    assert metadata.convert("Component #0: a\n\nTotal events: 5\n") == 'components: ["a"]\ntotal_events: 5\n'
    assert metadata.convert("Component #0: a\n") == 'components: ["a"]\n'


def test_metadata_logfile_sections():
    text = (
        "boardreader logfiles: \nh:/a.log x\n# kept\nh:/b.log\n\nprocess manager logfiles:\nh:/p.log\n\n"
        "my tool logfiles:\nh:/t.log\n"
    )
    assert metadata.convert(text) == (
        '# kept\n\nboardreader_logfiles: ["h:/a.log", "h:/b.log"]\n'
        '\nprocess_manager_logfiles: ["h:/p.log"]\n\nmy_tool_logfiles: ["h:/t.log"]\n'
    )


def test_metadata_commit_lines_lose_their_quotes():
    line = 'artdaq-core commit/version: abc "Merge \'x\' in" "v1"\n'
    assert metadata.convert(line) == "artdaq_core_commit_or_version: \"abc  Merge 'x' in   v1 \"\n"


def test_metadata_keys_and_values():
    text = (
        "# comment: kept verbatim \nConfig name: demo/x\nTotal events: 12\nTotal events: 12a\n"
        "DAQInterface start time: Tue Apr  2 23:20:00 UTC 2024\npmt logfile: h:/pmt*.log\n"
        'process management method: direct\nSome - odd  key: say "hi"\nno colon here\n\n\n'
    )
    assert metadata.convert(text) == (
        '# comment: kept verbatim \nconfig_name: "demo/x"\ntotal_events: 12\ntotal_events: "12a"\n'
        'daqinterface_start_time: "Tue Apr  2 23:20:00 UTC 2024"\npmt_logfiles_wildcard: "h:/pmt*.log"\n'
        'process_management_method: "direct"\nSome_odd_key: "say \\"hi\\""\n'
    )
    assert metadata.convert("\n\n") == ""


# ---- boot -----------------------------------------------------------------------------------


def test_boot_blocks_and_plain_keys():
    text = (
        "\n# c\nDAQ setup script: /s.sh\ndebug level: 4\nno colon\nSubsystem id: 1\nSubsystem source: 2\n"
        "Subsystem fragmentMode: False\n\nBoardReader host: h1\nBoardReader port: 5200\nBoardReader label: br\n"
        "BoardReader subsystem: 1\n\nEventBuilder host: h2\nEventBuilder label: eb\n"
    )
    assert boot.convert(text) == (
        'DAQ_setup_script: "/s.sh"\ndebug_level: 4\nSubsystem_fragmentMode: "False"\n\nsubsystem_settings: [\n'
        '{\nid: "1"\nsource: "2"\n}\n]\n\nartdaq_process_settings: [\n{\nname: "BoardReader"\nlabel: "br"\n'
        'host: "h1"\nport: 5200\nsubsystem: "1"\n},\n{\nname: "EventBuilder"\nlabel: "eb"\nhost: "h2"\n}\n]\n'
    )


def test_boot_blocks_without_label_carry_over_and_labels_replace():
    text = "EventBuilder host: a\n\nEventBuilder label: eb\n\nDataLogger label: eb\nDataLogger host: b\n"
    assert boot.convert(text) == ('\nartdaq_process_settings: [\n{\nname: "DataLogger"\nlabel: "eb"\nhost: "b"\n}\n]\n')
    assert boot.convert("") == "\nartdaq_process_settings: [\n]\n"


# ---- known_boardreaders_list, settings, setup, environment, ranks ------------------------------


def test_known_boardreaders_list():
    text = '# Name Host\nc1 localhost -1 1\nc2 localhost\t\nalone\n\nc3 h "quoted arg" 2\n'
    assert lists.convert(text) == ('c1: ["localhost", "-1", "1"]\nc2: ["localhost"]\nc3: ["h", "quoted arg", "2" ]\n')
    assert lists.convert("# nothing\n") == ""


def test_settings():
    text = (
        "# c\nlog directory (old): /tmp\npackage_hashes_to_save: [ artdaq-demo, \"a-b\", 'c', ]\n"
        'timeout.s/#x: 60\nflag: True\nversion: 1.2.3\nquoted: "kept"\nempty: []\nno colon\n'
    )
    assert settings.convert(text) == (
        'log_directory_old_: "/tmp"\npackage_hashes_to_save: [ artdaq_demo, a_b, c ]\ntimeout_s_x: 60\n'
        'flag: true\nversion: "1.2.3"\nquoted: "kept"\nempty: [  ]\n'
    )


def test_setup_escaping_and_non_ascii():
    assert setup.convert('echo "a\\b" caf\u00e9 \u2713\n\tx\n') == 'setup_script: "echo \\"a\\\\b\\" caf. .\\n\tx\\n"'
    assert setup.convert("") == 'setup_script: ""'


def test_environment():
    text = '# c\nexport A=/x\nexport B = \'q\'\nexport C="say "hi""\nexport D=caf\u00e9\nunset E\nexport 1F=x\n'
    assert environment.convert(text) == 'A: "/x"\nB: "q"\nC: "say \\"hi"\nD: "caf."\n'


def test_ranks():
    text = "host  port  label  subsystem  rank\n\nh 1 a 1 0\nshort row\nh 2 b 1 1 extra\n"
    assert ranks.convert(text) == (
        'ranks: {\n  header: ["host", "port", "label", "subsystem", "rank"]\n'
        '  rank0: ["h", "1", "a", "1", "0"]\n'
        '  rank1: ["h", "2", "b", "1", "1", "extra"]\n}\n'
    )
    assert ranks.convert("\n# only comments\n") == ""


# ---- generated files and the configuration name ----------------------------------------------


def test_run_history():
    text = "Config name: a\nComponent #0: c0\nConfig name: b\n# Component #9: no\nComponent #1: c1\n"
    assert history.run_history(text, 7) == 'run_number: 7\n\nconfig_name: "b"\n\ncomponents: ["c0", "c1"]\n\n'
    assert history.run_history("Config name:\n", None) == ""


def test_run_history2():
    text = "DAQInterface start time: Tue \u00e9 1\nx\nDAQInterface stop time:  Wed 2 \n"
    assert history.run_history2(text) == 'DAQInterface_start_time: "Tue . 1"\nDAQInterface_stop_time: "Wed 2 "'
    assert history.run_history2("Config name: x\n") == ""


def test_config_name():
    assert history.config_name("Config name:   \nConfig name: demo/sub/x \nConfig name: y\n") == "demo_sub_x"
    assert history.config_name("Config name:x\n") == "standard"
    assert history.config_name("Total events: 1\n") == "standard"


# ---- fhiclize_run: sets, options, odd records ------------------------------------------------


def make_run(tmp_path, run="1000", **files):
    """A writable copy of golden run 1000 under tmp_path/run, with files replaced (str/bytes) or removed (None)."""
    d = tmp_path / run
    shutil.copytree(GOLDEN / "run_records" / "1000", d)
    d.chmod(0o755)
    for p in d.iterdir():
        p.chmod(0o644)
    for name, content in files.items():
        name = name.replace("__", ".")
        if content is None:
            (d / name).unlink()
        else:
            (d / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return d


def test_converters_names():
    assert set(CONVERTERS) == {
        "metadata",
        "boot",
        "known_boardreaders_list",
        "settings",
        "setup",
        "environment",
        "ranks",
        "RunHistory",
        "RunHistory2",
    }


def test_enabled_subset(tmp_path):
    result = fhiclize_run(make_run(tmp_path, notes__txt="x\n"), ["boot.txt", "RunHistory"])
    made = {n for n in result.files if not (tmp_path / "1000" / n).exists()}
    assert made == {"boot.fcl", "RunHistory.fcl"}
    assert not any(n.endswith(".txt") for n in result.files)
    assert result.config_name == "circular_buffer_mode_withRM"
    assert set(fhiclize_run(tmp_path / "1000", []).files) == {p.name for p in (tmp_path / "1000").glob("*.fcl")}
    with pytest.raises(ValueError, match="nonsense"):
        fhiclize_run(tmp_path / "1000", ["boot", "nonsense"])


def test_running_run_has_no_stop_time_and_no_update_without_times(tmp_path):
    result = fhiclize_run(GOLDEN / "run_records" / "1005")
    assert result.files["RunHistory2.fcl"] == b'DAQInterface_start_time: "Wed Apr  3 03:15:00 UTC 2024"'
    meta = "Config name: a/b\nComponent #0: c\n"
    result = fhiclize_run(make_run(tmp_path, metadata__txt=meta))
    assert "RunHistory2.fcl" not in result.files
    assert result.config_name == "a_b"
    assert result.files["RunHistory.fcl"] == b'run_number: 1000\n\nconfig_name: "a/b"\n\ncomponents: ["c"]\n\n'


def test_non_numeric_run_directory_has_no_run_number(tmp_path):
    result = fhiclize_run(make_run(tmp_path, run="scratch"))
    assert result.files["RunHistory.fcl"].startswith(b'config_name: "circular_buffer_mode_withRM"')


def test_converted_file_replaces_same_named_fcl(tmp_path):
    result = fhiclize_run(make_run(tmp_path, boot__fcl="old: 1\n"))
    assert result.files["boot.fcl"] == (GOLDEN / "expected" / "1000" / "archive" / "boot.fcl").read_bytes()
    assert any("boot.fcl" in w and "replaced" in w for w in result.warnings)


def test_crlf_and_utf8_text(tmp_path):
    result = fhiclize_run(make_run(tmp_path, setup__txt="echo h\u00e9\r\nexit\r\n"))
    assert result.files["setup.fcl"] == b'setup_script: "echo h.\\nexit\\n"'
    assert result.warnings == []


def test_subdirectories_and_foreign_links_are_ignored_with_a_warning(tmp_path):
    d = make_run(tmp_path)
    (d / "old").mkdir()
    (d / "old" / "x.fcl").write_text("a: 1\n")
    (d / "latest").symlink_to(tmp_path)
    result = fhiclize_run(d)
    assert "x.fcl" not in result.files and "latest" not in result.files
    assert any("run 1000" in w and "old" in w for w in result.warnings)
    assert any("run 1000" in w and "latest" in w and "link" in w for w in result.warnings)


# ---- warnings for output that is not FHiCL ----------------------------------------------------


def test_invalid_fhicl_is_kept_with_a_warning(tmp_path):
    brl = "1st-board localhost -1\ncomponent01 localhost\n"
    result = fhiclize_run(make_run(tmp_path, known_boardreaders_list__txt=brl))
    assert result.files["known_boardreaders_list.fcl"] == (
        b'1st-board: ["localhost", "-1"]\ncomponent01: ["localhost"]\n'
    )
    [warning] = result.warnings
    assert "run 1000" in warning and "known_boardreaders_list.fcl" in warning
    assert "known_boardreaders_list.fcl:1:" in warning


def test_unescaped_quote_is_kept_with_a_warning(tmp_path):
    meta = (
        (GOLDEN / "run_records" / "1000" / "metadata.txt")
        .read_text()
        .replace("Config name: circular_buffer_mode_withRM", 'Config name: "a" b"')
    )
    result = fhiclize_run(make_run(tmp_path, metadata__txt=meta))
    assert result.files["metadata.fcl"].startswith(b'config_name: "a" b"\n')
    assert any("run 1000" in w and "metadata.fcl" in w for w in result.warnings)


@pytest.mark.parametrize(
    "text,where",
    [
        ("a: 1\n2b: 1\n", ":2:"),
        ('a: "x\n', ":1:"),
        ("a: {\nb: 1\n", ":"),
    ],
)
def test_the_check_is_artdaq_databases_parser(text, where):
    assert validity.problem("a: 1\nb: [ x, y_z ]\n# c\n", "x.fcl") is None
    found = validity.problem(text, "x.fcl")
    assert found.startswith("x.fcl") and where in found


# ---- runs that cannot be converted ------------------------------------------------------------


def error(run_dir, *names):
    """The FhiclizeError message for run_dir, checked to name the run and each of names."""
    with pytest.raises(FhiclizeError) as info:
        fhiclize_run(run_dir)
    message = str(info.value)
    assert "run %s" % run_dir.name in message
    for name in names:
        assert name in message
    return message


def test_unreadable_file_permission(tmp_path):
    """In a subprocess without root's override capabilities, so the permission really applies."""
    from conftest import AS_UNPRIVILEGED

    d = make_run(tmp_path)
    (d / "boot.txt").chmod(0)
    code = (
        "import sys; from pathlib import Path; from rra.fhiclize import fhiclize_run, FhiclizeError\n"
        "try:\n    fhiclize_run(Path(sys.argv[1]))\nexcept FhiclizeError as e:\n    print(e)"
    )
    out = subprocess.run([*AS_UNPRIVILEGED, sys.executable, "-c", code, str(d)], capture_output=True, text=True)
    assert "boot.txt" in out.stdout and "permission" in out.stdout.lower(), out.stdout + out.stderr


def test_unreadable_file_even_as_root(tmp_path, monkeypatch):
    """Root reads 0000 files, so make the open itself fail the way it does for other users."""
    real_open = os.open

    def refuse(path, *args):
        if os.path.basename(path) == "boot.txt":
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args)

    monkeypatch.setattr("rra.fhiclize.record.os.open", refuse)
    assert "permission" in error(make_run(tmp_path), "boot.txt")


def test_directory_where_file_expected(tmp_path):
    d = make_run(tmp_path, metadata__txt=None)
    (d / "metadata.txt").mkdir()
    assert "directory" in error(d, "metadata.txt")
    d = make_run(tmp_path / "b")
    (d / "extra.fcl").mkdir()
    assert "directory" in error(d, "extra.fcl")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_is_an_error_not_a_hang(tmp_path):
    d = make_run(tmp_path)
    os.mkfifo(d / "EventBuilder9.fcl")
    assert "pipe" in error(d, "EventBuilder9.fcl")


def test_symlinked_archive_file_is_an_error(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret: 1\n")
    d = make_run(tmp_path, settings__txt=None)
    (d / "settings.txt").symlink_to(outside)
    assert "link" in error(d, "settings.txt")


def test_binary_txt(tmp_path):
    d = make_run(tmp_path, ranks__txt=b"host port\n\x00\x01\x02\xff")
    assert "binary" in error(d, "ranks.txt", "line 2")


def test_non_utf8_txt(tmp_path):
    d = make_run(tmp_path, setup__txt="echo ok\necho caf\u00e9\n".encode("latin-1"))
    assert "UTF-8" in error(d, "setup.txt", "line 2", "0xe9")


def test_disabled_txt_is_not_read(tmp_path):
    d = make_run(tmp_path, setup__txt=b"\xff\x00")
    assert "setup.fcl" not in fhiclize_run(d, ["metadata", "RunHistory"]).files


@pytest.mark.parametrize(
    "content,words",
    [
        (None, "missing"),
        ("", "empty"),
        ("\n \n", "empty"),
        ("Config name: x\nComponent #0: comp", "truncated"),
    ],
)
def test_bad_metadata(tmp_path, content, words):
    d = make_run(tmp_path, metadata__txt=content)
    assert words in error(d, "metadata.txt")


def test_missing_run_directory(tmp_path):
    error(tmp_path / "4242", "4242")
