#!/usr/bin/env python3
"""`make bench`, the Lambdas: what the real release binaries cost, measured on loopback.

Runs, side by side in one run (`make bench` runs it after `make package`):
  * **cold start and per-step latency**: the `rotation` and `cleanup` binaries as `make bench`
    zipped them into $BENCH_LAMBDA_DIR: built like `make package`'s release zips, plus the
    endpoint overrides that send them to the emulator, which release zips refuse (x86_64;
    `bootstrap` taken out of the zip), are started as processes
    with `AWS_LAMBDA_RUNTIME_API` pointing at a minimal Runtime API served here. Cold start is the
    time from spawn to the function's first `GET .../invocation/next`; each rotation step is the
    time from handing the event out to its answer. moto_server plays Secrets Manager and SQS and
    the Genesys emulator (release build) plays Genesys Cloud, both on 127.0.0.1.
  * **peak RSS** of each process over its whole life (`VmHWM` in /proc/PID/status, read just
    before it is stopped), and the size
    of each release zip `make package` built (without the overrides) per architecture.
  * **HTTP calls per rotation**: the emulator's call log and moto's request recorder
    (`/moto-api/recorder/`), against the minimum the design needs, with why each extra call is
    made.
  * **480 orphans at 300 requests per minute**: the `cleanup` binary's scheduled reconciliation
    against an emulator that rate-limits each token, total time against the limit's floor and
    the 429 answers the Genesys client met. The client paces itself (GENESYS_REQUESTS_PER_MINUTE,
    default 300): a run that meets any 429, or takes more than 10% over the floor, fails the
    bench. `BENCH_ONLY=orphans` (`make bench-orphans`) runs this part alone.
  * **the served-secret sweep**: N = 1, 10, 100, 1000 (BENCH_SERVED) tagged secrets in one
    account and one org; per rotation the Secrets Manager calls by operation (counted at a proxy
    in front of moto that also answers BatchGetSecretValue as AWS does), the Genesys calls and
    finishSecret's time; per due drain message and per scheduled pass of the cleanup function
    the same. `BENCH_ONLY=served` (`make bench-served`) runs this part alone.
  * **the Python baseline** (benches/python_baseline/rotation.py, boto3 + requests) doing the
    same rotation under the same Runtime API, for the cold-start and memory ratios.

`BENCH_ONLY=rotations` runs only the per-rotation part (cold start, RSS, step latency, calls per
rotation, the baseline). Each rotation run starts a fresh process (a cold start) and rotates a secret that has been
rotated before (so it has an AWSPREVIOUS, as in steady state); one warm-up run per function is
not counted. The Rust functions are set up as the template deploys them (ROTATION_FUNCTION_NAME
names the rotation function) and serve at least one other secret, so the retirement guard reads
another holder. The drain message the cleanup is handed is the one the rotation sent (rebuilt:
the queued copy stays invisible for its delay), as it is once its drain has passed: the functions
run with a drain of 360 s (DRAIN_MARGIN_SECONDS=60 over the 300 s token lifetime), and the
retired client's deactivation date is set a drain back in the emulator
(`POST /__admin/clients/{id}/dates`) instead of waiting; the bench fails unless the cleanup then
deletes the client. Figures are medians of BENCH_RUNS runs (default 10) and, for
the orphans, BENCH_ORPHAN_RUNS runs (default 3) run at the same time, each against its own
emulator.

Prints tables. It fails (exit 1) if a rotation, a due drain message or a reconciliation does not
do its job, since a figure from a broken run would mean nothing, and if the paced reconciliation
meets a 429 or misses the floor by more than 10% (the pacing's promise); it asserts nothing else
about speed.
Secrets are never printed; moto's recording (which holds request bodies) is wiped after each
read and deleted at the end.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import requests
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "demo"))
import demo  # noqa: E402  (its process handling and moto set-up are reused as they are)
from demo import DemoFailure, Proc, register_stub_lambda  # noqa: E402

RUN_DIR = ROOT / ".run" / "bench"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
EMULATOR_BIN = Path(os.environ.get("BENCH_EMULATOR_BIN", ROOT / "target" / "release" / "genesys-emulator"))
# The release zips (`make package`): only their sizes are reported.
LAMBDA_DIR = ROOT / "target" / "lambda"
# The zips that are run: the same release build with the endpoint overrides (`make bench`).
BENCH_LAMBDA_DIR = ROOT / os.environ.get("BENCH_LAMBDA_DIR", "target/lambda-bench")
ARCHES = ["x86_64", "arm64"]
FUNCTIONS = ["rotation", "cleanup"]
BASELINE = ROOT / "benches" / "python_baseline" / "rotation.py"

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
ORPHAN_RUNS = int(os.environ.get("BENCH_ORPHAN_RUNS", "3"))
ORPHANS = int(os.environ.get("BENCH_ORPHANS", "480"))
RATE_LIMIT_PER_MINUTE = 300
# How far over the floor (requests / rate) the paced reconciliation may take.
FLOOR_TOLERANCE = 0.10
# `orphans`: only the 480-orphan reconciliation (make bench-orphans); `served`: only the
# served-secret sweep (make bench-served); `rotations`: only the per-rotation part (cold start,
# step latency, calls per rotation, against the Python baseline).
ONLY = os.environ.get("BENCH_ONLY", "")
# The served-secret sweep's sizes: tagged secrets in one account and one org.
SERVED_SIZES = [int(n) for n in os.environ.get("BENCH_SERVED", "1,10,100,1000").split(",")]

REGION_DOMAIN = "mypurecloud.ie"
AWS_REGION = "us-east-1"
ROLE_ID = "bench-role"
NAME_PREFIX = "bench-rot-"
STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]
# The driver's own AWS calls carry this in their User-Agent, so moto's recording tells them
# from the function's.
DRIVER_AGENT = "genesys-rotator-bench-driver"
INVOKE_TIMEOUT = 120
# The 480-orphan pass takes a few minutes by design (the rate limit); Lambda's own ceiling.
RECONCILE_TIMEOUT = 900
# The bench's secrets and clients: tokens live 300 s (Genesys' shortest lifetime).
TOKEN_LIFETIME_S = 300
# DRAIN_MARGIN_SECONDS of the functions here: a drain of TOKEN_LIFETIME_S + 60 s, so the drain
# message the bench hands the cleanup can be really due (its client deactivated a drain ago, the
# date the emulator is told) instead of refused as too early.
DRAIN_MARGIN_S = 60
DRAIN_S = TOKEN_LIFETIME_S + DRAIN_MARGIN_S

# The calls one rotation needs, by this design, when one warm process runs the four steps (as
# here and as Lambda usually does), and why. Everything above these is listed as extra, with
# the reason from EXTRA_WHY.
DESIGN_MINIMUM = {
    "POST /oauth/token": (2, "the master's token once, the new client's once (testSecret)"),
    "GET /api/v2/oauth/clients": (1, "createSecret: reconciliation and the lost-client check (the emulator answers "
                                     "one page; a paged answer costs one call per page)"),
    "POST /api/v2/oauth/clients": (1, "createSecret makes the new client"),
    "GET /api/v2/oauth/clients/{id}": (2, "setSecret confirms the new client; the old one's full body for its PUT"),
    "PUT /api/v2/oauth/clients/{id}": (1, "finishSecret deactivates the old client"),
    "GET /api/v2/tokens/me": (1, "testSecret proves the new credential"),
    "secretsmanager.DescribeSecret": (4, "the template's guard before each step"),
    "secretsmanager.GetSecretValue": (9, "create: AWSCURRENT, the token's AWSPENDING (retry), AWSPREVIOUS "
                                         "(reconciliation spares what any stage holds), master; set, test: "
                                         "AWSPENDING; finish: the old AWSCURRENT (the client to retire), and the "
                                         "retirement guard's reads of the master's AWSCURRENT and AWSPENDING (never "
                                         "retire a master)"),
    "secretsmanager.ListSecretVersionIds": (1, "createSecret: the ownership rule checks a client's name against "
                                               "every version of the secret, deprecated ones included"),
    "secretsmanager.ListSecrets": (1, "finishSecret: the retirement guard finds the other served secrets by their "
                                      "tag (never retire a client another secret holds)"),
    "secretsmanager.BatchGetSecretValue": (1, "finishSecret: the retirement guard reads the other served secrets' "
                                              "AWSCURRENT, 20 to a call (one call while the account serves at most "
                                              "21 secrets)"),
    "secretsmanager.PutSecretValue": (1, "createSecret stores AWSPENDING"),
    "secretsmanager.UpdateSecretVersionStage": (1, "finishSecret moves AWSCURRENT"),
    "AmazonSQS.SendMessage": (1, "finishSecret queues the old client's deletion"),
}
EXTRA_WHY = {
    "secretsmanager.DescribeSecret": "finishSecret describes again after the move: retiring the old client is the "
                                     "same code a retried finishSecret runs, and it reads the labels as they are now",
    "secretsmanager.GetSecretValue": "the master secret is re-read in setSecret and finishSecret (its client is "
                                     "cached by master version, so a rotated master is picked up at once); "
                                     "testSecret reads AWSCURRENT (to tell a testSecret run alone by "
                                     "--no-rotate-immediately from a real one); finishSecret reads AWSPENDING "
                                     "before promoting it and re-reads AWSCURRENT to never retire what it holds "
                                     "(the retirement guard would add one read per other served secret whose "
                                     "listing shows a rotation pending, its AWSPENDING; the peer here shows none)",
    "POST /oauth/token": "a token per step that calls Genesys (the baseline caches nothing)",
    "GET /api/v2/oauth/clients/{id}": "createSecret reads the current client to carry its definition (roles, "
                                      "token lifetime, other fields) to the new one",
}


def say(text: str = "") -> None:
    print(text, flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------------------------------------
# A minimal Lambda Runtime API: one per function process
# ---------------------------------------------------------------------------------------------


class RuntimeApi:
    """Serves `GET /2018-06-01/runtime/invocation/next` (blocks until an event is queued), the
    `.../response` and `.../error` posts and `.../init/error`, on 127.0.0.1 with a free port.
    Records when the function first polled and when each event was handed out and answered."""

    PREFIX = "/2018-06-01/runtime"

    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.first_poll = threading.Event()
        self.first_poll_at: float | None = None
        self.handed_at: dict[str, float] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the runtimes keep their connection open
            # The headers and the body go out as two writes: with Nagle's algorithm the body
            # waits for the client's delayed ACK (about 40 ms) on a kept-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, *_args) -> None:
                pass

            def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{api.PREFIX}/invocation/next":
                    return self.reply(404, b"{}")
                if api.first_poll_at is None:
                    api.first_poll_at = time.monotonic()
                    api.first_poll.set()
                item = api.events.get()
                if item is None:  # shutting down: the process is about to be stopped
                    return self.reply(500, b"{}")
                request_id, event = item
                deadline_ms = int((time.time() + RECONCILE_TIMEOUT) * 1000)
                api.handed_at[request_id] = time.monotonic()
                self.reply(200, json.dumps(event).encode(), {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        f"arn:aws:lambda:{AWS_REGION}:123456789012:function:bench",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                })

            def do_POST(self) -> None:
                now = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path[len(api.PREFIX):].strip("/").split("/")
                if parts == ["init", "error"]:
                    api.results.put(("init", "error", body, now))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    api.results.put((parts[1], parts[2], body, now))
                else:
                    return self.reply(404, b"{}")
                self.reply(202, b'{"status":"OK"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A poll still open when its process is killed fails to answer: expected, not reported.
        self.server.handle_error = lambda *_args: None
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: dict, timeout: float) -> tuple[bool, object, float]:
        """Hands `event` to the function; answers (success, body, seconds from hand-out to
        answer)."""
        request_id = str(uuid.uuid4())
        self.events.put((request_id, event))
        try:
            rid, kind, body, at = self.results.get(timeout=timeout)
        except queue.Empty:
            raise DemoFailure(f"no answer to {event.get('Step', 'the event')} in {timeout:.0f} s") from None
        if rid == "init":
            raise DemoFailure(f"the function failed to start: {body[:300]!r}")
        if rid != request_id:
            raise DemoFailure(f"answer for an unknown request {rid}")
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode(errors="replace")
        return kind == "response", parsed, at - self.handed_at[request_id]

    def close(self) -> None:
        self.events.put(None)
        self.server.shutdown()
        self.server.server_close()


class Function:
    """One function process under its own Runtime API. `cold_start` is the time from spawn to
    its first poll; `stop()` answers its peak RSS in bytes (VmHWM)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path):
        self.name = name
        self.api = RuntimeApi()
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "AWS_REGION": AWS_REGION,
            "AWS_DEFAULT_REGION": AWS_REGION,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_EC2_METADATA_DISABLED": "true",
            **env,
        }
        self.log = open(log, "ab", buffering=0)
        started = time.monotonic()
        self.process = subprocess.Popen(argv, env=full_env, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.api.first_poll.wait(0.05):
            if self.process.poll() is not None:
                raise DemoFailure(f"{name} exited with status {self.process.returncode} before polling (log: {log})")
            if time.monotonic() > deadline:
                raise DemoFailure(f"{name} did not poll the Runtime API in 60 s (log: {log})")
        self.cold_start = self.api.first_poll_at - started

    def invoke(self, event: dict, timeout: float = INVOKE_TIMEOUT) -> tuple[bool, object, float]:
        return self.api.invoke(event, timeout)

    def stop(self) -> int:
        # VmHWM, read while the process lives: wait4's ru_maxrss would also count the pages the
        # child shared with this (larger) Python process between fork and exec.
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except OSError:
            pass
        self.process.wait()
        self.api.close()
        self.log.close()
        return hwm * 1024  # reported in kB


# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------


def aws(service: str, moto_url: str):
    return boto3.client(service, endpoint_url=moto_url, region_name=AWS_REGION, aws_access_key_id="test",
                        aws_secret_access_key="test", config=Config(user_agent_extra=DRIVER_AGENT))


def start_emulator(label: str, rate_limit: int | None = None) -> tuple[Proc, str]:
    if not EMULATOR_BIN.exists():
        raise DemoFailure(f"{EMULATOR_BIN} not found: `make bench` builds it")
    argv = [str(EMULATOR_BIN), "--listen", "127.0.0.1:0"]
    if rate_limit:
        argv += ["--rate-limit-per-minute", str(rate_limit)]
    proc = Proc(f"emulator {label}", argv, RUN_DIR / f"emulator-{label}.log", capture_stdout=True,
                env={**os.environ, "RUST_LOG": "warn"})
    m = proc.wait_for_line(r"listening on (http://127\.0\.0\.1:\d+)", timeout=30)
    return proc, m.group(1)


class Org:
    """One emulated org with its master secret, in one emulator."""

    def __init__(self, emulator_url: str, sm, label: str):
        self.url = emulator_url
        demo.admin(emulator_url, "POST", "roles", {"roleId": ROLE_ID, "permissions": ["analytics:*:view"]})
        master = demo.admin(emulator_url, "POST", "clients", {
            "name": f"bench-master-{label}", "state": "active", "accessTokenValiditySeconds": 86400,
            "permissions": ["oauth:client:add", "oauth:client:edit", "oauth:client:delete", "oauth:client:view"],
        })
        self.master_arn = sm.create_secret(Name=f"bench/master-{label}", SecretString=json.dumps({
            "clientId": master["id"], "clientSecret": master["secret"], "region": REGION_DOMAIN,
        }))["ARN"]

    def integration_secret(self, sm, label: str, prefix: str = NAME_PREFIX) -> str:
        legacy = demo.admin(self.url, "POST", "clients", {
            "name": f"legacy-{label}", "permissions": ["analytics:*:view"], "state": "active",
            "roleDivisions": [{"roleId": ROLE_ID, "divisionId": "*"}], "accessTokenValiditySeconds": TOKEN_LIFETIME_S,
        })
        return sm.create_secret(Name=f"bench/integration-{label}", SecretString=json.dumps({
            "clientId": legacy["id"], "clientSecret": legacy["secret"], "region": REGION_DOMAIN,
            "masterSecretArn": self.master_arn, "namePrefix": prefix,
            "roleDivisions": [{"roleId": ROLE_ID, "divisionId": "*"}], "tokenLifetimeSeconds": TOKEN_LIFETIME_S,
        }), Tags=[{"Key": "genesys-rotator", "Value": "integration"}])["ARN"]


def serve_without_rotating(sm, arn: str, function_arn: str) -> None:
    """Names `function_arn` as the secret's rotation function without rotating it now, as a
    served secret between rotations is."""
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=function_arn, RotationRules={"AutomaticallyAfterDays": 7},
                     RotateImmediately=False)
    # moto labels a new version AWSPENDING even without rotating now; AWS does not.
    for version, labels in sm.describe_secret(SecretId=arn)["VersionIdsToStages"].items():
        if "AWSPENDING" in labels and "AWSCURRENT" not in labels:
            sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=version)


