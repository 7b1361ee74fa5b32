"""Use a Genesys Cloud credential that genesys-rotator rotates, from Python.

The rotator replaces the OAuth *client*, not just its secret: after a rotation the secret's
``AWSCURRENT`` version holds a brand-new client id and secret, the old client is made inactive
(its tokens keep working, it mints no new ones) and is deleted after a drain, which kills its
tokens. A program that reads the secret once at start-up breaks on the first rotation whose old
client is deleted. :class:`Consumer` does what survives it:

- reads the secret's ``AWSCURRENT`` version with boto3 (only ``clientId``, ``clientSecret`` and
  ``region`` are used) and keeps the credential for ``credential_ttl`` seconds;
- gets a client-credentials token with the official SDK (``PureCloudPlatformClientV2``,
  ``ApiClient.get_client_credentials_token``) and reuses it until ``refresh_margin`` seconds
  before it expires;
- hands your function an authorized SDK ``ApiClient``; **on a 401** it re-reads the secret past
  the cache, gets a new token and calls your function again, once. A token request refused with
  ``invalid_client`` from a *cached* credential (its client was rotated away) re-reads the secret
  the same way;
- **one refresh for concurrent 401s**: every token has a generation number; a thread whose call
  with generation N got a 401 refreshes only if N is still current, the others wait for that
  refresh and use its token. Sixteen threads meeting the same 401 make one secret read and one
  token request;
- **on a 429** it waits ``Retry-After`` (at most ``max_retry_after`` seconds, up to
  ``max_rate_limit_retries`` times per call) and calls again; past that the SDK's
  ``ApiException`` is yours;
- never logs, prints or puts in an exception the client secret or a token (the logger
  ``genesys_consumer`` shows client ids only).

One instance per secret, shared by every thread::

    import boto3
    import PureCloudPlatformClientV2 as genesys
    from genesys_consumer import Consumer

    consumer = Consumer(SECRET_ARN, secrets_manager=boto3.client("secretsmanager"))
    consumer.warm_up()  # fail at start-up if the secret or credential is unusable
    me = consumer.call(lambda api: genesys.TokensApi(api).get_tokens_me())

Your function may be called twice (after a 401 or a 429), so keep it to one API call, or to
calls that are safe to repeat. Every other error (403, 404, 5xx, transport) is raised as the SDK
raised it: the helper cannot know whether your request is safe to repeat.

Installed with pip from a path: ``pip install ./examples/python``. Requires ``boto3`` and
``PureCloudPlatformClientV2``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable, Dict, Mapping, Optional, TypeVar
from urllib.parse import urlsplit

import PureCloudPlatformClientV2 as genesys
from PureCloudPlatformClientV2.default_http_client import DefaultHttpClient
from PureCloudPlatformClientV2.purecloud_region_hosts import PureCloudRegionHosts
from PureCloudPlatformClientV2.rest import ApiException

__all__ = [
    "Consumer",
    "ConsumerError",
    "SecretError",
    "TokenError",
    "parse_endpoint_overrides",
]
__version__ = "0.1.0"

log = logging.getLogger("genesys_consumer")

T = TypeVar("T")

AWSCURRENT = "AWSCURRENT"
#: Attempts of one token request on 5xx and transport errors (429s are counted apart).
TOKEN_ATTEMPTS = 3
#: First backoff of a token retry, and the wait of a 429 without Retry-After; doubles.
BASE_BACKOFF = 0.25
#: Token lifetime assumed when the token answer did not say (the shortest Genesys allows).
DEFAULT_LIFETIME = 300.0
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_REGIONS = {urlsplit(h.value).hostname[len("api."):]: h.value for h in PureCloudRegionHosts}


class ConsumerError(Exception):
    """The helper could not authorize a call. Never carries a secret or a token."""


class SecretError(ConsumerError):
    """The secret could not be read, or its value lacks a usable clientId, clientSecret or
    region."""


class TokenError(ConsumerError):
    """Genesys Cloud gave no token (after re-reading the secret, for a refused credential)."""

    def __init__(self, message: str, status: Optional[int] = None, error: Optional[str] = None):
        super().__init__(message)
        self.status = status
        #: The OAuth error code (``invalid_client``, ...), when there was one.
        self.error = error


def parse_endpoint_overrides(text: Optional[str]) -> Dict[str, str]:
    """``"mypurecloud.ie=http://127.0.0.1:8080,..."`` (the rotator's
    ``GENESYS_ENDPOINT_OVERRIDES`` format) as a dict. For tests against a local emulator only:
    :class:`Consumer` refuses any URL that is not loopback."""
    overrides = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        region, sep, url = item.partition("=")
        if not sep:
            raise ValueError("an endpoint override is region=url")
        overrides[region.strip()] = url.strip().rstrip("/")
    return overrides


class _Credential:
    """A credential read from the secret. Its repr never shows the secret."""

    __slots__ = ("client_id", "secret", "api_base", "read_at")

    def __init__(self, client_id: str, secret: str, api_base: str, read_at: float):
        self.client_id = client_id
        self.secret = secret
        self.api_base = api_base
        self.read_at = read_at

    def __repr__(self) -> str:
        return f"_Credential(client_id={self.client_id!r}, api_base={self.api_base!r})"


class _Session:
    """The token in use, as an authorized SDK ApiClient. Replaced, never changed."""

    __slots__ = ("generation", "api", "fresh_until", "client_id")

    def __init__(self, generation: int, api: genesys.ApiClient, fresh_until: float, client_id: str):
        self.generation = generation
        self.api = api
        self.fresh_until = fresh_until
        self.client_id = client_id

    def __repr__(self) -> str:
        return f"_Session(generation={self.generation}, client_id={self.client_id!r})"


class _InvalidClient(Exception):
    pass


_COUNTERS = ("calls", "secret_reads", "token_requests", "unauthorized", "recovered", "rate_limit_waits")


class Consumer:
    """Authorized access to Genesys Cloud with the credential held in one secret.

    Thread-safe: create one per secret and share it. ``secrets_manager`` is a boto3
    Secrets Manager client (default: ``boto3.client("secretsmanager")``). Times are in seconds.
    ``endpoint_overrides`` (region -> loopback URL) is for tests against a local emulator.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        secrets_manager=None,
        credential_ttl: float = 300.0,
        refresh_margin: float = 60.0,
        max_retry_after: float = 30.0,
        max_rate_limit_retries: int = 3,
        endpoint_overrides: Optional[Mapping[str, str]] = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if secrets_manager is None:
            import boto3

            secrets_manager = boto3.client("secretsmanager")
        self._sm = secrets_manager
        self._secret_id = secret_id
        self.credential_ttl = credential_ttl
        self.refresh_margin = refresh_margin
        self.max_retry_after = max_retry_after
        self.max_rate_limit_retries = max_rate_limit_retries
        self._overrides = dict(endpoint_overrides or {})
        for region, url in self._overrides.items():
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or parts.hostname not in _LOOPBACK_HOSTS:
                raise ValueError(
                    f"endpoint override for {region}: only loopback URLs (a local emulator) are allowed"
                )
        self._clock = clock
        self._sleep = sleep
        # Read on every call without a lock (one reference, replaced whole).
        self._session: Optional[_Session] = None
        # Held for a whole refresh (secret read, token request): the single flight.
        self._refresh_lock = threading.Lock()
        self._credential: Optional[_Credential] = None
        self._counters = dict.fromkeys(_COUNTERS, 0)
        self._counters_lock = threading.Lock()

    def __repr__(self) -> str:
        session = self._session
        return (
            f"Consumer(secret_id={self._secret_id!r}, "
            f"client_id={session.client_id if session else None!r}, "
            f"generation={session.generation if session else None!r})"
        )

    # ---- public -------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Reads the secret and gets a token now, so that a broken configuration fails at
        start-up rather than on the first call."""
        self._current_session(None)

    def call(self, fn: Callable[[genesys.ApiClient], T]) -> T:
        """Calls ``fn`` with an authorized SDK ``ApiClient`` and returns what it returns, once
        401s and 429s have been handled as the module docs describe."""
        stale = None
        reauthenticated = False
        counted_recovery = False
        rate_limited = 0
        while True:
            session = self._current_session(stale)
            stale = None
            self._bump("calls")
            try:
                result = fn(session.api)
            except ApiException as e:
                if e.status == 401:
                    self._bump("unauthorized")
                    if not reauthenticated:
                        log.debug(
                            "Genesys Cloud refused the token of client %s (generation %d); re-reading the secret",
                            session.client_id,
                            session.generation,
                        )
                        reauthenticated = True
                        stale = session.generation
                        continue
                    log.warning("Genesys Cloud refused a fresh token of client %s too", session.client_id)
                    raise
                if reauthenticated and not counted_recovery:
                    counted_recovery = True
                    self._bump("recovered")
                if e.status == 429 and rate_limited < self.max_rate_limit_retries:
                    wait = _retry_after(e.headers)
                    wait = _backoff(rate_limited + 1) if wait is None else wait
                    if wait <= self.max_retry_after:
                        rate_limited += 1
                        self._bump("rate_limit_waits")
                        # The refreshed token was accepted: a 401 after the wait (the client
                        # replaced meanwhile) is a new one, recovered like the first.
                        reauthenticated = False
                        log.debug("Genesys Cloud rate limit; waiting %.1f s", wait)
                        self._sleep(wait)
                        continue
                raise
            if reauthenticated and not counted_recovery:
                self._bump("recovered")
            return result

    def stats(self) -> Dict[str, int]:
        """Counters of what this consumer has done: ``calls`` (attempts of your function,
        retries included), ``secret_reads``, ``token_requests``, ``tokens`` (the current token
        generation), ``unauthorized`` (401s), ``recovered`` (401s whose retry got another
        answer), ``rate_limit_waits``."""
        with self._counters_lock:
            out = dict(self._counters)
        session = self._session
        out["tokens"] = session.generation if session else 0
        return out

    @property
    def client_id(self) -> Optional[str]:
        """The OAuth client id of the token in use (not secret), if there is one yet."""
        session = self._session
        return session.client_id if session else None

    # ---- the single flight ----------------------------------------------------------------------

    def _bump(self, name: str) -> None:
        with self._counters_lock:
            self._counters[name] += 1

    def _usable(self, refused: Optional[int]) -> Optional[_Session]:
        session = self._session
        if session is None or session.generation == refused or self._clock() >= session.fresh_until:
            return None
        return session

    def _current_session(self, refused: Optional[int]) -> _Session:
        session = self._usable(refused)
        if session is not None:
            return session
        with self._refresh_lock:
            # Whoever held the lock before may have refreshed already.
            session = self._usable(refused)
            if session is not None:
                return session
            current = self._session
            # The refused token is still the current one: the credential behind it may be
            # rotated away too, so read the secret past the cache.
            force = refused is not None and current is not None and current.generation == refused
            generation = (current.generation if current else 0) + 1
            session = self._refresh(force, generation)
            self._session = session
            return session

    def _refresh(self, force: bool, generation: int) -> _Session:
        cred = self._credential
        reread = force or cred is None or self._clock() - cred.read_at >= self.credential_ttl
        while True:
            if reread:
                self._credential = self._read_secret()
            cred = self._credential
            try:
                api, lifetime = self._fetch_token(cred)
            except _InvalidClient as e:
                if not reread:
                    # A cached credential refused: the client was rotated away.
                    log.debug("cached credential of client %s refused; re-reading the secret", cred.client_id)
                    reread = True
                    continue
                raise TokenError(f"Genesys Cloud refused client {cred.client_id}: {e}", None, "invalid_client") from None
            log.debug("got a Genesys Cloud token for client %s (generation %d)", cred.client_id, generation)
            margin = min(self.refresh_margin, lifetime)
            return _Session(generation, api, self._clock() + lifetime - margin, cred.client_id)

    # ---- Secrets Manager and the token endpoint -------------------------------------------------

    def _read_secret(self) -> _Credential:
        self._bump("secret_reads")
        try:
            out = self._sm.get_secret_value(SecretId=self._secret_id, VersionStage=AWSCURRENT)
        except Exception as e:  # botocore's errors carry no secret value
            raise SecretError(f"could not read the secret: {type(e).__name__}: {e}") from None
        text = out.get("SecretString")
        if text is None:
            raise SecretError("the secret's AWSCURRENT value is not a string")
        try:
            value = json.loads(text)
        except ValueError:
            # Never chain: the decode error holds the whole value.
            raise SecretError("the secret's value is not JSON") from None
        if not isinstance(value, dict):
            raise SecretError("the secret's value is not a JSON object")
        fields = {}
        for name in ("clientId", "clientSecret", "region"):
            field = value.get(name)
            if not isinstance(field, str) or not field:
                raise SecretError(f"the secret's value lacks {name}")
            fields[name] = field
        region = fields["region"]
        if region in self._overrides:
            api_base = self._overrides[region]
        elif region in _REGIONS:
            api_base = _REGIONS[region]
        else:
            raise SecretError(f"the secret's region {region!r} is not a Genesys Cloud region")
        log.debug("read the secret: client %s, version %s", fields["clientId"], out.get("VersionId"))
        return _Credential(fields["clientId"], fields["clientSecret"], api_base, self._clock())

    def _fetch_token(self, cred: _Credential):
        """One token as an authorized ApiClient and its lifetime, retrying 429s (within the
        settings) and 5xx or transport failures a few times."""
        failures = 0
        rate_limited = 0
        while True:
            self._bump("token_requests")
            # A fresh ApiClient per token: sessions are replaced, never changed, so threads still
            # using the previous one are never handed a half-updated client.
            api = genesys.ApiClient(host=cred.api_base)
            http = _http_client()
            answer = {}

            # The SDK keeps the token but drops expires_in: read it from the token answer.
            def remember_lifetime(response):
                try:
                    answer["expires_in"] = float(json.loads(response.data)["expires_in"])
                except (ValueError, KeyError, TypeError):
                    pass
                return response

            http.set_post_request_hook(remember_lifetime)
            api.set_http_client(http)
            try:
                api.get_client_credentials_token(cred.client_id, cred.secret)
                return api, answer.get("expires_in", DEFAULT_LIFETIME)
            except ApiException as e:
                status, error = e.status, _oauth_error(e.body)
                if error == "invalid_client" and status in (400, 401):
                    raise _InvalidClient(f"HTTP {status} invalid_client") from None
                if status == 429 and rate_limited < self.max_rate_limit_retries:
                    rate_limited += 1
                    wait = _retry_after(e.headers)
                    wait = _backoff(rate_limited) if wait is None else wait
                    if wait > self.max_retry_after:
                        raise TokenError(f"token request rate-limited for {wait:.0f} s", status, error) from None
                    self._bump("rate_limit_waits")
                    self._sleep(wait)
                    continue
                if (status == 0 or status >= 500) and failures + 1 < TOKEN_ATTEMPTS:
                    failures += 1
                    self._sleep(_backoff(failures))
                    continue
                raise TokenError(f"token request failed: HTTP {status} {error or ''}".rstrip(), status, error) from None
            except Exception as e:  # transport: urllib3 errors carry the URL, never the headers
                if failures + 1 < TOKEN_ATTEMPTS:
                    failures += 1
                    self._sleep(_backoff(failures))
                    continue
                raise TokenError(f"token request failed: {type(e).__name__}") from None
            finally:
                http.post_hook = None


def _http_client() -> DefaultHttpClient:
    """The SDK's HTTP client, except that 429s come back to the helper: the SDK's urllib3
    ``Retry()`` would otherwise sleep through any ``Retry-After``, however long, before the
    helper sees the answer. Other retries (connection errors) stay as the SDK sets them."""
    http = DefaultHttpClient()
    try:
        pool = http.rest_client.pool_manager
        pool.connection_pool_kw["retries"] = pool.connection_pool_kw["retries"].new(respect_retry_after_header=False)
    except (AttributeError, KeyError, TypeError):  # another SDK layout: keep its behaviour
        log.debug("could not take over 429 handling from the SDK's HTTP client")
    return http


def _oauth_error(body) -> Optional[str]:
    try:
        value = json.loads(body or "")
    except (ValueError, TypeError):
        return None
    return value.get("error") if isinstance(value, dict) else None


def _retry_after(headers) -> Optional[float]:
    """``Retry-After`` in whole seconds (what Genesys sends), or None."""
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return float(int(value.strip())) if value is not None else None
    except (ValueError, AttributeError):
        return None


def _backoff(n: int) -> float:
    """``BASE_BACKOFF * 2^(n-1)`` for the n-th wait, at most 64 times the base."""
    return BASE_BACKOFF * 2 ** min(max(n, 1) - 1, 6)
