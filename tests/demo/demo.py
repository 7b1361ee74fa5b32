#!/usr/bin/env python3
"""Demo: a Genesys Cloud OAuth client rotated three times by the real `rotation` binary, and the
rotated-out clients deleted by the real `cleanup` binary once their tokens have drained.

Everything runs on 127.0.0.1 with ports chosen at run time:
  * moto_server plays AWS Secrets Manager and SQS (the drain queue and its DLQ), and a stub
    Lambda, see below;
  * target/debug/genesys-emulator plays Genesys Cloud (regions are redirected to it);
  * one `cargo lambda watch` emulates the Lambda Runtime API and runs handlers/rotation and
    handlers/cleanup, each invoked by name;
  * this script plays Secrets Manager's rotation service (RotateSecret, then the four steps),
    the cleanup's SQS event source mapping (receive, invoke, delete all but the
    batchItemFailures), its EventBridge schedule (one reconciliation), and a consumer of the
    secret that gets a token with each current credential and keeps it.

The integration secret's tokens live 300 s (Genesys's minimum) and DRAIN_MARGIN_SECONDS is 15, so
a retired client is due 315 s after its rotation: the demo lasts about 6 minutes, most of it
waiting out that drain. A shorter drain would cut off tokens still in use.

Run it with `make demo` (it needs .venv and a debug build). Everything it starts is stopped on
exit, also on failure and Ctrl-C. Exit status 0 only if all rotations succeeded and the final
state checks out. Secret values are never printed.

Why a stub Lambda in moto: moto 5.2.x's RotateSecret *without* a RotationLambdaARN does not
leave an AWSPENDING version behind; it relabels a new, empty version AWSCURRENT at once. With a
RotationLambdaARN of a function registered in moto (and moto's Lambda set to its no-Docker stub
backend, which only answers invokes), RotateSecret does what Secrets Manager does: it enables
rotation, adds a new version id labelled AWSPENDING with no value, and leaves AWSCURRENT alone.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import requests

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".run" / "demo"
VENV_BIN = ROOT / ".venv" / "bin"
EMULATOR_BIN = Path(os.environ.get("GENESYS_EMULATOR_BIN", ROOT / "target" / "debug" / "genesys-emulator"))
MOTO_BIN = Path(os.environ.get("MOTO_SERVER_BIN", VENV_BIN / "moto_server"))

REGION_DOMAIN = "mypurecloud.ie"
AWS_REGION = "us-east-1"
MASTER_SECRET_NAME = "genesys/rotator/master"
INTEGRATION_SECRET_NAME = "genesys/crm-integration"
NAME_PREFIX = "crm-rot-"
ROLE_ID = "crm-integration-role"
MASTER_PERMISSIONS = ["oauth:client:add", "oauth:client:edit", "oauth:client:delete", "oauth:client:view"]
DRAIN_QUEUE_NAME = "genesys-rotator-drain"
FUNCTION_NAME = "rotation"
CLEANUP_NAME = "cleanup"
STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]
ROTATIONS = 3
# Time between rotations, so each new client is the current one for a while (and the drains
# end at different times).
ROTATION_INTERVAL_SECONDS = 20

# The drain: a retired client is deleted once every token it issued has expired. Genesys's
# shortest token lifetime is 300 s, so the shortest honest drain is 300 s plus the margin.
TOKEN_LIFETIME_SECONDS = 300
DRAIN_MARGIN_SECONDS = 15
DRAIN_SECONDS = TOKEN_LIFETIME_SECONDS + DRAIN_MARGIN_SECONDS
# Queue settings for the demo (production: visibility >= 6 x the cleanup's timeout).
QUEUE_VISIBILITY_SECONDS = 60
DLQ_NAME = "genesys-rotator-drain-dlq"
MAX_RECEIVE_COUNT = 5
# The event source mapping the demo plays: long-poll wait, status refresh while draining, and
# how long past the last due time it waits before giving up.
POLL_WAIT_SECONDS = 5
STATUS_EVERY_SECONDS = 20
DRAIN_GRACE_SECONDS = 120
ACCOUNT_ID = "123456789012"

# The first invoke may compile the function: give it time. Later ones only wait for the
# rotation itself (testSecret may wait for a new client to propagate).
FIRST_INVOKE_TIMEOUT = 900
INVOKE_TIMEOUT = 300

USE_COLOR = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None


def color(code: str, text: str) -> str:
    return f"\033[{code}m{text}\033[0m" if USE_COLOR else text


def ok(text: str) -> str:
    return color("32", text)


def bad(text: str) -> str:
    return color("31;1", text)


def dim(text: str) -> str:
    return color("2", text)


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say()
    say(color("1", f"== {text}"))


class DemoFailure(Exception):
    """A check or step failed: reported, everything stopped, exit status 1."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Processes: each in its own session (process group); stopped with every descendant.
# ---------------------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            # The command name may contain spaces and parentheses: split after the last ')'.
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children[ppid].append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    children = _children_map()
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        return stat[stat.rindex(")") + 2] != "Z"
    except (OSError, ValueError, IndexError):
        return False


