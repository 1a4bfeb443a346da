"""Config loading: legacy compatibility, expansion, validation, masking, discovery order."""

import logging
from pathlib import Path

import pytest

from conftest import python_m
from rra import config

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """
app:
  work_dir: work
source_files:
  run_records_dir: records
artdaq_db:
  database_uri: "filesystemdb://${app.work_dir}/db"
ucon_db:
  server_url: "sqlite://${app.work_dir}/u.sqlite"
  folder_name: f
"""


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_template_loads_and_needs_no_server():
    cfg = config.load(config.TEMPLATE, env={})
    assert cfg["artdaq_db.database_uri"] == "filesystemdb://%s/work/artdaqdb" % ROOT
    assert cfg["ucon_db.server_url"] == "sqlite://%s/work/ucondb.sqlite" % ROOT
    assert cfg.run_records_dir == ROOT / "examples" / "run_records"
    assert cfg["ucon_db.verify_tls"] is True


def test_relative_paths_resolve_against_config_dir(tmp_path):
    cfg = config.load(write(tmp_path, MINIMAL), env={})
    assert cfg.work_dir == tmp_path / "work"
    assert cfg.run_records_dir == tmp_path / "records"
    assert cfg["artdaq_db.database_uri"] == "filesystemdb://%s/work/db" % tmp_path
    assert cfg["app.lock_file"] == str(tmp_path / "work" / ".archiver.lock")


def test_expansion_env_default_same_section_and_cross_section(tmp_path):
    text = MINIMAL.replace("work_dir: work", "work_dir: ${WD:-/data/w}\n  log_file: ${work_dir}/a.log")
    text = text.replace("folder_name: f", "folder_name: ${EXP}_${source_files.run_records_dir}")
    text += "  writer_user: ${U:-${folder_name}}\n"
    cfg = config.load(write(tmp_path, text), env={"EXP": "sbnd"})
    assert cfg["app.work_dir"] == "/data/w"
    assert cfg["app.log_file"] == "/data/w/a.log"
    assert cfg["ucon_db.folder_name"] == "sbnd_records"
    assert cfg["ucon_db.writer_user"] == "sbnd_records"
    cfg = config.load(write(tmp_path, text), env={"EXP": "x", "WD": "/other"})
    assert cfg["app.log_file"] == "/other/a.log"


def test_cross_section_reference_to_explicit_value(tmp_path):
    text = MINIMAL.replace("app:\n", "app:\n  batch_size: 7\n").replace(
        "folder_name: f", "folder_name: run_${app.batch_size}"
    )
    assert config.load(write(tmp_path, text), env={})["ucon_db.folder_name"] == "run_7"


def test_unset_variable_names_key_and_fix(tmp_path):
    text = MINIMAL.replace("folder_name: f", "folder_name: ${NOPE}")
    with pytest.raises(config.ConfigError) as e:
        config.load(write(tmp_path, text), env={})
    msg = str(e.value)
    assert str(tmp_path / "config.yaml") in msg and "ucon_db.folder_name" in msg
    assert "${NOPE:-value}" in msg


def test_self_reference_is_an_error(tmp_path):
    text = MINIMAL.replace("folder_name: f", "folder_name: ${object_name}\n  object_name: ${folder_name}")
    with pytest.raises(config.ConfigError, match="refers to itself"):
        config.load(write(tmp_path, text), env={})


@pytest.mark.parametrize(
    "key,line,expected",
    [
        ("app.batch_size", "app:\n  batch_size: lots\n", "an integer"),
        ("app.settle_seconds", "app:\n  settle_seconds: [1]\n", "a number"),
        ("ucon_db.verify_tls", "ucon_db:\n  verify_tls: maybe\n", "true or false"),
        ("fhiclize_generate", "fhiclize_generate: boot\n", "a list of names"),
        ("app.parallel_workers", "app:\n  parallel_workers: -2\n", "must not be negative"),
    ],
)
def test_wrong_type_names_file_key_and_expectation(tmp_path, key, line, expected):
    section, _, rest = line.partition("\n")
    text = MINIMAL.replace(section + "\n", section + "\n" + rest, 1) if section in MINIMAL else MINIMAL + line
    with pytest.raises(config.ConfigError) as e:
        config.load(write(tmp_path, text), env={})
    assert key in str(e.value) and expected in str(e.value) and "config.yaml" in str(e.value)


@pytest.mark.parametrize(
    "key", ["app.work_dir", "source_files.run_records_dir", "artdaq_db.database_uri", "ucon_db.server_url"]
)
def test_missing_required_key(tmp_path, key):
    section, _, name = key.partition(".")
    lines = [line for line in MINIMAL.splitlines() if not line.strip().startswith(name + ":")]
    with pytest.raises(config.ConfigError, match="missing key %s" % key):
        config.load(write(tmp_path, "\n".join(lines).replace("${app.work_dir}", "/w")), env={})