def register_baseline_lambda(moto_url: str) -> str:
    """A second stub function (beside demo's), named by the Python baseline's secret: the
    baseline is another deployment, so the Rust functions do not count its secret as theirs."""
    role = aws("iam", moto_url).get_role(RoleName="genesys-rotator-rotation")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n# stand-in: the baseline runs under the bench's Runtime API\n")
    return aws("lambda", moto_url).create_function(
        FunctionName="python-baseline-rotation", Runtime="provided.al2023", Role=role, Handler="bootstrap",
        Code={"ZipFile": code.getvalue()})["FunctionArn"]


def due_drain_message(sm, emu_url: str, arn: str) -> tuple[str, str]:
    """The drain message the last rotation sent for the client AWSPREVIOUS now holds, as it is
    once the drain has passed: retired (and deactivated, the date Genesys shows) DRAIN_S + 60 s
    ago, due 60 s ago. The functions still check everything; only the wait is skipped. Answers
    the message body and the client's id."""
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    previous = next(v for v, s in stages.items() if "AWSPREVIOUS" in s)
    client_id = json.loads(sm.get_secret_value(SecretId=arn, VersionId=previous,
                                               VersionStage="AWSPREVIOUS")["SecretString"])["clientId"]
    retired = datetime.now(timezone.utc) - timedelta(seconds=DRAIN_S + 60)
    demo.admin(emu_url, "POST", f"clients/{client_id}/dates", {"dateModified": retired.isoformat()})
    body = json.dumps({
        "version": 1, "secretArn": arn, "clientId": client_id, "clientName": f"{NAME_PREFIX}{previous}",
        "secretVersionId": previous, "retiredAt": retired.isoformat(),
        "notBefore": (retired + timedelta(seconds=DRAIN_S)).isoformat(),
    })
    return body, client_id