class Proc:
    """A child process in its own process group, output to a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict | None = None,
                 cwd: Path = ROOT, capture_stdout: bool = False):
        self.name = name
        self.log_path = log
        self.log = open(log, "ab", buffering=0)
        self.stdout_lines: list[str] = []
        self._line_event = threading.Condition()
        self.popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else self.log,
            stderr=self.log,
            start_new_session=True,
        )
        self.pid = self.popen.pid
        if capture_stdout:
            threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            try:
                self.log.write(raw)
            except ValueError:  # log closed by stop()
                pass
            with self._line_event:
                self.stdout_lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._line_event.notify_all()
        with self._line_event:
            self._line_event.notify_all()

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._line_event:
            while True:
                for line in self.stdout_lines[seen:]:
                    m = regex.search(line)
                    if m:
                        return m
                seen = len(self.stdout_lines)
                if self.popen.poll() is not None:
                    raise DemoFailure(f"{self.name} exited with status {self.popen.returncode} (log: {self.log_path})")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DemoFailure(f"{self.name} printed no line matching {pattern!r} in {timeout:.0f} s")
                self._line_event.wait(min(left, 0.5))

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to the process group and every descendant (some may have made groups of their
        own), then SIGKILL whatever is left after `grace` seconds."""
        pids = [self.pid] + descendants(self.pid)
        groups = set()
        for pid in pids:
            try:
                groups.add(os.getpgid(pid))
            except OSError:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pgid in groups:
                try:
                    os.killpg(pgid, sig)
                except OSError:
                    pass
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
            while time.monotonic() < deadline:
                self.popen.poll()
                # Late children (e.g. a function started during shutdown) are caught here too.
                pids = list(dict.fromkeys(pids + descendants(self.pid)))
                if not any(_alive(p) for p in pids):
                    break
                time.sleep(0.1)
            else:
                continue
            break
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()


def tail(path: Path, lines: int = 60) -> str:
    try:
        data = re.sub(r"\x1b\[[0-9;]*m", "", path.read_text(errors="replace")).splitlines()
    except OSError as e:
        return f"(cannot read {path}: {e})"
    return "\n".join(data[-lines:])


# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------


def start_moto() -> tuple[Proc, str]:
    if not MOTO_BIN.exists():
        raise DemoFailure(f"{MOTO_BIN} not found: run `make venv`")
    for attempt in range(3):
        port = free_port()
        proc = Proc("moto_server", [str(MOTO_BIN), "-H", "127.0.0.1", "-p", str(port)], RUN_DIR / "moto.log")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.running():
            try:
                if requests.get(f"{url}/moto-api/", timeout=1).status_code == 200:
                    return proc, url
            except requests.RequestException:
                pass
            time.sleep(0.1)
        proc.stop()
        say(dim(f"moto_server did not answer on port {port} (attempt {attempt + 1}); retrying"))
    raise DemoFailure(f"moto_server did not start (log: {RUN_DIR / 'moto.log'})")


def start_emulator() -> tuple[Proc, str]:
    if not EMULATOR_BIN.exists():
        raise DemoFailure(f"{EMULATOR_BIN} not found: run `make build`")
    proc = Proc(
        "genesys-emulator",
        [str(EMULATOR_BIN), "--listen", "127.0.0.1:0"],
        RUN_DIR / "emulator.log",
        capture_stdout=True,
    )
    m = proc.wait_for_line(r"listening on (http://127\.0\.0\.1:\d+)", timeout=30)
    return proc, m.group(1).rstrip("/")


def admin(base: str, method: str, path: str, body=None):
    r = requests.request(method, f"{base}/__admin/{path}", json=body, timeout=10)
    if r.status_code >= 300:
        raise DemoFailure(f"emulator {method} /__admin/{path}: HTTP {r.status_code} {r.text[:300]}")
    return r.json() if r.content else None


def seed_emulator(base: str) -> tuple[dict, dict]:
    admin(base, "POST", "roles", {"roleId": ROLE_ID, "permissions": ["conversation:communication:view"]})
    master = admin(base, "POST", "clients", {
        "name": "genesys-rotator-master",
        "permissions": MASTER_PERMISSIONS,
        "state": "active",
        "accessTokenValiditySeconds": 86400,
    })
    legacy = admin(base, "POST", "clients", {
        "name": "crm-legacy-integration",
        "permissions": ["conversation:communication:view"],
        "roleDivisions": [{"roleId": ROLE_ID, "divisionId": "*"}],
        "state": "active",
        "accessTokenValiditySeconds": TOKEN_LIFETIME_SECONDS,
    })
    for c in (master, legacy):
        if not c or not c.get("id") or not c.get("secret"):
            raise DemoFailure("emulator: POST /__admin/clients did not answer {id, secret}")
    return master, legacy


def aws_client(service: str, moto_url: str):
    return boto3.client(
        service,
        endpoint_url=moto_url,
        region_name=AWS_REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def register_stub_lambda(moto_url: str) -> str:
    """A function moto's RotateSecret can name (see the module docstring). It never runs: moto's
    no-Docker Lambda backend answers its invokes with a canned reply."""
    r = requests.post(f"{moto_url}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=10)
    if r.status_code >= 300 or r.json().get("lambda", {}).get("use_docker") is not False:
        raise DemoFailure(f"moto refused the Lambda stub config: HTTP {r.status_code} {r.text[:200]}")
    role = aws_client("iam", moto_url).create_role(
        RoleName="genesys-rotator-rotation",
        AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                           "Action": "sts:AssumeRole"}],
        }),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n# stand-in: the real function runs under cargo lambda watch\n")
    return aws_client("lambda", moto_url).create_function(
        FunctionName=FUNCTION_NAME,
        Runtime="provided.al2023",
        Role=role,
        Handler="bootstrap",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]


def start_cargo_lambda(env_vars: dict[str, str]) -> tuple[Proc, int]:
    cargo_lambda = VENV_BIN / "cargo-lambda"
    if not cargo_lambda.exists():
        raise DemoFailure(f"{cargo_lambda} not found: run `make venv`")
    port = free_port()
    env_file = RUN_DIR / "function.env"
    # Quoted: cargo-lambda's env-file parser refuses an unquoted value holding '='.
    quote = lambda v: '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    env_file.write_text("".join(f"{k}={quote(v)}\n" for k, v in env_vars.items()))
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(env_vars)  # also inherited, in case the env file were ignored
    env.setdefault("XDG_CACHE_HOME", str(ROOT / ".run" / "cache"))
    argv = [
        "cargo", "lambda", "watch",
        "--invoke-address", "127.0.0.1",
        "--invoke-port", str(port),
        # No --package/--bin: one watcher serves every binary of the workspace, each invoked by
        # name (/2015-03-31/functions/<bin>/invocations); the demo uses `rotation` and `cleanup`.
        "--ignore-changes",  # others may be editing the workspace: don't rebuild mid-demo
        # The regions are sent to the emulator by GENESYS_ENDPOINT_OVERRIDES, which only a build
        # with this feature takes (the release zips refuse it; `make build` enables it too).
        # Named on the library, which both binaries depend on, since the watcher builds each
        # binary as a package of its own.
        "--features", "genesys-rotator/endpoint-overrides",
        "--env-file", str(env_file),
    ]
    proc = Proc("cargo lambda watch", argv, RUN_DIR / "cargo-lambda.log", env=env)
    deadline = time.monotonic() + 120
    while not port_open(port):
        if not proc.running():
            raise DemoFailure(f"cargo lambda watch exited with status {proc.popen.returncode}")
        if time.monotonic() > deadline:
            raise DemoFailure("cargo lambda watch did not open its invoke port in 120 s")
        time.sleep(0.2)
    return proc, port