def test_unknown_converter_is_named(tmp_path):
    with pytest.raises(config.ConfigError, match="unknown converter 'bootz'"):
        config.load(write(tmp_path, MINIMAL + "fhiclize_generate: [boot, bootz]\n"), env={})


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(config.ConfigError, match="line 3"):
        config.load(write(tmp_path, "app:\n  - x\n y: [\n"), env={})
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(tmp_path / "absent.yaml", env={})


def test_legacy_keys_warn_once_and_load(tmp_path, caplog):
    text = (
        MINIMAL.replace("app:\n", "app:\n  import_state_file: ${work_dir}/s.json\n  migrate_failure_log: x.log\n")
        + "app_fuzz:\n  random_skip_percent: 0\n"
    )
    with caplog.at_level(logging.WARNING, logger="rra.config"):
        config.load(write(tmp_path, text), env={})
    lines = [r.getMessage() for r in caplog.records]
    assert any("app.import_state_file is deprecated" in line for line in lines)
    assert any("app.migrate_failure_log is deprecated" in line for line in lines)
    assert any("app_fuzz.random_skip_percent is deprecated" in line for line in lines)
    assert len(lines) == 3


def test_legacy_template_config_loads(tmp_path):
    """The legacy archiver's own template (keys and layout) loads unchanged."""
    legacy = (ROOT / "tests" / "data" / "legacy_config.yaml").read_text()
    cfg = config.load(write(tmp_path, legacy), env={})
    assert cfg["artdaq_db.use_tools"] is True
    assert cfg["ucon_db.folder_name"] == "test01"


def test_secrets_masked_and_urls_stripped(tmp_path):
    text = MINIMAL.replace("folder_name: f", "folder_name: f\n  writer_password: hunter2")
    text = text.replace('"filesystemdb://${app.work_dir}/db"', "mongodb://u:s3cret@db:27017/a")
    cfg = config.load(write(tmp_path, text), env={})
    dump = repr(cfg.masked())
    assert "hunter2" not in dump and "s3cret" not in dump
    assert "mongodb://db:27017/a" in dump


def test_find_config_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config.find_config("x.yaml", env={"RRA_CONFIG": "y.yaml"}) == tmp_path / "x.yaml"
    assert config.find_config(None, env={"RRA_CONFIG": "y.yaml"}) == tmp_path / "y.yaml"
    assert config.find_config("/etc/rra.yaml", env={}, cwd="/elsewhere") == Path("/etc/rra.yaml")
    with pytest.raises(config.ConfigError, match="no config.yaml in %s and RRA_CONFIG unset" % tmp_path):
        config.find_config(None, env={})  # not the repository: never the template
    assert config.find_config(None, env={}, cwd=config.TEMPLATE.parent) == config.TEMPLATE
    write(tmp_path, MINIMAL)
    assert config.find_config(None, env={}) == tmp_path / "config.yaml"
    assert config.find_config(None, env={}, cwd=str(tmp_path)) == tmp_path / "config.yaml"


def run_rra(*args, cwd=None):
    return python_m("rra.cli", *args, cwd=cwd)


def test_check_config_cli_masks_and_fails_cleanly(tmp_path):
    path = write(tmp_path, MINIMAL.replace("folder_name: f", "folder_name: f\n  writer_password: pw123"))
    out = run_rra("check-config", str(path))
    assert out.returncode == 0, out.stderr
    assert "ucon_db.writer_password: ********" in out.stdout and "pw123" not in out.stdout
    bad = write(tmp_path, MINIMAL.replace("work_dir: work", "work_dir: [1]"), "bad.yaml")
    out = run_rra("check-config", str(bad))
    assert out.returncode == 1
    assert "app.work_dir must be a path" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "change,message",
    [
        (("folder_name: f", "folder_name: f\n  ca_bundle: nope.pem"), "ca_bundle: no such file"),
        (
            ('database_uri: "filesystemdb', 'backend: mongo\n  database_uri: "filesystemdb'),
            "artdaq_db.backend must be auto, native, conftoolp or tools",
        ),
        (
            ('"filesystemdb://${app.work_dir}/db"', "postgres://u:pw@h/db"),
            "artdaq_db.database_uri must start with filesystemdb://",
        ),
        (("sqlite://${app.work_dir}/u.sqlite", "ftp://h/app"), "ucon_db.server_url must start with"),
    ],
)
def test_values_every_run_would_trip_over_are_caught_at_load(tmp_path, change, message):
    with pytest.raises(config.ConfigError, match=message) as e:
        config.load(write(tmp_path, MINIMAL.replace(*change)), env={})
    assert "pw@" not in str(e.value)


def test_errors_never_show_a_secret_value(tmp_path):
    text = MINIMAL.replace("folder_name: f", "folder_name: f\n  writer_password: 'hunt${er2'")
    with pytest.raises(config.ConfigError, match="unclosed") as e:
        config.load(write(tmp_path, text), env={})
    assert "hunt" not in str(e.value)


def test_config_that_is_not_utf8(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(MINIMAL.encode() + b"# caf\xe9\n")
    with pytest.raises(config.ConfigError, match="not UTF-8"):
        config.load(path, env={})
