#!/usr/bin/env python3
"""Demo: a Genesys Cloud OAuth client rotated three times by the real `rotation` binary.

Everything runs on 127.0.0.1 with ports chosen at run time:
  * moto_server plays AWS Secrets Manager (and a stub Lambda, see below);
  * target/debug/genesys-emulator plays Genesys Cloud (regions are redirected to it);
  * `cargo lambda watch` emulates the Lambda Runtime API and runs handlers/rotation;
  * this script plays Secrets Manager's rotation service: it starts each rotation with
    RotateSecret and invokes the function with the four steps, as Secrets Manager does.

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
import zipfile
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
STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]
ROTATIONS = 3

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
        "accessTokenValiditySeconds": 86400,
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
        "--package", "rotation",
        "--bin", FUNCTION_NAME,
        "--ignore-changes",  # others may be editing the workspace: don't rebuild mid-demo
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


def verify_function_env(watch: Proc, expected: dict[str, str]) -> None:
    """Reads the environment of the running `rotation` process (a descendant of the watcher)."""
    for pid in descendants(watch.pid):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if Path(exe).name != FUNCTION_NAME:
            continue
        try:
            raw = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        env = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
        wrong = [k for k, v in expected.items() if env.get(k) != v]
        if wrong:
            raise DemoFailure(f"the function (pid {pid}) did not get the right value for: {', '.join(wrong)}")
        say(ok(f"   function environment checked (pid {pid}): {', '.join(expected)}"))
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


def invoke(port: int, event: dict, timeout: float, watch: Proc) -> tuple[bool, object, float]:
    """POSTs one event to the function, as the Lambda Invoke API. Gives up early when the
    watcher says the function's command ended (a failed build or a crash): the invoke would
    otherwise hang until `timeout`."""
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/{FUNCTION_NAME}/invocations"
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
                first_invoke: list[bool], on_first_invoke) -> str:
    heading(f"rotation {n} of {ROTATIONS}")
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=lambda_arn, RotationRules={"AutomaticallyAfterDays": 7})
    pending = [v for v, s in stages(sm, arn).items() if "AWSPENDING" in s and "AWSCURRENT" not in s]
    if len(pending) != 1:
        raise DemoFailure(f"RotateSecret left {len(pending)} AWSPENDING-only versions: {stages(sm, arn)}")
    token = pending[0]
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
    return token


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def print_inventory(clients: list[dict]) -> None:
    rows = [(c.get("id", ""), c.get("name", ""), str(c.get("state", "")), c.get("dateCreated", ""))
            for c in clients]
    header = ("id", "name", "state", "created")
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


def final_checks(sm, arn: str, emulator_url: str, sqs, queue_url: str) -> list[str]:
    problems = []
    version, client_id = current_client_id(sm, arn)
    clients = admin(emulator_url, "GET", "clients")
    if isinstance(clients, dict):
        clients = clients.get("clients") or clients.get("entities") or []
    heading("Genesys emulator: client inventory")
    print_inventory(clients)
    heading("Genesys emulator: API calls")
    print_calls(admin(emulator_url, "GET", "calls"))
    heading("drain queue (old clients waiting for deletion by the cleanup function)")
    print_queue(sqs, queue_url)
    heading("checks")
    match = [c for c in clients if c.get("id") == client_id]
    expected_name = f"{NAME_PREFIX}{version}"
    checks = [
        (bool(match), f"the AWSCURRENT clientId {client_id} exists in the emulator"),
        (bool(match) and str(match[0].get("state", "")).lower() == "active", "it is active"),
        (bool(match) and match[0].get("name") == expected_name, f"it is named {expected_name}"),
        (not any("AWSPENDING" in s for s in stages(sm, arn).values()), "no AWSPENDING label is left"),
    ]
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
        say(f"   legacy client      crm-legacy-integration  {legacy['id']}")
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
            "tokenLifetimeSeconds": 86400,
        }))["ARN"]
        say(f"   secret {master_arn}")
        say(f"   secret {arn}")
        queue_url = aws_client("sqs", moto_url).create_queue(
            QueueName=DRAIN_QUEUE_NAME, Attributes={"VisibilityTimeout": "900"}
        )["QueueUrl"]
        say(f"   drain queue {queue_url}")
        lambda_arn = register_stub_lambda(moto_url)
        say(f"   stub Lambda in moto for RotateSecret: {lambda_arn}")

        heading("starting the rotation function under cargo lambda watch")
        function_env = {
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_REGION": AWS_REGION,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "ALLOWED_MASTER_SECRET_ARNS": master_arn,
            "GENESYS_ENDPOINT_OVERRIDES": f"{REGION_DOMAIN}={emulator_url}",
            "DRAIN_QUEUE_URL": queue_url,
            "RUST_LOG": "info",
        }
        watch, port = start_cargo_lambda(function_env)
        procs.append(watch)
        say(f"   cargo lambda watch http://127.0.0.1:{port}  (pid {watch.pid}, log {watch.log_path})")
        logs = LogFollower(watch.log_path)
        logs.offset = 0  # show what the watcher said while starting, too

        first = [True]
        for n in range(1, ROTATIONS + 1):
            rotate_once(n, sm, arn, lambda_arn, watch, port, logs, first,
                        on_first_invoke=lambda: verify_function_env(watch, function_env))

        problems = final_checks(sm, arn, emulator_url, aws_client("sqs", moto_url), queue_url)
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
    say(ok(f"DEMO OK: {ROTATIONS} rotations in {elapsed:.0f} s"))
    return 0


def _terminate(signum, _frame):
    # SIGTERM/SIGHUP: unwind through main's finally, which stops every child.
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    sys.exit(main())