def verify_function_env(watch: Proc, expected: dict[str, str], function: str = FUNCTION_NAME) -> None:
    """Reads the environment of the running `function` process (a descendant of the watcher)."""
    for pid in descendants(watch.pid):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if Path(exe).name != function:
            continue
        try:
            raw = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        env = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
        wrong = [k for k, v in expected.items() if env.get(k) != v]
        if wrong:
            raise DemoFailure(f"{function} (pid {pid}) did not get the right value for: {', '.join(wrong)}")
        say(ok(f"   {function} environment checked (pid {pid}): {', '.join(expected)}"))
        return
    say(dim("   (could not find the running function process to check its environment)"))


# ---------------------------------------------------------------------------------------------
# Playing Secrets Manager
# ---------------------------------------------------------------------------------------------


class LogFollower:
    """The function's own log lines (tracing output inside its invoke span) written since the
    last call, without the span prefix; the watcher's own chatter stays in the log file, but for
    warnings and errors."""

    ANSI = re.compile(r"\x1b\[[0-9;]*m")
    LEVEL = re.compile(r"^\s*(TRACE|DEBUG|INFO|WARN|ERROR)\s+(.*)$")
    # `Lambda runtime invoke{requestId=.. xrayTraceId=..}:handle{step=.. ..}: message fields`
    SPANS = re.compile(r"^(?:[\w ]+\{[^{}]*\}:)+\s*")

    def __init__(self, path: Path):
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        # Only whole lines: keep a partial last line for next time.
        end = data.rfind(b"\n") + 1
        self.offset += end
        out = []
        for raw in data[:end].decode(errors="replace").splitlines():
            m = self.LEVEL.match(self.ANSI.sub("", raw))
            if not m:
                continue
            level, rest = m.groups()
            if "invoke{" in rest:
                out.append(f"{level:<5} {self.SPANS.sub('', rest)}")
            elif level in ("WARN", "ERROR"):
                out.append(f"{level:<5} {rest}")
        return out


def invoke(port: int, event: dict, timeout: float, watch: Proc,
           function: str = FUNCTION_NAME) -> tuple[bool, object, float]:
    """POSTs one event to the function, as the Lambda Invoke API. Gives up early when the
    watcher says the function's command ended (a failed build or a crash): the invoke would
    otherwise hang until `timeout`."""
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations"
    result: dict = {}

    def post() -> None:
        try:
            result["response"] = requests.post(url, json=event, timeout=timeout)
        except requests.RequestException as e:
            result["error"] = e

    try:
        offset = watch.log_path.stat().st_size
    except OSError:
        offset = 0
    start = time.monotonic()
    worker = threading.Thread(target=post, daemon=True)
    worker.start()
    command_ended_at = None
    while worker.is_alive():
        worker.join(0.5)
        if not worker.is_alive():
            break
        if not watch.running():
            return False, f"cargo lambda watch exited with status {watch.popen.returncode}", time.monotonic() - start
        if command_ended_at is None:
            try:
                with open(watch.log_path, "rb") as f:
                    f.seek(offset)
                    text = f.read().decode(errors="replace")
            except OSError:
                text = ""
            if re.search(r"command exited|could not compile", text):
                command_ended_at = time.monotonic()
        elif time.monotonic() - command_ended_at > 10:
            return False, "the function's build or process failed (see the watcher's log)", time.monotonic() - start
    elapsed = time.monotonic() - start
    if "error" in result:
        return False, f"invoke failed: {result['error']}", elapsed
    r = result["response"]
    try:
        body = r.json()
    except ValueError:
        body = r.text
    failed = (
        r.status_code != 200
        or "X-Amz-Function-Error" in r.headers
        or (isinstance(body, dict) and "errorType" in body)
    )
    return not failed, body, elapsed


def describe(body: object) -> str:
    if isinstance(body, dict) and ("errorType" in body or "errorMessage" in body):
        return f"{body.get('errorType', 'error')}: {body.get('errorMessage', '')}"
    text = json.dumps(body) if not isinstance(body, str) else body
    return text if len(text) <= 300 else text[:300] + "..."


def stages(sm, arn: str) -> dict[str, list[str]]:
    return sm.describe_secret(SecretId=arn)["VersionIdsToStages"]


def current_client_id(sm, arn: str) -> tuple[str, str]:
    out = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    return out["VersionId"], json.loads(out["SecretString"])["clientId"]