def check_deleted(emu_url: str, client_id: str, what: str) -> None:
    """Fails the bench unless the emulator saw `client_id` deleted: a due message whose DELETE
    was refused would make the drain figure that of a refusal."""
    if client_id not in demo.admin(emu_url, "GET", "deleted"):
        raise DemoFailure(f"{what}: the due drain message's client {client_id} was not deleted (see the cleanup's log)")


class MotoRecording:
    """moto's request recorder, on only while a function runs its steps."""

    def __init__(self, moto_url: str):
        self.url = f"{moto_url}/moto-api/recorder"

    def start(self) -> None:
        for action in ("stop-recording", "reset-recording", "start-recording"):
            requests.post(f"{self.url}/{action}", timeout=10).raise_for_status()

    def stop(self) -> collections.Counter:
        requests.post(f"{self.url}/stop-recording", timeout=10).raise_for_status()
        text = requests.get(f"{self.url}/download-recording", timeout=10).text
        # The recording holds request bodies (secret values): wiped as soon as it is counted.
        requests.post(f"{self.url}/reset-recording", timeout=10).raise_for_status()
        calls = collections.Counter()
        for line in text.splitlines():
            entry = json.loads(line)
            headers = {k.lower(): v for k, v in entry["headers"].items()}
            if DRIVER_AGENT in headers.get("user-agent", ""):
                continue
            calls[headers.get("x-amz-target") or f"{entry['method']} {entry['url']}"] += 1
        return calls


