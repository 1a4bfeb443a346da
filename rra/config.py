"""Load config.yaml: the legacy sections and keys, expanded, typed and checked.

An operator's existing legacy config.yaml must load unchanged: keys that no
longer mean anything are accepted with a one-line deprecation warning.
"""

import logging
import os
import re
import stat
from pathlib import Path

import yaml

from .errors import RraError
from .urls import redact, register, split_credentials

log = logging.getLogger("rra.config")

TEMPLATE = Path(__file__).resolve().parent.parent / "config.yaml.template"


class ConfigError(RraError):
    """A config problem an operator can fix: names the file, the key and what is expected."""


# Kinds of value. "path" and "uri" are resolved against the config file's directory.
STR, INT, NUM, BOOL, PATH, URI, LIST, OPT_STR, OPT_PATH = (
    "a string",
    "an integer",
    "a number",
    "true or false",
    "a path",
    "a URI",
    "a list of names",
    "a string or null",
    "a path or null",
)

# section.key -> (kind, default); REQUIRED marks keys with no default.
REQUIRED = object()
SCHEMA = {
    "app.work_dir": (PATH, REQUIRED),
    "app.lock_file": (OPT_PATH, None),
    "app.batch_size": (INT, 2000),
    "app.parallel_workers": (INT, 1),
    "app.run_process_retries": (INT, 2),
    "app.retry_delay_seconds": (NUM, 3),
    "app.exclude_most_recent_run": (BOOL, False),
    "app.settle_seconds": (NUM, 0),
    "app.max_files_per_run": (INT, 10000),
    "app.max_bytes_per_run": (INT, 1 << 30),
    "app.validate_blobs": (BOOL, False),
    "app.log_level": (STR, "INFO"),
    "app.log_file": (OPT_PATH, None),
    "fhiclize_generate": (
        LIST,
        [
            "boot",
            "metadata",
            "known_boardreaders_list",
            "RunHistory",
            "RunHistory2",
            "settings",
            "setup",
            "environment",
            "ranks",
        ],
    ),
    "source_files.run_records_dir": (PATH, REQUIRED),
    "artdaq_db.fcl_conf_dir": (OPT_PATH, None),
    "artdaq_db.database_uri": (URI, REQUIRED),
    "artdaq_db.backend": (STR, "auto"),
    "artdaq_db.use_tools": (BOOL, False),
    "artdaq_db.remote_host": (OPT_STR, None),
    "ucon_db.server_url": (URI, REQUIRED),
    "ucon_db.folder_name": (STR, REQUIRED),
    "ucon_db.object_name": (STR, "configuration"),
    "ucon_db.files_object": (OPT_STR, None),
    "ucon_db.timeout_seconds": (NUM, 10),
    "ucon_db.writer_user": (OPT_STR, None),
    "ucon_db.writer_password": (OPT_STR, None),
    "ucon_db.ca_bundle": (OPT_PATH, None),
    "ucon_db.verify_tls": (BOOL, True),
    "reporting.email.enabled": (BOOL, False),
    "reporting.email.recipient_email": (OPT_STR, None),
    "reporting.email.sender_email": (OPT_STR, None),
    "reporting.email.smtp_host": (OPT_STR, None),
    "reporting.email.smtp_port": (INT, 25),
    "reporting.email.smtp_use_tls": (BOOL, False),
    "reporting.email.smtp_user": (OPT_STR, None),
    "reporting.email.smtp_password": (OPT_STR, None),
    "reporting.slack.enabled": (BOOL, False),
    "reporting.slack.bot_token": (OPT_STR, None),
    "reporting.slack.channel": (OPT_STR, None),
    "reporting.slack.mention_users": (OPT_STR, None),
    "reporting.slack.api_url": (STR, "https://slack.com/api/chat.postMessage"),
    "carbon.enabled": (BOOL, False),
    "carbon.host": (OPT_STR, None),
    "carbon.port": (INT, 2003),
    "carbon.metric_prefix": (STR, "rra"),
    "metrics.prometheus_textfile": (OPT_PATH, None),
}