def rotate_once(n: int, sm, arn: str, lambda_arn: str, watch: Proc, port: int, logs: LogFollower,
                first_invoke: list[bool], on_first_invoke) -> tuple[str, list[str]]:
    """One rotation; answers the new version id and the function's log lines."""
    heading(f"rotation {n} of {ROTATIONS}")
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=lambda_arn, RotationRules={"AutomaticallyAfterDays": 7})
    pending = [v for v, s in stages(sm, arn).items() if "AWSPENDING" in s and "AWSCURRENT" not in s]
    if len(pending) != 1:
        raise DemoFailure(f"RotateSecret left {len(pending)} AWSPENDING-only versions: {stages(sm, arn)}")
    token = pending[0]
    seen: list[str] = []
    say(f"   RotateSecret: new version {token} labelled AWSPENDING")
    for step in STEPS:
        event = {"Step": step, "SecretId": arn, "ClientRequestToken": token}
        timeout = FIRST_INVOKE_TIMEOUT if first_invoke[0] else INVOKE_TIMEOUT
        if first_invoke[0]:
            say(dim("   (first invoke: cargo lambda builds and starts the function)"))
        success, body, elapsed = invoke(port, event, timeout, watch)
        was_first, first_invoke[0] = first_invoke[0], False
        mark = ok("ok    ") if success else bad("FAILED")
        say(f"   {step:<13} {mark} {elapsed:7.2f} s  {describe(body) if (body or not success) else ''}")
        for line in logs.new_lines():
            seen.append(line)
            say(dim(f"      | {line[:220]}"))
        if was_first:
            on_first_invoke()
        if not success:
            raise DemoFailure(f"rotation {n}: {step} failed: {describe(body)}")
    # What Secrets Manager does once the rotation succeeded (moto does not).
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)
    labels = stages(sm, arn)
    for version, st in labels.items():
        if st:
            say(f"   {version}  {', '.join(sorted(st))}")
    version, client_id = current_client_id(sm, arn)
    say(f"   AWSCURRENT clientId: {client_id}")
    if version != token:
        raise DemoFailure(f"rotation {n}: AWSCURRENT is on {version}, not on the new version {token}")
    return token, seen


# ---------------------------------------------------------------------------------------------
# Playing a consumer of the secret, and following each client's life
# ---------------------------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def hms(t: datetime) -> str:
    return t.strftime("%H:%M:%S")