def emulator_calls(url: str) -> list[dict]:
    return requests.get(f"{url}/__admin/calls/log", timeout=30).json()


# ---------------------------------------------------------------------------------------------
# Rotations
# ---------------------------------------------------------------------------------------------


class Rotations:
    """Rotates one secret per implementation, a fresh process each time."""

    def __init__(self, moto_url: str, org: Org, sm, sqs, stub_lambda: str, bins: dict[str, Path]):
        self.moto_url, self.org, self.sm, self.sqs = moto_url, org, sm, sqs
        # The Rust deployment's rotation function names the Rust secret and its peer; the Python
        # baseline's secret names a function of its own (another deployment).
        self.functions = {"rust": stub_lambda, "python": register_baseline_lambda(moto_url)}
        self.bins = bins
        self.recording = MotoRecording(moto_url)
        self.queue_url = sqs.create_queue(QueueName="bench-drain")["QueueUrl"]
        self.secrets = {impl: org.integration_secret(sm, impl) for impl in ("rust", "python")}
        # A second served secret of the Rust deployment, between rotations, holding a client of
        # its own: the retirement guard and the cleanup read it as another holder, as in any real
        # deployment (alone, the rotated secret would leave the guard nothing to read).
        self.peer = org.integration_secret(sm, "rust-peer", prefix="bench-peer-")
        serve_without_rotating(sm, self.peer, stub_lambda)

    def function_env(self, impl: str) -> dict[str, str]:
        env = {
            "AWS_ENDPOINT_URL": self.moto_url,
            "GENESYS_ENDPOINT_OVERRIDES": f"{REGION_DOMAIN}={self.org.url}",
        }
        if impl != "python":
            env.update({
                "ALLOWED_MASTER_SECRET_ARNS": self.org.master_arn,
                "DRAIN_QUEUE_URL": self.queue_url,
                "DRAIN_MARGIN_SECONDS": str(DRAIN_MARGIN_S),
                # As the template sets it: the secrets this function rotates are the served ones.
                "ROTATION_FUNCTION_NAME": self.functions["rust"].rsplit(":", 1)[1],
                "RUST_LOG": "info",
            })
        return env

    def rotate(self, impl: str, n: int) -> dict:
        """One rotation by a fresh process; answers its figures."""
        arn = self.secrets[impl]
        self.sm.rotate_secret(SecretId=arn, RotationLambdaARN=self.functions[impl],
                              RotationRules={"AutomaticallyAfterDays": 7})
        stages = self.sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
        pending = [v for v, s in stages.items() if "AWSPENDING" in s and "AWSCURRENT" not in s]
        if len(pending) != 1:
            raise DemoFailure(f"RotateSecret left {len(pending)} AWSPENDING-only versions")
        token = pending[0]
        argv = [str(self.bins["rotation"])] if impl == "rust" else [str(VENV_PYTHON), str(BASELINE)]
        genesys_before = len(emulator_calls(self.org.url))
        self.recording.start()
        fn = Function(f"rotation-{impl}", argv, self.function_env(impl), RUN_DIR / f"rotation-{impl}.log")
        steps = {}
        try:
            for step in STEPS:
                ok, body, elapsed = fn.invoke({"Step": step, "SecretId": arn, "ClientRequestToken": token})
                if not ok:
                    raise DemoFailure(f"{impl} run {n}: {step} failed: {json.dumps(body)[:300]}")
                steps[step] = elapsed
            aws_calls = self.recording.stop()
        finally:
            rss = fn.stop()
        genesys = collections.Counter(c["route"] for c in emulator_calls(self.org.url)[genesys_before:])
        # What Secrets Manager does once a rotation succeeded (moto does not), then the check
        # that it did rotate.
        self.sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)
        current = self.sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["VersionId"]
        if current != token:
            raise DemoFailure(f"{impl} run {n}: AWSCURRENT is not on the new version")
        return {"cold": fn.cold_start, "rss": rss, "steps": steps, "calls": genesys + aws_calls}

    def cleanup(self, counted: bool) -> dict:
        """The cleanup function, fresh: one drain batch, then a scheduled reconciliation of the
        two served secrets. The rotation's own drain message stays invisible for its drain, so
        the batch holds the message it sent for the client AWSPREVIOUS now holds, as it is once
        the drain has passed (`due_drain_message`): the cleanup re-reads the secret, checks the
        client and deletes it. A counted run fails unless it did (the warm-up's AWSPREVIOUS holds
        the seeded legacy client, which the rotator did not make and never deletes)."""
        arn = self.secrets["rust"]
        body, client_id = due_drain_message(self.sm, self.org.url, arn)
        queue_arn = f"arn:aws:sqs:{AWS_REGION}:123456789012:bench-drain"
        records = [{
            "messageId": str(uuid.uuid4()), "receiptHandle": "bench", "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
            "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": AWS_REGION,
        }]
        fn = Function("cleanup", [str(self.bins["cleanup"])], self.function_env("rust"), RUN_DIR / "cleanup.log")
        try:
            ok, body, queue_s = fn.invoke({"Records": records})
            if not ok or body.get("batchItemFailures"):
                raise DemoFailure(f"cleanup: the drain batch failed: {json.dumps(body)[:300]}")
            if counted:
                check_deleted(self.org.url, client_id, "cleanup")
            ok, body, schedule_s = fn.invoke({"detail-type": "Scheduled Event", "source": "aws.events",
                                              "detail": {}})
            if not ok or body.get("errors"):
                raise DemoFailure(f"cleanup: the reconciliation failed: {json.dumps(body)[:300]}")
        finally:
            rss = fn.stop()
        return {"cold": fn.cold_start, "rss": rss, "queue": queue_s, "schedule": schedule_s}


# ---------------------------------------------------------------------------------------------
# 480 orphans at 300 requests per minute
# ---------------------------------------------------------------------------------------------


