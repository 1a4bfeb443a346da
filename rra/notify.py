"""Tell operators what failed: one email and one Slack message per invocation, never one per run.

A notice that cannot be sent is a warning, never an error: the archive matters more.
"""

import logging
import smtplib
import socket
import ssl
from collections import defaultdict
from dataclasses import dataclass
from email.message import EmailMessage


from .config import scrub
from .urls import redact
from .stages import NAMES as STAGES

log = logging.getLogger("rra")

TIMEOUT = 10  # seconds, per channel: a dead mail relay must not hold up cron
MAX_RANGES = 40  # run ranges listed per stage before "... (N runs)"
MAX_ERRORS = 30  # error lines listed before "... and N more"
MAX_ERROR_CHARS = 200


@dataclass
class Failure:
    """One failed task: the run, its stage, and why (the last line is what counts)."""

    run: int
    stage: str
    message: str


def ranges(runs, limit=MAX_RANGES):
    """'1207, 1210-1211': sorted runs with consecutive numbers folded, as operators write them."""
    spans = []
    for run in sorted(set(runs)):
        if spans and run == spans[-1][1] + 1:
            spans[-1][1] = run
        else:
            spans.append([run, run])
    text = ", ".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in spans[:limit])
    return text + (", ... (%d runs)" % len(set(runs)) if len(spans) > limit else "")


def one_line(message):
    """The last non-blank line of an error (a traceback's exception), cut to a readable length."""
    lines = [line.strip() for line in str(message or "").splitlines() if line.strip()]
    line = lines[-1] if lines else "(no message)"
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 3] + "..."


def _stage_key(stage):
    return (STAGES.index(stage), "") if stage in STAGES else (len(STAGES), stage)


def compose(failures, summary=None, host=None):
    """(subject, text): failed runs by stage, then each distinct error once with its runs."""
    host = host or socket.gethostname()
    runs = {f.run for f in failures}
    by_stage, by_error = defaultdict(set), defaultdict(set)
    for f in failures:
        by_stage[f.stage].add(f.run)
        by_error[f.stage, one_line(f.message)].add(f.run)
    subject = "rra on %s: %d run%s failed" % (host, len(runs), "" if len(runs) == 1 else "s")
    lines = [
        "%s (%d failed task%s)." % (subject, len(failures), "" if len(failures) == 1 else "s"),
        "",
        "Failed by stage:",
    ]
    lines += ["  %s: %s" % (stage, ranges(by_stage[stage])) for stage in sorted(by_stage, key=_stage_key)]
    # the most widespread error first: when hundreds fail, it is usually one cause
    errors = sorted(by_error.items(), key=lambda item: (-len(item[1]), min(item[1]), _stage_key(item[0][0])))
    lines += ["", "Errors:"]
    lines += ["  %s %s: %s" % (stage, ranges(runs_, 5), error) for (stage, error), runs_ in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        lines.append("  ... and %d more, see the rra log on %s" % (len(errors) - MAX_ERRORS, host))
    if summary:
        lines += [""] + ([summary] if isinstance(summary, str) else list(summary))
    return subject, "\n".join(lines) + "\n"


def notify_failures(cfg, failures, summary=None):
    """Send the failure notice on every enabled channel; return the problems, one line each."""
    failures = list(failures)
    if not failures:
        return []
    try:
        subject, text = compose(failures, summary)
    except Exception as e:  # bad input from the caller still must not stop the archiver
        log.warning("notification failed: cannot compose it: %s: %s", type(e).__name__, e)
        return ["notify: cannot compose the notice: %s: %s" % (type(e).__name__, e)]
    text = scrub(cfg, text)  # an error may quote a URL or a password
    problems = []
    for name, send in (("email", _email), ("slack", _slack)):
        if not cfg["reporting.%s.enabled" % name]:
            continue
        try:
            problem = send(cfg, subject, text)
        except Exception as e:  # a notice must never stop the archiver
            problem = "%s: unexpected %s: %s" % (name, type(e).__name__, e)
        if problem:
            problem = scrub(cfg, problem)
            log.warning("notification failed: %s", problem)
            problems.append(problem)
        else:
            log.info("%s notice sent: %s", name, subject)
    return problems


def _email(cfg, subject, text):
    """One message over SMTP (STARTTLS verified against the system CAs if asked); None if sent."""

    def e(key):
        return cfg["reporting.email." + key]

    recipients = [r.strip() for r in (e("recipient_email") or "").split(",") if r.strip()]
    missing = [
        k
        for k, v in (
            ("smtp_host", e("smtp_host")),
            ("sender_email", e("sender_email")),
            ("recipient_email", recipients),
        )
        if not v
    ]
    if missing:
        return "email: reporting.email.%s is not set" % ", ".join(missing)
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, e("sender_email"), ", ".join(recipients)
    msg.set_content(text)
    where = "%s:%d" % (e("smtp_host"), e("smtp_port"))
    try:
        with smtplib.SMTP(e("smtp_host"), e("smtp_port"), timeout=TIMEOUT) as smtp:
            if e("smtp_use_tls"):
                smtp.starttls(context=ssl.create_default_context())
            if e("smtp_user"):
                smtp.login(e("smtp_user"), e("smtp_password") or "")
            smtp.send_message(msg, e("sender_email"), recipients)
    except smtplib.SMTPAuthenticationError as err:
        return "email: %s refused the login of %s: %s" % (where, e("smtp_user"), _smtp_reply(err))
    except smtplib.SMTPRecipientsRefused as err:
        return "email: %s refused the recipients %s" % (where, ", ".join(err.recipients))
    except smtplib.SMTPResponseException as err:
        return "email: %s answered %s" % (where, _smtp_reply(err))
    except (smtplib.SMTPException, OSError) as err:
        return "email: cannot send via %s: %s" % (where, str(err) or type(err).__name__)
    return None


def _smtp_reply(err):
    reply = err.smtp_error
    reply = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return "%s %s" % (err.smtp_code, " ".join(str(reply).split()))


def _slack(cfg, subject, text):
    """One chat.postMessage; Slack says failure as HTTP 200 with ok: false, so read the body."""

    def s(key):
        return cfg["reporting.slack." + key]

    missing = [k for k in ("bot_token", "channel") if not s(k)]
    if missing:
        return "slack: reporting.slack.%s is not set" % ", ".join(missing)
    mentions = " ".join("<@%s>" % u.strip() for u in (s("mention_users") or "").split(",") if u.strip())
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = {"channel": s("channel"), "text": (mentions + " " + escaped) if mentions else escaped}
    url = redact(s("api_url"))
    import requests  # only when a message is sent: not on every cron tick

    try:
        answer = requests.post(
            s("api_url"),
            json=body,
            timeout=TIMEOUT,
            headers={"Authorization": "Bearer " + s("bot_token"), "Content-Type": "application/json; charset=utf-8"},
        )
    except requests.RequestException as err:
        return "slack: cannot post to %s: %s" % (url, err)
    if answer.status_code != 200:
        return "slack: %s answered HTTP %d %s" % (url, answer.status_code, answer.reason or "")
    try:
        result = answer.json()
    except ValueError:
        return "slack: %s answered HTTP 200 but not JSON" % url
    if not isinstance(result, dict) or result.get("ok") is not True:
        error = result.get("error", "no reason given") if isinstance(result, dict) else result
        return "slack: %s refused the message to %s: %s" % (url, s("channel"), error)
    return None