def mmss(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def request_token(base: str, client_id: str, secret: str) -> tuple[int, str | None, str]:
    """POST /oauth/token with Basic auth, as a consumer does. Answers the status, the token and
    a printable description (never the token)."""
    r = requests.post(f"{base}/oauth/token", auth=(client_id, secret),
                      data={"grant_type": "client_credentials"}, timeout=10)
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code == 200 and body.get("access_token"):
        return 200, body["access_token"], f"expires_in {body.get('expires_in')} s"
    desc = body.get("error_description") or body.get("description") or ""
    return r.status_code, None, f"{body.get('error', '?')}: {desc}" if desc else str(body.get("error", ""))


def tokens_me(base: str, token: str) -> tuple[int, str]:
    """GET /api/v2/tokens/me with a kept token: the status and who it names (or the error code)."""
    r = requests.get(f"{base}/api/v2/tokens/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code == 200:
        client = body.get("OAuthClient") or {}
        return 200, f"names {client.get('name')} ({client.get('state')})"
    return r.status_code, str(body.get("code") or body.get("message") or "")


@dataclasses.dataclass
class Tracked:
    """One client of the integration secret, followed through its life. Its secret and the
    consumer's token stay in memory and are never printed."""

    label: str
    client_id: str
    name: str
    managed: bool
    secret: str = dataclasses.field(repr=False, default="")
    token: str | None = dataclasses.field(repr=False, default=None)
    token_expires: datetime | None = None
    due: datetime | None = None
    outcome: str | None = None  # "deleted", "already gone", "refused: <reason>"
    token_ok_while_draining: bool = False
    new_token_refused_while_draining: bool = False
    token_expired_at: datetime | None = None  # first seen 401 while the client still existed
    events: list[tuple[datetime, str]] = dataclasses.field(default_factory=list)

    def event(self, text: str) -> None:
        self.events.append((utc_now(), text))

    @property
    def draining(self) -> bool:
        return self.due is not None and self.outcome is None

    @property
    def title(self) -> str:
        return f"{self.label} {self.name}"


# `deletion of the rotated-out client queued old_client_id=.. drain_s=315 not_before=2026-01-01 00:00:00.5 +00:00:00`
QUEUED_LINE = re.compile(
    r"deletion of the rotated-out client queued.*?old_client_id=\"?(?P<id>[^\s\"]+)\"?"
    r".*?drain_s=(?P<drain>\d+)"
    r"(?:.*?not_before=\"?(?P<nb>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?))?"
)


def parse_utc(text: str) -> datetime:
    date, _, clock = text.replace("T", " ").partition(" ")
    whole, _, frac = clock.partition(".")
    return datetime.fromisoformat(f"{date}T{whole}.{(frac + '000000')[:6]}+00:00")


class Life:
    """Plays an application that reads the secret and calls Genesys (it keeps the token each
    credential gave it) and records what happens to every client."""

    def __init__(self, emulator_url: str):
        self.base = emulator_url
        self.clients: dict[str, Tracked] = {}
        self.current: Tracked | None = None

    def state_of(self, client_id: str) -> str:
        for c in inventory(self.base):
            if c.get("id") == client_id:
                return str(c.get("state", "?")).lower()
        return "gone"

    def adopt_current(self, sm, arn: str, label: str, rotation: int | None = None) -> Tracked:
        """The consumer re-reads AWSCURRENT and gets a token with it."""
        out = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
        value = json.loads(out["SecretString"])
        client_id = value["clientId"]
        record = next((c for c in inventory(self.base) if c.get("id") == client_id), {})
        name = record.get("name", "?")
        t = Tracked(label=label, client_id=client_id, name=name, managed=name.startswith(NAME_PREFIX),
                    secret=value["clientSecret"])
        self.clients[client_id] = t
        self.current = t
        origin = f"created by rotation {rotation} at {record.get('dateCreated', '?')}, " if rotation else ""
        t.event(f"{origin}AWSCURRENT (version {out['VersionId']}), state {record.get('state', '?')}")
        status, token, desc = request_token(self.base, client_id, t.secret)
        if status != 200:
            raise DemoFailure(f"the consumer could not get a token with the AWSCURRENT credential: {status} {desc}")
        t.token = token
        t.token_expires = utc_now() + timedelta(seconds=TOKEN_LIFETIME_SECONDS)
        me, who = tokens_me(self.base, token)
        t.event(f"consumer got a token ({desc}); tokens/me {me}")
        say(f"   consumer: AWSCURRENT is client {label} ({client_id}); POST /oauth/token -> 200 ({desc}); "
            f"tokens/me -> {me} {who}")
        return t

    def retired(self, old: Tracked, rotation: int, lines: list[str], finished_at: datetime) -> None:
        """After a rotation: the old client must be inactive and queued; its kept token still
        works, a new token is refused."""
        due, how = None, ""
        for line in lines:
            m = QUEUED_LINE.search(line)
            if m and m.group("id") == old.client_id:
                if m.group("nb"):
                    due, how = parse_utc(m.group("nb")), "notBefore"
                else:
                    due, how = finished_at + timedelta(seconds=int(m.group("drain"))), "estimated"
        if due is None:
            raise DemoFailure(f"rotation {rotation}: the function did not log the queued deletion of {old.client_id}")
        old.due = due
        state = self.state_of(old.client_id)
        old.event(f"rotation {rotation}: AWSPREVIOUS, PUT {state}, deletion queued (due {hms(due)} UTC)")
        say(f"   retired: {old.title} ({old.client_id}) is {state}; deletion queued, "
            f"due {hms(due)} UTC ({how}, in {mmss((due - utc_now()).total_seconds())})")
        if state != "inactive":
            raise DemoFailure(f"rotation {rotation}: the rotated-out client {old.client_id} is {state}, not inactive")
        me, who = tokens_me(self.base, old.token) if old.token else (0, "no token")
        status, _, desc = request_token(self.base, old.client_id, old.secret)
        old.token_ok_while_draining |= me == 200
        old.new_token_refused_while_draining |= status != 200
        old.event(f"consumer, old credential: kept token -> tokens/me {me}; new token -> {status} {desc}")
        say(f"   consumer still on the old credential: kept token -> tokens/me {me} {who}; "
            f"new token -> {status} {desc}")

    def check_kept_token(self, t: Tracked) -> int:
        """Calls tokens/me with the client's kept token; records the moment it stops working."""
        if not t.token:
            return 0
        me, _ = tokens_me(self.base, t.token)
        if me == 200 and t.draining:
            t.token_ok_while_draining = True
        if me != 200 and t.outcome is None and t.token_expired_at is None:
            t.token_expired_at = utc_now()
            t.event(f"kept token -> tokens/me {me}: it reached its {TOKEN_LIFETIME_SECONDS} s lifetime, "
                    f"the client still exists ({self.state_of(t.client_id)})")
            say(f"   {hms(utc_now())}  {t.label}'s kept token now gets {me}: it reached its "
                f"{TOKEN_LIFETIME_SECONDS} s lifetime, before {t.label} is deleted (due {hms(t.due)}): "
                "the drain outlasted it")
        return me

    def draining(self) -> list[Tracked]:
        return [t for t in self.clients.values() if t.draining]


def inventory(base: str) -> list[dict]:
    clients = admin(base, "GET", "clients")
    if isinstance(clients, dict):
        clients = clients.get("clients") or clients.get("entities") or []
    return clients


# ---------------------------------------------------------------------------------------------
# Playing the SQS event source mapping of the cleanup function
# ---------------------------------------------------------------------------------------------


FIELD = re.compile(r"(\w+)=(\"(?:[^\"\\]|\\.)*\"|\S+)")


def log_fields(line: str) -> dict[str, str]:
    fields = {k: v[1:-1] if v.startswith('"') else v for k, v in FIELD.findall(line)}
    m = re.search(r"\breason=(.+?)(?=\s+\w+=|$)", line)
    if m:
        fields["reason"] = m.group(1).strip('"')
    return fields


def sqs_record(m: dict, queue_arn: str) -> dict:
    """A received message as the Lambda SQS event carries it."""
    attributes = {}
    for name, value in (m.get("MessageAttributes") or {}).items():
        attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": None,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
    return {
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": m.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": AWS_REGION,
    }


class EventSourceMapping:
    """What Lambda's SQS trigger does, with ReportBatchItemFailures: receive up to 10 messages,
    invoke the function with them, delete the ones not listed in `batchItemFailures`; the listed
    ones come back after the visibility timeout (and reach the DLQ after maxReceiveCount)."""

    def __init__(self, sqs, queue_url: str, queue_arn: str, port: int, watch: Proc,
                 logs: LogFollower, life: Life):
        self.sqs, self.queue_url, self.queue_arn = sqs, queue_url, queue_arn
        self.port, self.watch, self.logs, self.life = port, watch, logs, life
        self.invocations = 0

    def poll_once(self, wait: int = POLL_WAIT_SECONDS) -> int:
        out = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = out.get("Messages") or []
        if not messages:
            return 0
        self.invocations += 1
        event = {"Records": [sqs_record(m, self.queue_arn) for m in messages]}
        success, body, elapsed = invoke(self.port, event, INVOKE_TIMEOUT, self.watch, CLEANUP_NAME)
        lines = self.logs.new_lines()
        failed = {f.get("itemIdentifier") for f in (body.get("batchItemFailures") or [])} \
            if success and isinstance(body, dict) else {m["MessageId"] for m in messages}
        say(f"   {hms(utc_now())}  cleanup invocation {self.invocations} (SQS batch): {len(messages)} message(s) in, "
            f"{len(failed)} batch item failure(s), {elapsed:.2f} s")
        if not success:
            for line in lines:
                say(dim(f"      | {line[:220]}"))
            raise DemoFailure(f"the cleanup failed the whole batch: {describe(body)}")
        self.report(lines)
        keep = [m for m in messages if m["MessageId"] not in failed]
        if keep:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(keep)
            ])
        say(f"      event source mapping: deleted {len(keep)} message(s) from the queue"
            + (f", left {len(failed)} to come back after {QUEUE_VISIBILITY_SECONDS} s" if failed else ""))
        return len(messages)

    def report(self, lines: list[str]) -> None:
        for line in lines:
            say(dim(f"      | {line[:240]}"))
        for line in lines:
            f = log_fields(line)
            t = self.life.clients.get(f.get("client_id", ""))
            who = f"{t.title}" if t else f"client {f.get('client_id', '?')}"
            if "drained client deleted" in line or "drained client already gone" in line:
                gone = "deleted" if "deleted" in line else "already gone"
                say(ok(f"      {who}: {gone}"))
                if t:
                    t.outcome = gone
                    t.event(f"{gone}: the cleanup took its message from the drain queue "
                            f"(receive #{f.get('receives', '1')})" if gone == "deleted" else gone)
                    me = self.life.check_kept_token(t) if t.token else 0
                    status, _, desc = request_token(self.life.base, t.client_id, t.secret)
                    t.event(f"kept token -> tokens/me {me}; new token -> {status} {desc}")
                    say(f"        its kept token -> tokens/me {me}; a new token -> {status} {desc}")
            elif "not due yet" in line:
                say(f"      {who}: not due yet, re-sent with DelaySeconds {f.get('delay_s', '?')}")
            elif "delete refused" in line:
                reason = f.get("reason", "?")
                say(bad(f"      {who}: delete REFUSED: {reason}"))
                if t:
                    t.outcome = f"refused: {reason}"
                    t.event(f"the cleanup refused to delete it: {reason}")
                    if not t.managed:
                        say(f"        -> {t.name} is not a managed client: it stays inactive; an operator "
                            "deletes it by hand now that its drain has passed")
            elif "cleanup failed" in line:
                say(bad(f"      {who}: failed ({f.get('error', '?')}); the message comes back"))
            elif "malformed drain message" in line:
                say(bad(f"      message {f.get('message_id', '?')}: malformed ({f.get('error', '?')})"))