def orphan_run(i: int, moto_url: str, cleanup_bin: Path, procs: list[Proc]) -> dict:
    emu, url = start_emulator(f"orphans-{i}", rate_limit=RATE_LIMIT_PER_MINUTE)
    procs.append(emu)
    sm = aws("secretsmanager", moto_url)
    org = Org(url, sm, f"orphans-{i}")
    arn = org.integration_secret(sm, f"orphans-{i}")
    # Older than the default 48 h horizon: every one of them is due for deletion.
    created = (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    # Orphans the secret provably owns (crates/genesys-core/src/ownership.rs): each named for a version of the
    # secret (unlabelled, holding no value of its own client: a createSecret that crashed before
    # its put) and carrying the secret's marker.
    sm = aws("secretsmanager", moto_url)
    value = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
    for _ in range(ORPHANS):
        version = str(uuid.uuid4())
        sm.put_secret_value(SecretId=arn, ClientRequestToken=version, SecretString=value, VersionStages=["SEED"])
        sm.update_secret_version_stage(SecretId=arn, VersionStage="SEED", RemoveFromVersionId=version)
        demo.admin(url, "POST", "clients", {
            "name": f"{NAME_PREFIX}{version}", "state": "active", "dateCreated": created,
            "description": f"Managed by genesys-rotator for {arn}; do not edit",
            "roleDivisions": [{"roleId": ROLE_ID, "divisionId": "*"}],
        })
    queue_url = aws("sqs", moto_url).create_queue(QueueName=f"bench-orphans-{i}")["QueueUrl"]
    fn = Function(f"cleanup-orphans-{i}", [str(cleanup_bin)], {
        "AWS_ENDPOINT_URL": moto_url,
        "GENESYS_ENDPOINT_OVERRIDES": f"{REGION_DOMAIN}={url}",
        "ALLOWED_MASTER_SECRET_ARNS": org.master_arn,
        "DRAIN_QUEUE_URL": queue_url,
        "RUST_LOG": "info",
    }, RUN_DIR / f"cleanup-orphans-{i}.log")
    try:
        ok, report, elapsed = fn.invoke({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}},
                                        timeout=RECONCILE_TIMEOUT)
    finally:
        rss = fn.stop()
    if not ok:
        raise DemoFailure(f"orphan run {i}: the cleanup failed: {json.dumps(report)[:300]}")
    calls = emulator_calls(url)
    api = [c for c in calls if c["route"].split(" ", 1)[1].startswith("/api/v2")]
    left = [c for c in demo.admin(url, "GET", "clients") if c["name"].startswith(NAME_PREFIX)]
    emu.stop()
    return {
        "seconds": elapsed,
        "rss": rss,
        "deleted": len(report.get("deleted", [])),
        "errors": len(report.get("errors", [])),
        "left": len(left),
        "needed": sum(1 for c in api if c["status"] != 429),
        "throttled": sum(1 for c in api if c["status"] == 429),
        "by_route": collections.Counter(c["route"] for c in api if c["status"] != 429),
    }


# ---------------------------------------------------------------------------------------------
# The served-secret sweep: a rotation's and a scheduled pass's calls as the deployment grows
# ---------------------------------------------------------------------------------------------