# Legacy keys that the build graph replaced: accepted, warned about, ignored.
DEPRECATED = {
    "app.import_state_file": "state is derived from the build graph",
    "app.migrate_state_file": "state is derived from the build graph",
    "app.import_failure_log": "failed tasks are simply out of date",
    "app.migrate_failure_log": "failed tasks are simply out of date",
    "app_fuzz": "fault injection lives in the test server, not in production",
}

SECRETS = {"ucon_db.writer_password", "reporting.email.smtp_password", "reporting.slack.bot_token"}


def scrub(cfg, text):
    """text without URL user info and without any of cfg's secrets, whatever echoed them (an
    error quoting a URL, a server repeating a password): for what is shown or sent."""
    for key in SECRETS:
        secret = cfg.get(key)
        if secret:
            text = text.replace(secret, "********")
    return redact(text)


ENV_FILE = TEMPLATE.parent / "archiver.env"  # run_archiver.sh loads it (UCONDB_PASSWORD...)
_ENV_SECRET = re.compile(r"^\s*(export\s+)?\w*(PASSWORD|PASSWD|TOKEN|SECRET)\w*=\s*\S", re.M | re.I)
_warned = set()  # files already warned about in this process


def find_config(explicit=None, env=None, cwd=None):
    """The config file to use: explicit, $RRA_CONFIG, else config.yaml in cwd (where the command
    was started; relative paths count from there too).

    The template is used only from the repository directory itself (the README's first
    command on a fresh clone): anywhere else a missing config.yaml is an error, so a cron
    line without a config never archives the bundled examples.
    """
    env = os.environ if env is None else env
    cwd = Path(cwd or os.getcwd())
    for candidate in (explicit, env.get("RRA_CONFIG")):
        if candidate:
            return cwd / candidate
    if (cwd / "config.yaml").is_file():
        return cwd / "config.yaml"
    if cwd.resolve() != TEMPLATE.parent:
        raise ConfigError(
            "no config.yaml in %s and RRA_CONFIG unset: name the config (run_archiver.sh "
            "FILE, rra --config FILE, doit config=FILE) or start from its directory" % cwd
        )
    log.warning("no config.yaml here and RRA_CONFIG unset: using the template %s", TEMPLATE)
    return TEMPLATE


class Config:
    """The effective configuration: typed values by dotted key, plus where they came from."""

    def __init__(self, values, path):
        self.values = values
        self.path = Path(path)

    def __getitem__(self, dotted):
        return self.values[dotted]

    def get(self, dotted, default=None):
        return self.values.get(dotted, default)

    @property
    def work_dir(self):
        return Path(self.values["app.work_dir"])

    @property
    def run_records_dir(self):
        return Path(self.values["source_files.run_records_dir"])

    def masked(self):
        """Every value with secrets replaced, for printing and logs."""
        return {
            k: (
                "(unset: %s)" % v.reason
                if isinstance(v, MissingSecret)
                else "********"
                if k in SECRETS and v
                else redact(v)
            )
            for k, v in sorted(self.values.items())
        }

    def __repr__(self):
        return "Config(%s)" % self.path