def print_status(life: Life, watched: Tracked | None) -> None:
    now = utc_now()
    parts = []
    for t in life.draining():
        left = (t.due - now).total_seconds()
        parts.append(f"{t.label} {mmss(left)}" if left > 0 else f"{t.label} due")
    line = f"   {hms(now)}  draining, time left: " + ", ".join(parts)
    if watched is not None and watched.draining and watched.token_expired_at is None:
        me = life.check_kept_token(watched)
        if me == 200:
            line += f"  |  {watched.label}'s kept token: tokens/me {me}"
    say(line)


def run_schedule(port: int, watch: Proc, logs: LogFollower, first: bool) -> dict:
    """The cleanup as its EventBridge schedule invokes it: reconciliation of the served (tagged) secrets."""
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": AWS_REGION,
        "resources": [],
        "detail": {},
    }
    if first:
        say(dim("   (first invoke of cleanup: cargo lambda builds and starts it)"))
    success, body, elapsed = invoke(port, event, FIRST_INVOKE_TIMEOUT if first else INVOKE_TIMEOUT, watch,
                                    CLEANUP_NAME)
    for line in logs.new_lines():
        say(dim(f"      | {line[:220]}"))
    if not success or not isinstance(body, dict):
        raise DemoFailure(f"the scheduled cleanup failed: {describe(body)}")
    say(f"   report ({elapsed:.2f} s): examined {body.get('examined')} clients, managed {body.get('managed')}, "
        f"deleted {len(body.get('deleted') or [])}, would delete {len(body.get('wouldDelete') or [])}, "
        f"kept referenced {body.get('keptReferenced')}, kept young {body.get('keptYoung')}, "
        f"errors {len(body.get('errors') or [])}")
    say(dim("   (young = unreferenced but within RECONCILE_HORIZON_SECONDS; the drain queue deletes those)"))
    return body


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def print_inventory(clients: list[dict], life: Life, master_id: str) -> None:
    roles = {t.client_id: t.label for t in life.clients.values()}
    roles[master_id] = "master"
    rows = [(roles.get(c.get("id", ""), "?"), c.get("id", ""), c.get("name", ""), str(c.get("state", "")),
             c.get("dateCreated", "")) for c in clients]
    present = {c.get("id") for c in clients}
    for t in life.clients.values():
        if t.client_id not in present:
            when = next((hms(at) for at, text in t.events if text.startswith(("deleted", "already gone"))), "?")
            rows.append((t.label, t.client_id, t.name, f"deleted {when} UTC", ""))
    header = ("client", "id", "name", "state", "created")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "   " + "  ".join(f"{{:<{w}}}" for w in widths)
    say(fmt.format(*header))
    say(fmt.format(*("-" * w for w in widths)))
    for row in rows:
        say(fmt.format(*row))
def print_calls(calls) -> None:
    if isinstance(calls, dict) and isinstance(calls.get("calls"), list):
        calls = calls["calls"]
    if isinstance(calls, list):  # a call log: count by route and status
        counts = collections.Counter(
            f"{c.get('route', '?')}  -> {c.get('status') if c.get('status') is not None else 'dropped'}"
            for c in calls
        )
    elif isinstance(calls, dict):
        counts = collections.Counter({str(k): v for k, v in calls.items()})
    else:
        say(f"   (unexpected answer: {calls!r})")
        return
    width = max((len(k) for k in counts), default=0)
    for route, count in sorted(counts.items()):
        say(f"   {route:<{width}}  {count:>4}")


def print_queue(sqs, queue_url: str) -> None:
    labels = {
        "ApproximateNumberOfMessages": "visible",
        "ApproximateNumberOfMessagesNotVisible": "in flight",
        "ApproximateNumberOfMessagesDelayed": "delayed",
    }
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(labels))["Attributes"]
    say(f"   {queue_url}")
    say("   messages: " + ", ".join(f"{label} {attrs.get(name, '?')}" for name, label in labels.items()))


def queue_counts(sqs, queue_url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
    ])["Attributes"]
    return sum(int(v) for v in attrs.values())