class SecretsManagerProxy:
    """A layer in front of moto that the functions talk to: it counts each AWS call by its
    X-Amz-Target (`secretsmanager.GetSecretValue`, `AmazonSQS.SendMessage`), and answers
    BatchGetSecretValue as AWS does, not as moto 5.2.5 does (which reads each secret without a
    stage, so not necessarily AWSCURRENT, and takes any number of ids): the AWSCURRENT version of
    each id, at most 20 ids (else a ValidationException), an `Errors` entry for a secret it
    cannot read. Everything else is forwarded to moto as it is. The counts are the functions'
    own calls, exactly: the driver talks to moto directly."""

    BATCH_LIMIT = 20

    def __init__(self, moto_url: str):
        self.moto_url = moto_url
        self.lock = threading.Lock()
        self.calls: collections.Counter = collections.Counter()
        self.local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # As in RuntimeApi: else each proxied answer's body waits for a delayed ACK, and the
            # sweep's times measure this proxy rather than the functions.
            disable_nagle_algorithm = True

            def log_message(self, *_args) -> None:
                pass

            def do_GET(self) -> None:
                self.forward(b"")

            def do_POST(self) -> None:
                self.forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def forward(self, body: bytes) -> None:
                target = self.headers.get("X-Amz-Target")
                if target:
                    with proxy.lock:
                        proxy.calls[target] += 1
                if target == "secretsmanager.BatchGetSecretValue":
                    status, headers, out = proxy.batch_get(self.headers, body)
                else:
                    answer = proxy.session().request(
                        self.command, f"{proxy.moto_url}{self.path}", data=body,
                        headers={k: v for k, v in self.headers.items()
                                 if k.lower() not in ("host", "content-length", "connection")})
                    status, headers, out = answer.status_code, answer.headers, answer.content
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "content-encoding",
                                         "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def batch_get(self, headers, body: bytes) -> tuple[int, dict, bytes]:
        request = json.loads(body or b"{}")
        json_headers = {"Content-Type": "application/x-amz-json-1.1"}
        ids = request.get("SecretIdList") or []
        if "Filters" in request or not 1 <= len(ids) <= self.BATCH_LIMIT:
            message = (f"1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: "
                       f"Member must have length less than or equal to {self.BATCH_LIMIT} (the bench models "
                       f"SecretIdList only; got {len(ids)})")
            return 400, {**json_headers, "x-amzn-ErrorType": "ValidationException"}, json.dumps(
                {"__type": "ValidationException", "message": message}).encode()
        values, errors = [], []
        for secret_id in ids:
            answer = self.session().post(f"{self.moto_url}/", data=json.dumps(
                {"SecretId": secret_id, "VersionStage": "AWSCURRENT"}), headers={
                **json_headers, "X-Amz-Target": "secretsmanager.GetSecretValue",
                # moto routes by the service its Authorization header names.
                "Authorization": headers.get("Authorization", "")})
            out = answer.json()
            if answer.ok:
                values.append({k: out[k] for k in ("ARN", "Name", "VersionId", "SecretString", "VersionStages",
                                                   "CreatedDate") if k in out})
            else:
                errors.append({"SecretId": secret_id, "ErrorCode": out.get("__type", "InternalServiceError"),
                               "Message": out.get("message", "")})
        return 200, json_headers, json.dumps({"SecretValues": values, "Errors": errors}).encode()

    def take(self) -> collections.Counter:
        """The calls counted since the last take."""
        with self.lock:
            calls, self.calls = self.calls, collections.Counter()
        return calls

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def served_run(n: int, moto_url: str, bins: dict[str, Path], procs: list[Proc]) -> dict:
    """N served secrets in one account (moto at `moto_url`, holding nothing else) and one org:
    one rotation of one of them (a fresh process), then, by one fresh cleanup process, the drain
    message of the client it retired, once due (fails unless the client is deleted), and one
    scheduled pass. Answers the calls (by operation) and times of each."""
    emu, emu_url = start_emulator(f"served-{n}")
    procs.append(emu)
    sm = aws("secretsmanager", moto_url)
    label = f"served-{n}-{uuid.uuid4().hex[:6]}"
    org = Org(emu_url, sm, label)
    subject = org.integration_secret(sm, label)
    stub = register_stub_lambda(moto_url)
    created = time.monotonic()

    def other(i: int) -> None:
        # Each holds a client of its own (the guard reads its id; the pass finds it unlisted), and
        # is rotated by the same function (RotationLambdaARN), as the deployment's secrets are:
        # the functions count only those as served.
        client = aws("secretsmanager", moto_url)
        arn = client.create_secret(Name=f"bench/{label}/other-{i}", SecretString=json.dumps({
            "clientId": str(uuid.uuid4()), "clientSecret": "not-used", "region": REGION_DOMAIN,
            "masterSecretArn": org.master_arn, "namePrefix": f"bench-other-{i}-",
            "roleDivisions": [{"roleId": ROLE_ID, "divisionId": "*"}], "tokenLifetimeSeconds": TOKEN_LIFETIME_S,
        }), Tags=[{"Key": "genesys-rotator", "Value": "integration"}])["ARN"]
        serve_without_rotating(client, arn, stub)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(other, range(n - 1)))
    setup_s = time.monotonic() - created
    proxy = SecretsManagerProxy(moto_url)
    queue_url = aws("sqs", moto_url).create_queue(QueueName=f"bench-{label}")["QueueUrl"]
    env = {
        "AWS_ENDPOINT_URL": proxy.url,
        "GENESYS_ENDPOINT_OVERRIDES": f"{REGION_DOMAIN}={emu_url}",
        "ALLOWED_MASTER_SECRET_ARNS": org.master_arn,
        "DRAIN_QUEUE_URL": queue_url,
        "DRAIN_MARGIN_SECONDS": str(DRAIN_MARGIN_S),
        # The deployment's rotation function, as the template sets it for both functions: the
        # secrets it rotates (RotationLambdaARN) are the served ones.
        "ROTATION_FUNCTION_NAME": stub.rsplit(":", 1)[1],
        "RUST_LOG": "warn",
    }
    try:
        # A rotation of the subject, as in steady state (rotated once before, not counted).
        figures = {}
        for rotation in range(2):
            sm.rotate_secret(SecretId=subject, RotationLambdaARN=stub, RotationRules={"AutomaticallyAfterDays": 7})
            stages = sm.describe_secret(SecretId=subject)["VersionIdsToStages"]
            token = next(v for v, s in stages.items() if "AWSPENDING" in s and "AWSCURRENT" not in s)
            fn = Function(f"rotation-served-{n}", [str(bins["rotation"])], env, RUN_DIR / f"rotation-served-{n}.log")
            genesys_before = len(emulator_calls(emu_url))
            proxy.take()
            steps, by_step = {}, {}
            try:
                for step in STEPS:
                    ok, body, elapsed = fn.invoke({"Step": step, "SecretId": subject, "ClientRequestToken": token},
                                                  timeout=RECONCILE_TIMEOUT)
                    if not ok:
                        raise DemoFailure(f"served N={n}: {step} failed: {json.dumps(body)[:300]}")
                    steps[step], by_step[step] = elapsed, proxy.take()
            finally:
                fn.stop()
            genesys = collections.Counter(c["route"] for c in emulator_calls(emu_url)[genesys_before:])
            sm.update_secret_version_stage(SecretId=subject, VersionStage="AWSPENDING", RemoveFromVersionId=token)
            if sm.get_secret_value(SecretId=subject, VersionStage="AWSCURRENT")["VersionId"] != token:
                raise DemoFailure(f"served N={n}: AWSCURRENT is not on the new version")
            figures = {"steps": steps, "by_step": by_step, "genesys": genesys}
        # The drain message of the client the rotation retired, once due (as in Rotations.cleanup),
        # then one scheduled pass over all N, by one fresh cleanup process.
        body, client_id = due_drain_message(sm, emu_url, subject)
        records = [{
            "messageId": str(uuid.uuid4()), "receiptHandle": "bench", "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "md5OfBody": hashlib.md5(body.encode()).hexdigest(), "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:{AWS_REGION}:123456789012:bench-{label}", "awsRegion": AWS_REGION,
        }]
        fn = Function(f"cleanup-served-{n}", [str(bins["cleanup"])], env, RUN_DIR / f"cleanup-served-{n}.log")
        try:
            proxy.take()
            genesys_before = len(emulator_calls(emu_url))
            ok, answer, drain_s = fn.invoke({"Records": records}, timeout=RECONCILE_TIMEOUT)
            drain_calls = proxy.take()
            if not ok or answer.get("batchItemFailures"):
                raise DemoFailure(f"served N={n}: the drain batch failed: {json.dumps(answer)[:300]}")
            check_deleted(emu_url, client_id, f"served N={n}")
            drain_genesys = collections.Counter(c["route"] for c in emulator_calls(emu_url)[genesys_before:])
            genesys_before = len(emulator_calls(emu_url))
            ok, report, sweep_s = fn.invoke({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}},
                                            timeout=RECONCILE_TIMEOUT)
        finally:
            fn.stop()
        sweep_calls = proxy.take()
        if not ok:
            raise DemoFailure(f"served N={n}: the scheduled pass failed: {json.dumps(report)[:300]}")
        ours = [e for e in report.get("errors", []) if label in json.dumps(e)]
        if ours:
            raise DemoFailure(f"served N={n}: the scheduled pass reported errors: {json.dumps(ours)[:300]}")
        sweep_genesys = collections.Counter(c["route"] for c in emulator_calls(emu_url)[genesys_before:])
    finally:
        proxy.close()
        emu.stop()
    return {**figures, "n": n, "setup": setup_s, "sweep": sweep_s, "sweep_calls": sweep_calls,
            "drain": drain_s, "drain_calls": drain_calls, "drain_genesys": drain_genesys,
            "sweep_genesys": sweep_genesys, "examined": report.get("examined")}


SHORT = {"GetSecretValue": "Get", "BatchGetSecretValue": "Batch", "ListSecrets": "List",
         "DescribeSecret": "Describe", "ListSecretVersionIds": "Versions", "PutSecretValue": "Put",
         "UpdateSecretVersionStage": "Stage", "TagResource": "Tag"}


def sm_calls(calls: collections.Counter) -> tuple[int, str]:
    sm = {k.split(".", 1)[1]: v for k, v in calls.items() if k.startswith("secretsmanager.")}
    return sum(sm.values()), " ".join(f"{SHORT.get(k, k)} {v}" for k, v in sorted(sm.items()))