def load(path=None, env=None, cwd=None):
    """Read, expand, type-check and resolve a config file; raise ConfigError on any problem.

    cwd: where the command was started (doit changes to dodo.py's directory before loading it).
    """
    path = find_config(path, env=env, cwd=cwd)
    env = os.environ if env is None else env
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError("%s: cannot read the config file: %s" % (path, e.strerror)) from None
    except UnicodeDecodeError as e:
        raise ConfigError("%s: not UTF-8 text (byte %d)" % (path, e.start)) from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = " line %d:" % (where.line + 1) if where else ""
        raise ConfigError("%s:%s not valid YAML (%s)" % (path, line, getattr(e, "problem", e)))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("%s: expected a mapping of sections (app, source_files, ...)" % path)
    flat = _flatten(raw)
    _warn_unused(flat, path)
    expanded = {
        k: _expand_secret(k, v, flat, env, path) if k in SECRETS else _expand(k, v, flat, env, path)
        for k, v in flat.items()
    }
    values = {}
    for key, (kind, default) in SCHEMA.items():
        if key in expanded and expanded[key] is not None or kind == LIST and key in expanded:
            values[key] = _typed(key, expanded[key], kind, path)
        elif default is REQUIRED:
            raise ConfigError("%s: missing key %s (expected %s)" % (path, key, kind))
        else:
            values[key] = default
    _check_generate(values["fhiclize_generate"], path)
    base = path.resolve().parent
    for key, (kind, _) in SCHEMA.items():
        if kind in (PATH, OPT_PATH) and values[key] is not None:
            values[key] = str(base / os.path.expanduser(values[key]))
        elif kind == URI:
            values[key] = _resolve_uri(values[key], base)
    _check_choices(values, path)
    if values["app.lock_file"] is None:
        values["app.lock_file"] = str(Path(values["app.work_dir"]) / ".archiver.lock")
    for key, (kind, _) in SCHEMA.items():  # blanked out of every log line and message
        register(values[key] if key in SECRETS else split_credentials(values[key])[2] if kind == URI else None)
    _warn_readable(path, [k for k, v in flat.items() if _holds_secret(k, v)])
    if ENV_FILE.is_file():
        try:
            env_secret = _ENV_SECRET.search(ENV_FILE.read_text(errors="replace"))
        except OSError:
            env_secret = None
        _warn_readable(ENV_FILE, ["a *PASSWORD/*TOKEN/*SECRET variable"] if env_secret else [])
    return Config(values, path)


def _holds_secret(key, value):
    """The file itself holds a secret here (not a ${VAR} taken from the environment)."""
    if not isinstance(value, str):
        return False
    literal = re.sub(r"\$\{[^}]*\}", "", value)
    if key in SECRETS:
        return bool(literal.strip())
    return bool(split_credentials(literal)[2]) if SCHEMA.get(key, (None,))[0] == URI else False


def _warn_readable(path, secrets):
    """One warning per file and process when a file holding secrets is readable by others."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return
    if secrets and mode & 0o044 and str(path) not in _warned:
        _warned.add(str(path))
        log.warning(
            "%s holds a secret (%s) and is readable by %s (mode %04o): chmod 600 %s, or "
            "take the secret from the environment",
            path,
            ", ".join(secrets),
            "everyone" if mode & 0o004 else "its group",
            mode,
            path,
        )


def _flatten(tree, prefix=""):
    """{'app': {'work_dir': x}} -> {'app.work_dir': x}; lists and scalars are leaves."""
    flat = {}
    for key, value in tree.items():
        dotted = prefix + str(key)
        if isinstance(value, dict) and dotted not in SCHEMA:
            flat.update(_flatten(value, dotted + "."))
        elif value is None and any(k.startswith(dotted + ".") for k in SCHEMA):
            continue  # an empty section: every key takes its default
        else:
            flat[dotted] = value
    return flat


def _warn_unused(flat, path):
    """One line per legacy or unknown key: never an error, so old configs keep loading."""
    for key in flat:
        if key in SCHEMA:
            continue
        old = next((d for d in DEPRECATED if key == d or key.startswith(d + ".")), None)
        if old:
            log.warning("%s: %s is deprecated and ignored (%s)", path, key, DEPRECATED[old])
        else:
            log.warning("%s: unknown key %s is ignored", path, key)


class MissingSecret(str):
    """A secret whose ${VAR} is not set: empty, so reading works; a write says why it cannot.

    `rra report` or `rra status` from a shell without UCONDB_PASSWORD must not fail for
    want of a password they never use.
    """

    def __new__(cls, reason):
        self = super().__new__(cls, "")
        self.reason = reason
        return self


def _expand_secret(key, value, flat, env, path):
    try:
        return _expand(key, value, flat, env, path)
    except ConfigError as e:
        if "environment variable" not in str(e):
            raise
        return MissingSecret(str(e))


def _expand(key, value, flat, env, path, seen=()):
    """Expand ${ENV}, ${ENV:-default}, ${key} (same section) and ${section.key} in a value."""
    if isinstance(value, list):
        return [_expand(key, v, flat, env, path, seen) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    if key in seen:
        raise ConfigError("%s: %s refers to itself through %s" % (path, key, " -> ".join(seen)))
    section = key.rpartition(".")[0]

    def one(inner):
        name, has_default, default = inner.partition(":-")
        for ref in ((section + "." + name) if section else name, name):
            if ref in flat and ref != key:
                return str(_expand(ref, flat[ref], flat, env, path, seen + (key,)))
        if name in env:
            return env[name]
        if has_default:
            return _expand(key, default, flat, env, path, seen)
        if key in ((section + "." + name) if section else name, name):
            raise ConfigError("%s: %s refers to itself" % (path, key))
        raise ConfigError(
            "%s: %s uses ${%s}, which is neither a config key nor a set "
            "environment variable (give a default as ${%s:-value})" % (path, key, name, name)
        )

    try:
        return _substitute(value, one)
    except ValueError as e:
        raise ConfigError("%s: %s: %s" % (path, key, e)) from None


def _substitute(text, replace):
    """Replace each ${...} (which may nest, as in ${ENV:-${key}}) with replace(inner)."""
    out, i = [], 0
    while True:
        start = text.find("${", i)
        if start < 0:
            return "".join(out) + text[i:]
        depth, j = 1, start + 2
        while j < len(text) and depth:
            if text.startswith("${", j):
                depth, j = depth + 1, j + 2
                continue
            depth -= text[j] == "}"
            j += 1
        if depth:
            raise ValueError("unclosed ${ (value not shown)")
        out.append(text[i:start])
        out.append(replace(text[start + 2 : j - 1]))
        i = j


def _typed(key, value, kind, path):
    """Coerce a YAML value to the key's kind or say exactly what was expected."""

    def bad():
        return ConfigError("%s: %s must be %s, got %r" % (path, key, kind, _safe(key, value)))

    if kind in (STR, PATH, URI, OPT_STR, OPT_PATH):
        if isinstance(value, (dict, list, bool)):
            raise bad()
        return value if isinstance(value, MissingSecret) else str(value)
    if kind == BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        raise bad()
    if kind in (INT, NUM):
        if isinstance(value, bool):
            raise bad()
        try:
            number = int(value) if kind == INT else float(value)
        except (TypeError, ValueError):
            raise bad() from None
        if number < 0:
            raise ConfigError("%s: %s must not be negative, got %r" % (path, key, value))
        return number
    if kind == LIST:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad()
        return list(value)
    raise AssertionError(kind)


