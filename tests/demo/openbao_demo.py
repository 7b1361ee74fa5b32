#!/usr/bin/env python3
"""Demo: the Genesys Cloud secrets engine in a real OpenBao server, from registration to a leased
OAuth client, all on 127.0.0.1 with ports chosen at run time.

  * target/debug/genesys-emulator plays Genesys Cloud (one org: a master client and a role);
  * `bao server -dev` (OpenBao 2.7.2 from .venv, BAO_BIN) runs with a plugin directory holding
    target/debug/vault-plugin-secrets-genesys, built with the test-only `endpoint-overrides`
    feature so that GENESYS_ENDPOINT_OVERRIDES can point its region at the emulator;
  * the operator and consumer steps are the real `bao` CLI (BAO_ADDR, BAO_TOKEN set): enable,
    config, a role `crm`, `bao read genesys/creds/crm`, a token read, renew, revoke, rotate-root.

Each credential is tried against the emulator, as a consumer would. Secret values and tokens are
never printed (shown as `<redacted, N chars>`), and at the end the server's log is searched for
every secret and token the emulator issued. Everything started is stopped on exit, also on
failure and Ctrl-C; the logs stay in .run/demo-openbao/. Run it with `make demo-openbao`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".run" / "demo-openbao"
EMULATOR_BIN = Path(os.environ.get("GENESYS_EMULATOR_BIN", ROOT / "target" / "debug" / "genesys-emulator"))
PLUGIN_BIN = ROOT / "target" / "debug" / "vault-plugin-secrets-genesys"
BAO_BIN = os.environ.get("BAO_BIN", "")
PLUGIN = "vault-plugin-secrets-genesys"
REGION = "mypurecloud.ie"
ROLE_ID = "crm-integration-role"
MASTER_PERMISSIONS = ["oauth:client:view", "oauth:client:add", "oauth:client:edit", "oauth:client:delete"]
SECRET_KEYS = {"client_secret", "access_token"}


class DemoFailure(Exception):
    """A step or check failed: reported, everything stopped, exit status 1."""


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say()
    say(f"== {text}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redact(value):
    """`value` with every secret field replaced by its length."""
    if isinstance(value, dict):
        return {
            k: f"<redacted, {len(v)} chars>" if k in SECRET_KEYS and isinstance(v, str) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class Processes:
    """The emulator and the server, each in its own process group, stopped on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(RUN_DIR / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


class Demo:
    def __init__(self, procs: Processes) -> None:
        self.procs = procs
        self.emulator = ""
        self.bao_env: dict[str, str] = {}

    # -- Genesys emulator ---------------------------------------------------------------------

    def admin(self, method: str, path: str, body=None):
        r = requests.request(method, f"{self.emulator}/__admin/{path}", json=body, timeout=10)
        if r.status_code >= 300:
            raise DemoFailure(f"emulator {method} /__admin/{path}: HTTP {r.status_code}")
        return r.json() if r.content else None

    def token(self, client_id: str, secret: str) -> dict | None:
        """A token for this credential (what a consumer does), or None if refused."""
        r = requests.post(f"{self.emulator}/oauth/token", auth=(client_id, secret),
                          data={"grant_type": "client_credentials"}, timeout=10)
        return r.json() if r.status_code == 200 else None

    def client(self, client_id: str) -> dict | None:
        return next((c for c in self.admin("GET", "clients") if c["id"] == client_id), None)

    def start_emulator(self) -> None:
        port = free_port()
        self.procs.start("emulator", [str(EMULATOR_BIN), "--listen", f"127.0.0.1:{port}"])
        self.emulator = f"http://127.0.0.1:{port}"
        wait_until(self.admin_up, 30, "the Genesys emulator starting")
        self.admin("POST", "roles", {"roleId": ROLE_ID, "permissions": ["conversation:communication:view"]})
        self.master = self.admin("POST", "clients", {"name": "openbao-master", "permissions": MASTER_PERMISSIONS,
                                                      "state": "active", "accessTokenValiditySeconds": 86400})
        say(f"   genesys-emulator  {self.emulator}  (org with master client {self.master['id']})")

    def admin_up(self) -> bool:
        try:
            return requests.get(f"{self.emulator}/__admin/calls", timeout=1).ok
        except requests.RequestException:
            return False

    # -- OpenBao ------------------------------------------------------------------------------

    def start_server(self) -> None:
        plugins = RUN_DIR / "plugins"
        plugins.mkdir()
        shutil.copy2(PLUGIN_BIN, plugins / PLUGIN)
        (RUN_DIR / "server.hcl").write_text(f'plugin_directory = "{plugins}"\n')
        port = free_port()
        root_token = str(uuid.uuid4())
        self.procs.start("server", [BAO_BIN, "server", "-dev", f"-dev-root-token-id={root_token}",
                                    f"-dev-listen-address=127.0.0.1:{port}", f"-config={RUN_DIR / 'server.hcl'}"],
                         env={"PATH": os.environ.get("PATH", ""), "HOME": str(RUN_DIR)})
        addr = f"http://127.0.0.1:{port}"
        wait_until(lambda: healthy(addr), 30, "the OpenBao dev server starting")
        # The CLI reads BAO_* (and VAULT_*, as HashiCorp's does).
        self.bao_env = {**os.environ, "BAO_ADDR": addr, "BAO_TOKEN": root_token,
                        "VAULT_ADDR": addr, "VAULT_TOKEN": root_token, "HOME": str(RUN_DIR)}
        say(f"   bao server -dev   {addr}  (plugin_directory {plugins})")

    def bao(self, *args: str, shown: str | None = None, stdin: str | None = None, json_out: bool = False):
        """Runs `bao args...`, printing the command (`shown` instead, when an argument must not be
        printed); the parsed JSON answer with json_out."""
        say(f"$ {shown or 'bao ' + ' '.join(args)}")
        argv = [BAO_BIN, *args]
        if json_out:
            argv.insert(2, "-format=json")
        r = subprocess.run(argv, env=self.bao_env, input=stdin, capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            raise DemoFailure(f"bao {args[0]} {args[1] if len(args) > 1 else ''} failed: {r.stderr.strip()[:500]}")
        if json_out:
            return json.loads(r.stdout) if r.stdout.strip() else None
        for line in (r.stdout + r.stderr).strip().splitlines():
            say(f"  {line}")
        return None

    def show(self, answer: dict) -> None:
        shown = redact({k: answer[k] for k in ("lease_id", "lease_duration", "renewable", "data") if k in answer})
        for line in json.dumps(shown, indent=2).splitlines():
            say(f"  {line}")

    # -- the story ----------------------------------------------------------------------------

    def run(self) -> None:
        heading("Build and start (loopback only)")
        self.start_emulator()
        self.start_server()

        heading("Register the plugin with its SHA-256 and enable it at genesys/")
        sha256 = hashlib.sha256((RUN_DIR / "plugins" / PLUGIN).read_bytes()).hexdigest()
        # `bao plugin register -sha256=<sha256> secret vault-plugin-secrets-genesys` in a real
        # deployment; the catalog write does the same and also sets the plugin's environment,
        # here the test-only endpoint override that sends its region to the emulator.
        self.bao("write", f"sys/plugins/catalog/secret/{PLUGIN}", f"sha256={sha256}", f"command={PLUGIN}",
                 f"env=GENESYS_ENDPOINT_OVERRIDES={REGION}={self.emulator}")
        self.bao("secrets", "enable", "-path=genesys", PLUGIN)

        heading("Configure the master credential (its secret read from stdin) and a role")
        self.bao("write", "genesys/config", f"client_id={self.master['id']}", "client_secret=-", f"region={REGION}",
                 stdin=self.master["secret"])
        self.bao("read", "genesys/config")
        self.bao("write", "genesys/roles/crm", f"role_divisions={ROLE_ID}:*", "ttl=1h", "max_ttl=4h",
                 "token_lifetime=3600")

        heading("A consumer reads genesys/creds/crm: a new OAuth client, leased")
        creds = self.bao("read", "genesys/creds/crm", json_out=True)
        self.show(creds)
        data, lease_id = creds["data"], creds["lease_id"]
        granted = self.token(data["client_id"], data["client_secret"])
        if not granted:
            raise DemoFailure("the leased credential got no token")
        say(f"   the credential works: a token for {granted['expires_in']} s (lease {creds['lease_duration']} s)")

        heading("Or just a bearer token: genesys/token/crm (no client secret ever leaves the server)")
        bearer = self.bao("read", "genesys/token/crm", json_out=True)
        self.show(bearer)

        heading("Renew, then revoke the lease: the client is deleted in Genesys")
        self.bao("lease", "renew", lease_id)
        self.bao("lease", "revoke", lease_id)
        # The server queues revocations: give it a moment.
        wait_until(lambda: self.client(data["client_id"]) is None, 20, "the revoked lease's client being deleted")
        if self.token(data["client_id"], data["client_secret"]):
            raise DemoFailure("the revoked credential still gets tokens")
        say(f"   client {data['client_id']} is gone, its credential refused")

        heading("rotate-root: the master gets a new secret only the server knows")
        self.bao("write", "-f", "genesys/rotate-root")
        if self.token(self.master["id"], self.master["secret"]):
            raise DemoFailure("the master's old secret still works")
        say("   the master's old secret is refused; creds still issue:")
        again = self.bao("read", "genesys/creds/crm", json_out=True)
        self.show(again)
        if not self.token(again["data"]["client_id"], again["data"]["client_secret"]):
            raise DemoFailure("creds after rotate-root do not work")
        self.bao("lease", "revoke", "-prefix", "genesys/creds/crm")
        wait_until(lambda: self.client(again["data"]["client_id"]) is None, 20, "revoke -prefix deleting the client")

        heading("What is left in the org, and the logs")
        clients = self.admin("GET", "clients")
        for c in clients:
            what = "the master" if c["id"] == self.master["id"] else "serves genesys/token/crm (kept)"
            say(f"   {c['name']:<52} {c['state']:<8} {what}")
        log = (RUN_DIR / "server.log").read_text(errors="replace")
        issued = [c["secret"] for c in clients] + [self.master["secret"], data["client_secret"],
                                                    again["data"]["client_secret"], bearer["data"]["access_token"],
                                                    granted["access_token"]]
        leaked = sum(1 for s in issued if s and s in log)
        if leaked:
            raise DemoFailure(f"{leaked} secret(s) in the server log")
        say(f"   no secret or token in the server log ({len(log.splitlines())} lines, .run/demo-openbao/server.log)")


def healthy(addr: str) -> bool:
    try:
        return requests.get(f"{addr}/v1/sys/health", timeout=1).ok
    except requests.RequestException:
        return False


def wait_until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise DemoFailure(f"{what} did not happen in {timeout:.0f} s (logs in {RUN_DIR})")
        time.sleep(0.2)


def main() -> int:
    for path, hint in ((EMULATOR_BIN, "cargo build -p genesys-emulator"),
                       (PLUGIN_BIN, "cargo build -p vault-plugin-secrets-genesys --features endpoint-overrides")):
        if not path.exists():
            say(f"demo-openbao: {path} not found: {hint} (`make demo-openbao` does)")
            return 1
    if not BAO_BIN or not Path(BAO_BIN).is_file():
        say("demo-openbao: BAO_BIN must name the OpenBao binary (`make demo-openbao` sets it)")
        return 1
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    procs = Processes()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    started = time.monotonic()
    try:
        Demo(procs).run()
    except DemoFailure as e:
        say(f"\nFAILED: {e}")
        return 1
    except KeyboardInterrupt:
        say("\ninterrupted")
        return 1
    finally:
        procs.stop_all()
    say(f"\nDone in {time.monotonic() - started:.0f} s; the emulator and the server are stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