def report_served(runs: list[dict]) -> None:
    say()
    say("== Served-secret sweep: N tagged secrets in one account and one org (moto behind a proxy that counts the "
        "functions' calls")
    say("   and answers BatchGetSecretValue as AWS does; release emulator). One rotation (fresh process, the four "
        "steps) and one")
    say("   scheduled pass of the cleanup function (fresh process) per N. Call counts are exact; times are wall "
        "clock on this machine.")
    say(f"   {'N':>5} {'rotation SM':>11} {'finishSecret SM':>15} {'Genesys':>8} {'finishSecret':>13} "
        f"{'pass SM':>8} {'pass Genesys':>12} {'pass time':>11}")
    for r in runs:
        rot = sum((c for c in r["by_step"].values()), collections.Counter())
        rot_n, _ = sm_calls(rot)
        fin_n, _ = sm_calls(r["by_step"]["finishSecret"])
        pass_n, _ = sm_calls(r["sweep_calls"])
        say(f"   {r['n']:>5} {rot_n:>11} {fin_n:>15} {sum(r['genesys'].values()):>8} "
            f"{ms(r['steps']['finishSecret']):>13} {pass_n:>8} {sum(r['sweep_genesys'].values()):>12} "
            f"{ms(r['sweep']):>11}")
    say("   by operation:")
    for r in runs:
        say(f"   N={r['n']:<5} finishSecret: {sm_calls(r['by_step']['finishSecret'])[1]}")
        for step in STEPS[:3]:
            say(f"   {'':<7} {step}: {sm_calls(r['by_step'][step])[1]}")
        say(f"   {'':<7} scheduled pass: {sm_calls(r['sweep_calls'])[1]}")
        say(f"   {'':<7} drain message (the retired client's deletion, {ms(r['drain']).strip()}): "
            f"{sm_calls(r['drain_calls'])[1]}")
        say(f"   {'':<7} Genesys, drain message: "
            f"{', '.join(f'{k} {v}' for k, v in sorted(r['drain_genesys'].items()))}")
        say(f"   {'':<7} Genesys, rotation: {', '.join(f'{k} {v}' for k, v in sorted(r['genesys'].items()))}")
        say(f"   {'':<7} Genesys, pass: {', '.join(f'{k} {v}' for k, v in sorted(r['sweep_genesys'].items()))}")
        say(f"   {'':<7} ({r['n'] - 1} other secrets created in {r['setup']:.1f} s)")


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:8.1f} MiB"


def zip_sizes() -> dict[str, dict[str, int | None]]:
    return {arch: {f: (p.stat().st_size if (p := LAMBDA_DIR / arch / f / "bootstrap.zip").exists() else None)
                   for f in FUNCTIONS} for arch in ARCHES}


def unpack_bootstraps() -> dict[str, Path]:
    """The x86_64 `bootstrap` of each bench zip (built with the endpoint overrides), as Lambda would
    run it."""
    bins = {}
    for f in FUNCTIONS:
        archive = BENCH_LAMBDA_DIR / "x86_64" / f / "bootstrap.zip"
        if not archive.exists():
            raise DemoFailure(f"{archive} not found: run `make bench`, which builds it")
        out = RUN_DIR / "bin" / f
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive) as z:
            z.extract("bootstrap", out)
        (out / "bootstrap").chmod(0o755)
        bins[f] = out / "bootstrap"
    return bins


def report(rot: dict[str, list[dict]], cleanups: list[dict], zips) -> None:
    rust, py = rot["rust"], rot["python"]
    say()
    say(f"== Lambdas: cold start (spawn to first poll of the Runtime API) and peak RSS, median of {RUNS} runs")
    say(f"   {'function':<34}{'cold start':>14}{'peak RSS':>14}")
    rows = [
        ("rotation (Rust, release x86_64)", [r["cold"] for r in rust], [r["rss"] for r in rust]),
        ("cleanup (Rust, release x86_64)", [c["cold"] for c in cleanups], [c["rss"] for c in cleanups]),
        ("rotation, Python baseline", [r["cold"] for r in py], [r["rss"] for r in py]),
    ]
    for name, cold, rss in rows:
        say(f"   {name:<34}{ms(median(cold)):>14}{mib(median(rss)):>14}")
    cold_ratio = median([r["cold"] for r in py]) / median([r["cold"] for r in rust])
    rss_ratio = median([r["rss"] for r in py]) / median([r["rss"] for r in rust])
    say(f"   {'Python baseline / Rust rotation':<34}{cold_ratio:>13.1f}x{rss_ratio:>13.1f}x")
    say("   (peak RSS over the process's whole life: the four steps of a rotation; for the cleanup, one")
    say("    drain batch and one scheduled reconciliation)")

    say()
    say(f"== Rotation step latency (event handed out to answer), moto + emulator on loopback, median of {RUNS}")
    say(f"   {'step':<16}{'Rust':>14}{'Python':>14}")
    for step in STEPS:
        say(f"   {step:<16}{ms(median([r['steps'][step] for r in rust])):>14}"
            f"{ms(median([r['steps'][step] for r in py])):>14}")
    say(f"   {'all four':<16}{ms(median([sum(r['steps'].values()) for r in rust])):>14}"
        f"{ms(median([sum(r['steps'].values()) for r in py])):>14}")
    say(f"   cleanup: drain batch of 1 due message (its client deleted) "
        f"{ms(median([c['queue'] for c in cleanups])).strip()}, "
        f"scheduled reconciliation of 2 served secrets {ms(median([c['schedule'] for c in cleanups])).strip()}")

    say()
    say("== Release zips (cargo lambda build --release, `make package`)")
    for arch in ARCHES:
        sizes = zips[arch]
        cells = "".join(f"{f} {mib(s).strip() if s is not None else 'not built here':>16}   " for f, s in sizes.items())
        say(f"   {arch:<8}{cells}")
    if any(s is None for s in zips["arm64"].values()):
        say("   (arm64: `make package` builds it only when the aarch64-unknown-linux-gnu Rust target is installed)")

    say()
    say(f"== HTTP calls per rotation (emulator call log, moto request recorder; median of {RUNS} runs)")
    say("   (the Rust deployment serves the rotated secret and one peer, so its retirement guard reads another "
        "holder, as in any real deployment)")
    say(f"   {'call':<44}{'Rust':>6}{'Python':>8}{'needed':>8}{'extra':>7}")
    keys = list(DESIGN_MINIMUM) + sorted(
        {k for r in rust + py for k in r["calls"]} - set(DESIGN_MINIMUM))
    extras = []
    for key in keys:
        r_n = median([r["calls"].get(key, 0) for r in rust])
        p_n = median([r["calls"].get(key, 0) for r in py])
        need = DESIGN_MINIMUM.get(key, (0, ""))[0]
        spread = {r["calls"].get(key, 0) for r in rust}
        note = "" if len(spread) == 1 else f"  (varied: {min(spread)}..{max(spread)})"
        say(f"   {key:<44}{r_n:>6g}{p_n:>8g}{need:>8}{r_n - need:>+7g}{note}")
        if r_n > need:
            extras.append(textwrap.fill(f"{key} +{r_n - need:g}: {EXTRA_WHY.get(key, 'not expected: investigate')}",
                                        width=110, initial_indent="     ", subsequent_indent="       "))
    total_r = median([sum(r["calls"].values()) for r in rust])
    total_p = median([sum(r["calls"].values()) for r in py])
    need_total = sum(n for n, _ in DESIGN_MINIMUM.values())
    say(f"   {'total':<44}{total_r:>6g}{total_p:>8g}{need_total:>8}{total_r - need_total:>+7g}")
    say("   needed: the design's minimum with one warm process running the four steps:")
    for key, (n, why) in DESIGN_MINIMUM.items():
        say(textwrap.fill(f"{key} {n}: {why}", width=110, initial_indent="     ", subsequent_indent="       "))
    if extras:
        say("   extra calls of the Rust function, and why:")
        for line in extras:
            say(line)
    say("   (the Python baseline does less: no reconciliation listing, no AWSPREVIOUS read, no drain message)")