def _check_choices(values, path):
    """Values every run would trip over: say so once, at load time."""
    if values["artdaq_db.backend"] not in ("auto", "native", "conftoolp", "tools"):
        raise ConfigError(
            "%s: artdaq_db.backend must be auto, native, conftoolp or tools, got %r"
            % (path, values["artdaq_db.backend"])
        )
    if not values["artdaq_db.database_uri"].startswith(("filesystemdb://", "mongodb://")):
        raise ConfigError(
            "%s: artdaq_db.database_uri must start with filesystemdb:// or "
            "mongodb://, got %r" % (path, redact(values["artdaq_db.database_uri"]))
        )
    if not values["ucon_db.server_url"].startswith(("https://", "http://", "sqlite://")):
        raise ConfigError(
            "%s: ucon_db.server_url must start with https://, http:// or sqlite://, "
            "got %r" % (path, redact(values["ucon_db.server_url"]))
        )
    bundle = values["ucon_db.ca_bundle"]
    if bundle and not os.path.isfile(bundle):
        raise ConfigError("%s: ucon_db.ca_bundle: no such file %s" % (path, bundle))


def _check_generate(names, path):
    """fhiclize_generate may only name converters rra has (legacy allowed a .txt suffix)."""
    from .fhiclize import CONVERTERS

    for name in names:
        if name.rsplit(".txt", 1)[0] not in CONVERTERS:
            raise ConfigError(
                "%s: fhiclize_generate: unknown converter %r (known: %s)" % (path, name, ", ".join(CONVERTERS))
            )


def _safe(key, value):
    return "********" if key in SECRETS else redact(value)


def _resolve_uri(uri, base):
    """filesystemdb:// and sqlite:// URIs with a relative path resolve against the config dir."""
    for scheme in ("filesystemdb://", "sqlite://"):
        if uri.startswith(scheme):
            rest = uri[len(scheme) :]
            return scheme + str(base / os.path.expanduser(rest)).rstrip("/")
    return uri