def print_life(t: Tracked) -> None:
    heading(f"the life of client {t.label}: {t.name} ({t.client_id})")
    for at, text in t.events:
        say(f"   {hms(at)}  {text}")


def final_checks(sm, arn: str, life: Life, master_id: str, sqs, queue_url: str, dlq_url: str,
                 schedule_report: dict, esm: EventSourceMapping) -> list[str]:
    version, client_id = current_client_id(sm, arn)
    clients = inventory(life.base)
    by_id = {c.get("id"): c for c in clients}
    deleted_ids = set(admin(life.base, "GET", "deleted") or [])
    heading("Genesys emulator: client inventory")
    print_inventory(clients, life, master_id)
    heading("Genesys emulator: API calls (the functions' and the demo consumer's)")
    print_calls(admin(life.base, "GET", "calls"))
    heading("drain queue and its DLQ")
    print_queue(sqs, queue_url)
    print_queue(sqs, dlq_url)
    say(f"   cleanup invocations from the queue: {esm.invocations}")
    heading("checks")
    current = by_id.get(client_id)
    expected_name = f"{NAME_PREFIX}{version}"
    legacy = next(t for t in life.clients.values() if not t.managed)
    retired_managed = [t for t in life.clients.values() if t.managed and t.client_id != client_id]
    deleted_by_cleanup = [t for t in retired_managed
                          if t.outcome == "deleted" and t.client_id in deleted_ids and t.client_id not in by_id]
    first = retired_managed[0] if retired_managed else None
    checks = [
        (current is not None and str(current.get("state", "")).lower() == "active",
         f"the AWSCURRENT client {client_id} exists and is active"),
        (current is not None and current.get("name") == expected_name, f"it is named {expected_name}"),
        (not any("AWSPENDING" in s for s in stages(sm, arn).values()), "no AWSPENDING label is left"),
        (str(by_id.get(master_id, {}).get("state", "")).lower() == "active", "the master client is untouched"),
        (len(deleted_by_cleanup) == len(retired_managed) >= 2,
         f"every rotated-out managed client was deleted by the cleanup "
         f"({len(deleted_by_cleanup)} of {len(retired_managed)}: "
         f"{', '.join(t.label for t in deleted_by_cleanup) or 'none'})"),
        (legacy.client_id in by_id and str(by_id[legacy.client_id].get("state", "")).lower() == "inactive"
         and (legacy.outcome or "").startswith("refused"),
         f"the legacy client {legacy.name} is inactive, not deleted (refused: not managed; an operator deletes it)"),
        (first is not None and first.token_ok_while_draining,
         f"{first.label if first else '#1'}'s kept token worked (tokens/me 200) while the client drained"),
        (first is not None and first.new_token_refused_while_draining,
         f"{first.label if first else '#1'} could mint no new token once inactive"),
        (all(t.token and tokens_me(life.base, t.token)[0] == 401 for t in deleted_by_cleanup),
         "every kept token of a deleted client now gets 401"),
        (not schedule_report.get("deleted") and not schedule_report.get("errors"),
         "the scheduled reconciliation deleted nothing and reported no error"),
        (queue_counts(sqs, queue_url) == 0, "the drain queue is empty (every drain has passed)"),
        (queue_counts(sqs, dlq_url) == 0, "the DLQ is empty"),
    ]
    problems = []
    for good, text in checks:
        say(f"   {ok('ok  ') if good else bad('FAIL')} {text}")
        if not good:
            problems.append(text)
    return problems


# ---------------------------------------------------------------------------------------------