def floor_seconds(requests_needed: float) -> float:
    return requests_needed / RATE_LIMIT_PER_MINUTE * 60


def orphan_failure(o: list[dict]) -> str | None:
    """Why the paced reconciliation broke its promise, if it did: a 429 met, or a run more than
    FLOOR_TOLERANCE over the floor."""
    for i, r in enumerate(o):
        if r["deleted"] != ORPHANS or r["left"]:
            return f"orphan run {i}: deleted {r['deleted']} of {ORPHANS}, {r['left']} left"
        if r["throttled"]:
            return f"orphan run {i}: the paced client met {r['throttled']} answers of 429"
        limit = floor_seconds(r["needed"]) * (1 + FLOOR_TOLERANCE)
        if r["seconds"] > limit:
            return f"orphan run {i}: {r['seconds']:.1f} s, more than {limit:.1f} s (the floor + 10%)"
    return None


def report_orphans(o: list[dict]) -> None:
    say()
    needed = median([r["needed"] for r in o])
    floor_steady = floor_seconds(needed)
    say(f"== Reconciliation of {ORPHANS} orphans by the cleanup Lambda, emulator limiting each token to "
        f"{RATE_LIMIT_PER_MINUTE} requests/min")
    say(f"   median of {len(o)} runs, run at the same time against one emulator each")
    runs = ", ".join(f"{r['seconds']:.1f}" for r in o)
    say(f"   total time                            {median([r['seconds'] for r in o]):9.1f} s (runs: {runs})")
    routes = o[0]["by_route"]
    say(f"   API requests needed                   {needed:9g}   "
        f"({', '.join(f'{k} {v}' for k, v in sorted(routes.items()))})")
    over = median([r["seconds"] / floor_seconds(r["needed"]) - 1 for r in o]) * 100
    say(f"   floor at {RATE_LIMIT_PER_MINUTE}/min (requests / rate)         {floor_steady:9.1f} s")
    say(f"   over the floor                        {over:9.1f} % (at most {FLOOR_TOLERANCE * 100:.0f}%)")
    say(f"   429 answers met                       {median([r['throttled'] for r in o]):9g}   "
        f"(runs: {', '.join(str(r['throttled']) for r in o)})")
    say(f"   deleted                               {median([r['deleted'] for r in o]):9g}   "
        f"of {ORPHANS}, left {median([r['left'] for r in o]):g}")
    say(f"   report errors                         {median([r['errors'] for r in o]):9g}   "
        "(other runs' secrets in the shared moto, whose masters this cleanup may not use)")
    say(f"   cleanup peak RSS                      {mib(median([r['rss'] for r in o]))}")


def main() -> int:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    for old in RUN_DIR.glob("*.log"):
        old.unlink()
    recording_file = RUN_DIR / "moto-recording.jsonl"
    os.environ["MOTO_RECORDER_FILEPATH"] = str(recording_file)  # read by moto_server at start
    demo.RUN_DIR = RUN_DIR  # demo.start_moto logs there
    procs: list[Proc] = []
    failure = None
    try:
        zips = zip_sizes()
        bins = unpack_bootstraps()
        say(f"bench: {RUNS} runs per function (+1 warm-up), {ORPHAN_RUNS} orphan runs; logs in {RUN_DIR}")
        moto, moto_url = demo.start_moto()
        procs.append(moto)
        if ONLY in ("", "served"):
            say(f"bench: served-secret sweep at N = {', '.join(map(str, SERVED_SIZES))}")
            served = []
            for n in SERVED_SIZES:
                # Its own moto each: the account holds exactly the N secrets of the run.
                served_moto, served_url = demo.start_moto()
                procs.append(served_moto)
                served.append(served_run(n, served_url, bins, procs))
                served_moto.stop()
            report_served(served)
            if ONLY == "served":
                return 0
        if ONLY in ("", "rotations"):
            emu, emu_url = start_emulator("rotations")
            procs.append(emu)
            sm, sqs = aws("secretsmanager", moto_url), aws("sqs", moto_url)
            org = Org(emu_url, sm, "rotations")
            stub = register_stub_lambda(moto_url)
            rotations = Rotations(moto_url, org, sm, sqs, stub, bins)

            results: dict[str, list[dict]] = {"rust": [], "python": []}
            cleanups = []
            for n in range(RUNS + 1):
                # Interleaved, so both meet the same machine state.
                for impl in ("rust", "python"):
                    r = rotations.rotate(impl, n)
                    if n > 0:
                        results[impl].append(r)
                c = rotations.cleanup(counted=n > 0)
                if n > 0:
                    cleanups.append(c)
                say(f"   run {n} of {RUNS}{' (warm-up, not counted)' if n == 0 else ''} done")
            report(results, cleanups, zips)
            if ONLY == "rotations":
                return 0

        say(f"bench: deleting {ORPHANS} orphans x {ORPHAN_RUNS} at {RATE_LIMIT_PER_MINUTE}/min "
            f"(about {ORPHANS * 2 / RATE_LIMIT_PER_MINUTE:.0f} minutes)")
        with ThreadPoolExecutor(max_workers=ORPHAN_RUNS) as pool:
            orphans = list(pool.map(lambda i: orphan_run(i, moto_url, bins["cleanup"], procs), range(ORPHAN_RUNS)))
        report_orphans(orphans)
        failure = orphan_failure(orphans)
    except DemoFailure as e:
        failure = str(e)
    finally:
        for proc in reversed(procs):
            if proc.running():
                proc.stop()
        recording_file.unlink(missing_ok=True)
    if failure:
        say(f"BENCH FAILED: {failure} (logs: {RUN_DIR})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
