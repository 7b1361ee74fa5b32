"""Many threads calling Genesys Cloud through one shared Consumer, until told to stop.

The program the rotation proof (tests/integration/consumer_sdks.rs) runs while the rotator
replaces the client ten times, and an example of sharing one Consumer between threads. Each
thread calls ``GET /api/v2/tokens/me`` through the official SDK in a loop.

Environment:
  GENESYS_SECRET_ID           the secret's ARN or name
  CALLERS                     threads (default 16)
  PAUSE_MS                    each thread's pause between two calls (default 2)
  MAX_SECONDS                 stop by itself after this long (default 300)
  CREDENTIAL_TTL_SECONDS, REFRESH_MARGIN_SECONDS   the helper's settings (defaults 300, 60)
  GENESYS_ENDPOINT_OVERRIDES  tests only: region=http://127.0.0.1:PORT,...
  AWS_REGION, AWS credentials, AWS_ENDPOINT_URL_SECRETS_MANAGER (moto), as boto3 reads them

Protocol: one JSON object per line on stdout. ``{"event": "ready", ...}`` once the consumer is
warmed up and the threads started; each stdin line ``mark LABEL`` is answered with
``{"event": "mark", "label": LABEL, ...}``; when stdin closes (or on ``stop``) the threads stop
and ``{"event": "report", ...}`` is printed. Counts: ``calls`` finished, ``ok``, ``failed``,
``failures`` (the first few, described by type and status only), ``clientId`` in use and the
consumer's ``stats``. No secret or token is ever printed.
"""

import json
import logging
import os
import sys
import threading

import boto3
import PureCloudPlatformClientV2 as genesys

import genesys_consumer
from genesys_consumer import Consumer, parse_endpoint_overrides

KEPT_FAILURES = 20


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = 0
        self.ok = 0
        self.failures = []

    def record(self, failure=None):
        with self.lock:
            self.calls += 1
            if failure is None:
                self.ok += 1
            else:
                self.failures.append(failure)

    def snapshot(self, consumer):
        with self.lock:
            return {
                "calls": self.calls,
                "ok": self.ok,
                "failed": len(self.failures),
                "failures": self.failures[:KEPT_FAILURES],
                "clientId": consumer.client_id,
                "stats": consumer.stats(),
            }


out_lock = threading.Lock()


def emit(event, **fields):
    with out_lock:
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()


def describe(error):
    """A failure as type and status: never the exception's text, whatever it may hold."""
    status = getattr(error, "status", None)
    return f"{type(error).__name__}" + (f" HTTP {status}" if status is not None else "")


def caller(consumer, tally, stop, pause):
    tokens = lambda api: genesys.TokensApi(api).get_tokens_me()  # noqa: E731
    while not stop.is_set():
        try:
            me = consumer.call(tokens)
            if isinstance(me, genesys.TokenInfo) and me.o_auth_client is not None:
                tally.record()
            else:
                tally.record("unexpected answer")
        except Exception as e:  # counted, described without its text
            tally.record(describe(e))
        stop.wait(pause)


def main():
    # The helper logs client ids and generations only (LOG_LEVEL=DEBUG shows every refresh).
    # Its logger alone: botocore's DEBUG log prints GetSecretValue's answer, the secret.
    logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("genesys_consumer").setLevel(os.environ.get("LOG_LEVEL", "WARNING"))
    consumer = Consumer(
        os.environ["GENESYS_SECRET_ID"],
        secrets_manager=boto3.client("secretsmanager"),
        endpoint_overrides=parse_endpoint_overrides(os.environ.get("GENESYS_ENDPOINT_OVERRIDES")),
        credential_ttl=float(os.environ.get("CREDENTIAL_TTL_SECONDS", "300")),
        refresh_margin=float(os.environ.get("REFRESH_MARGIN_SECONDS", "60")),
    )
    consumer.warm_up()
    tally, stop = Tally(), threading.Event()
    pause = float(os.environ.get("PAUSE_MS", "2")) / 1000
    threads = [
        threading.Thread(target=caller, args=(consumer, tally, stop, pause), daemon=True, name=f"caller-{i}")
        for i in range(int(os.environ.get("CALLERS", "16")))
    ]
    for t in threads:
        t.start()
    emit("ready", helper=genesys_consumer.__file__, **tally.snapshot(consumer))

    def give_up():
        # Bounded whatever the driver does: stop, report, exit without waiting for stdin.
        stop.set()
        emit("report", timedOut=True, **tally.snapshot(consumer))
        os._exit(0)

    watchdog = threading.Timer(float(os.environ.get("MAX_SECONDS", "300")), give_up)
    watchdog.daemon = True
    watchdog.start()
    for line in sys.stdin:
        command, _, label = line.strip().partition(" ")
        if command == "mark":
            emit("mark", label=label, **tally.snapshot(consumer))
        elif command == "stop":
            break
    stop.set()
    watchdog.cancel()
    for t in threads:
        t.join(timeout=30)
    emit("report", timedOut=False, **tally.snapshot(consumer))


if __name__ == "__main__":
    main()