def main() -> int:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("moto.log", "emulator.log", "cargo-lambda.log"):
        (RUN_DIR / name).unlink(missing_ok=True)
    procs: list[Proc] = []
    watch: Proc | None = None
    failure: str | None = None
    started = time.monotonic()
    deleted_count = 0
    try:
        heading("starting services")
        moto, moto_url = start_moto()
        procs.append(moto)
        say(f"   moto_server        {moto_url}  (pid {moto.pid})")
        emulator, emulator_url = start_emulator()
        procs.append(emulator)
        say(f"   genesys-emulator   {emulator_url}  (pid {emulator.pid})")

        heading("seeding")
        master, legacy = seed_emulator(emulator_url)
        say(f"   role {ROLE_ID}: conversation:communication:view")
        say(f"   master client      genesys-rotator-master  {master['id']}  ({', '.join(MASTER_PERMISSIONS)})")
        say(f"   legacy client      crm-legacy-integration  {legacy['id']}  (hand-made, tokens live "
            f"{TOKEN_LIFETIME_SECONDS} s)")
        sm = aws_client("secretsmanager", moto_url)
        master_arn = sm.create_secret(Name=MASTER_SECRET_NAME, SecretString=json.dumps({
            "clientId": master["id"], "clientSecret": master["secret"], "region": REGION_DOMAIN,
        }))["ARN"]
        arn = sm.create_secret(Name=INTEGRATION_SECRET_NAME, SecretString=json.dumps({
            "clientId": legacy["id"],
            "clientSecret": legacy["secret"],
            "region": REGION_DOMAIN,
            "masterSecretArn": master_arn,
            "namePrefix": NAME_PREFIX,
            "roleDivisions": [{"roleId": ROLE_ID, "divisionId": "*"}],
            "tokenLifetimeSeconds": TOKEN_LIFETIME_SECONDS,
        }), Tags=[{"Key": "genesys-rotator", "Value": "integration"}])["ARN"]
        say(f"   secret {master_arn}")
        say(f"   secret {arn}  (tokenLifetimeSeconds {TOKEN_LIFETIME_SECONDS}, Genesys's minimum)")
        sqs = aws_client("sqs", moto_url)
        dlq_url = sqs.create_queue(QueueName=DLQ_NAME, Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(QueueName=DRAIN_QUEUE_NAME, Attributes={
            "VisibilityTimeout": str(QUEUE_VISIBILITY_SECONDS),
            "MessageRetentionPeriod": "345600",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
        })["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        say(f"   drain queue {queue_url}  (visibility {QUEUE_VISIBILITY_SECONDS} s, "
            f"DLQ {DLQ_NAME} after {MAX_RECEIVE_COUNT} receives)")
        lambda_arn = register_stub_lambda(moto_url)
        say(f"   stub Lambda in moto for RotateSecret: {lambda_arn}")

        heading("starting the rotation and cleanup functions under one cargo lambda watch")
        function_env = {
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_REGION": AWS_REGION,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "ALLOWED_MASTER_SECRET_ARNS": master_arn,
            "GENESYS_ENDPOINT_OVERRIDES": f"{REGION_DOMAIN}={emulator_url}",
            "DRAIN_QUEUE_URL": queue_url,
            "DRAIN_MARGIN_SECONDS": str(DRAIN_MARGIN_SECONDS),
            "RUST_LOG": "info",
        }
        watch, port = start_cargo_lambda(function_env)
        procs.append(watch)
        say(f"   cargo lambda watch http://127.0.0.1:{port}  (pid {watch.pid}, log {watch.log_path})")
        say(f"   functions: /2015-03-31/functions/{FUNCTION_NAME}/invocations, "
            f"/2015-03-31/functions/{CLEANUP_NAME}/invocations")
        say(f"   drain = token lifetime {TOKEN_LIFETIME_SECONDS} s + DRAIN_MARGIN_SECONDS {DRAIN_MARGIN_SECONDS} = "
            f"{DRAIN_SECONDS} s: a shorter drain would cut off tokens still in use")
        logs = LogFollower(watch.log_path)
        logs.offset = 0  # show what the watcher said while starting, too

        life = Life(emulator_url)
        heading("before the first rotation")
        life.adopt_current(sm, arn, "legacy")
        first = [True]
        for n in range(1, ROTATIONS + 1):
            old = life.current
            _, lines = rotate_once(n, sm, arn, lambda_arn, watch, port, logs, first,
                                   on_first_invoke=lambda: verify_function_env(watch, function_env))
            finished_at = utc_now()
            current = life.adopt_current(sm, arn, f"#{n}", rotation=n)
            life.retired(old, n, lines, finished_at)
            if n < ROTATIONS:
                say(dim(f"   ({current.label} is the current client for {ROTATION_INTERVAL_SECONDS} s)"))
                time.sleep(ROTATION_INTERVAL_SECONDS)
                me, who = tokens_me(emulator_url, current.token)
                current.event(f"in use: consumer's token -> tokens/me {me}")
                say(f"   consumer, {ROTATION_INTERVAL_SECONDS} s later: tokens/me -> {me} {who}")

        heading("reconciliation: the cleanup invoked by its EventBridge schedule")
        schedule_report = run_schedule(port, watch, logs, first=True)
        verify_function_env(watch, function_env, CLEANUP_NAME)

        heading("draining: this script plays the cleanup's SQS trigger (ReportBatchItemFailures)")
        say(f"   every retired client is due {DRAIN_SECONDS} s after its rotation; its message was sent with "
            f"DelaySeconds {min(DRAIN_SECONDS, 900)}, so it arrives due (drains over 900 s hop: the cleanup "
            "re-sends them)")
        watched = next((t for t in life.clients.values() if t.managed and t.draining), None)
        esm = EventSourceMapping(sqs, queue_url, queue_arn, port, watch, logs, life)
        last_due = max(t.due for t in life.draining())
        next_status = time.monotonic()
        while life.draining():
            if utc_now() > last_due + timedelta(seconds=DRAIN_GRACE_SECONDS):
                raise DemoFailure("still draining long after the last due time: "
                                  + ", ".join(t.title for t in life.draining()))
            if time.monotonic() >= next_status:
                print_status(life, watched)
                next_status = time.monotonic() + STATUS_EVERY_SECONDS
            esm.poll_once()
            # Near the kept token's end of life, look every poll to catch the moment it stops.
            if (watched is not None and watched.draining and watched.token_expired_at is None
                    and watched.token_expires and utc_now() >= watched.token_expires - timedelta(seconds=3)):
                life.check_kept_token(watched)
        # Anything the cleanup re-sent or a duplicate: one more short poll.
        esm.poll_once(wait=1)
        deleted_count = sum(1 for t in life.clients.values() if t.outcome == "deleted")

        if watched is not None:
            print_life(watched)
        problems = final_checks(sm, arn, life, master["id"], sqs, queue_url, dlq_url, schedule_report, esm)
        if problems:
            failure = "final checks failed: " + "; ".join(problems)
    except KeyboardInterrupt:
        failure = "interrupted"
    except DemoFailure as e:
        failure = str(e)
    except Exception as e:  # boto3, requests...: report, then stop everything
        failure = f"{type(e).__name__}: {e}"
    finally:
        # A second Ctrl-C (or a SIGTERM) must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        watch_log = RUN_DIR / "cargo-lambda.log"
        if failure and watch_log.exists():
            heading(f"last lines of {watch_log}")
            say(tail(watch_log))
        heading("stopping")
        for proc in reversed(procs):
            try:
                proc.stop()
                say(f"   stopped {proc.name} (pid {proc.pid})")
            except Exception as e:  # keep stopping the others
                say(bad(f"   could not stop {proc.name} (pid {proc.pid}): {e}"))
    say()
    elapsed = time.monotonic() - started
    if failure:
        say(bad(f"DEMO FAILED after {elapsed:.0f} s: {failure}"))
        say(f"logs: {RUN_DIR}")
        return 130 if failure == "interrupted" else 1
    say(ok(f"DEMO OK in {elapsed:.0f} s: {ROTATIONS} rotations, {deleted_count} drained clients deleted by the cleanup"))
    return 0


def _terminate(signum, _frame):
    # SIGTERM/SIGHUP: unwind through main's finally, which stops every child.
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    sys.exit(main())
