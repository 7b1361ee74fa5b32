'use strict';
/**
 * Use a Genesys Cloud credential that genesys-rotator rotates, from Node.js.
 *
 * The rotator replaces the OAuth *client*, not just its secret: after a rotation the secret's
 * AWSCURRENT version holds a brand-new client id and secret, the old client is made inactive (its
 * tokens keep working, it mints no new ones) and is deleted after a drain, which kills its
 * tokens. A program that reads the secret once at start-up breaks on the first rotation whose old
 * client is deleted. `Consumer` does what survives it:
 *
 * - reads the secret's AWSCURRENT version with `@aws-sdk/client-secrets-manager` (only
 *   `clientId`, `clientSecret` and `region` are used) and keeps the credential for
 *   `credentialTtlMs`;
 * - gets a client-credentials token with the official SDK (`purecloud-platform-client-v2`,
 *   `ApiClient.loginClientCredentialsGrant`) and reuses it until `refreshMarginMs` before it
 *   expires;
 * - hands your function an authorized SDK `ApiClient`; **on a 401** it re-reads the secret past
 *   the cache, gets a new token and calls your function again, once. A token request refused with
 *   `invalid_client` from a *cached* credential (its client was rotated away) re-reads the secret
 *   the same way;
 * - **one refresh for concurrent 401s**: every token has a generation number; a caller whose call
 *   with generation N got a 401 refreshes only if N is still current, the others await that
 *   refresh and use its token;
 * - **on a 429** it waits `Retry-After` (at most `maxRetryAfterMs`, up to `maxRateLimitRetries`
 *   times per call) and calls again; past that the error is yours;
 * - never logs the client secret or a token, and never lets one out in an error: the SDK's
 *   rejections carry the request (its Authorization header), so they are replaced by a
 *   `GenesysApiError` with the answer's status, headers and body only.
 *
 * The `ApiClient` your function gets returns the SDK's *extended* responses
 * (`setReturnExtendedResponses(true)`: `{status, headers, body}`), which is how the helper reads
 * `Retry-After`:
 *
 *     const platformClient = require('purecloud-platform-client-v2');
 *     const { Consumer } = require('./genesys-consumer');
 *     const consumer = new Consumer({ secretId: SECRET_ARN });
 *     await consumer.warmUp(); // fail at start-up if the secret or credential is unusable
 *     const me = (await consumer.call((api) => new platformClient.TokensApi(api).getTokensMe())).body;
 *
 * Your function may be called twice (after a 401 or a 429), so keep it to one API call, or to
 * calls that are safe to repeat. Every other answer (403, 404, 5xx) and transport errors are
 * thrown as they are (sanitized): the helper cannot know whether your request is safe to repeat.
 */

const util = require('node:util');
const platformClient = require('purecloud-platform-client-v2');
const { SecretsManagerClient, GetSecretValueCommand } = require('@aws-sdk/client-secrets-manager');

const AWSCURRENT = 'AWSCURRENT';
/** Attempts of one token request on 5xx and transport errors (429s are counted apart). */
const TOKEN_ATTEMPTS = 3;
/** First backoff of a token retry, and the wait of a 429 without Retry-After; doubles. */
const BASE_BACKOFF_MS = 250;
/** Token lifetime assumed when the token answer did not say (the shortest Genesys allows). */
const DEFAULT_LIFETIME_MS = 300_000;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const REGIONS = new Set(Object.values(platformClient.PureCloudRegionHosts));

/** The helper could not authorize a call. Never carries a secret or a token. */
class ConsumerError extends Error {}

/** The secret could not be read, or lacks a usable clientId, clientSecret or region. */
class SecretError extends ConsumerError {}

/** Genesys Cloud gave no token (after re-reading the secret, for a refused credential). */
class TokenError extends ConsumerError {
  constructor(message, status, error) {
    super(message);
    this.status = status;
    /** The OAuth error code (`invalid_client`, ...), when there was one. */
    this.error = error;
  }
}

/**
 * An error answer of the API, as the SDK's extended rejection without the request: `status`,
 * `statusText`, `headers` (the answer's), `body`.
 */
class GenesysApiError extends Error {
  constructor(rejection) {
    const body = rejection.body;
    super(`Genesys Cloud answered HTTP ${rejection.status}${body && body.code ? ` ${body.code}` : ''}`);
    this.status = rejection.status;
    this.statusText = rejection.statusText;
    this.headers = rejection.headers;
    this.body = body;
  }
}

/**
 * `"mypurecloud.ie=http://127.0.0.1:8080,..."` (the rotator's GENESYS_ENDPOINT_OVERRIDES format)
 * as an object. For tests against a local emulator only: `Consumer` refuses non-loopback URLs.
 */
function parseEndpointOverrides(text) {
  const overrides = {};
  for (const item of (text || '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const at = item.indexOf('=');
    if (at < 0) throw new Error('an endpoint override is region=url');
    overrides[item.slice(0, at).trim()] = item.slice(at + 1).trim().replace(/\/+$/, '');
  }
  return overrides;
}

const COUNTERS = ['calls', 'secretReads', 'tokenRequests', 'unauthorized', 'recovered', 'rateLimitWaits'];

class Consumer {
  /**
   * @param {object} options
   * @param {string} options.secretId - the secret's ARN or name
   * @param {SecretsManagerClient} [options.secretsManager] - default `new SecretsManagerClient({})`
   * @param {number} [options.credentialTtlMs=300000]
   * @param {number} [options.refreshMarginMs=60000]
   * @param {number} [options.maxRetryAfterMs=30000]
   * @param {number} [options.maxRateLimitRetries=3]
   * @param {number} [options.timeoutMs=16000] - of each HTTP request to Genesys Cloud
   * @param {Object<string,string>} [options.endpointOverrides] - tests: region -> loopback URL
   */
  constructor(options) {
    const o = options || {};
    if (!o.secretId) throw new Error('secretId is required');
    this._secretId = o.secretId;
    this._sm = o.secretsManager || new SecretsManagerClient({});
    this.credentialTtlMs = o.credentialTtlMs ?? 300_000;
    this.refreshMarginMs = o.refreshMarginMs ?? 60_000;
    this.maxRetryAfterMs = o.maxRetryAfterMs ?? 30_000;
    this.maxRateLimitRetries = o.maxRateLimitRetries ?? 3;
    this.timeoutMs = o.timeoutMs ?? 16_000;
    this._overrides = {};
    for (const [region, url] of Object.entries(o.endpointOverrides || {})) {
      const parsed = new URL(url);
      if (!['http:', 'https:'].includes(parsed.protocol) || !LOOPBACK_HOSTS.has(parsed.hostname)) {
        throw new Error(`endpoint override for ${region}: only loopback URLs (a local emulator) are allowed`);
      }
      this._overrides[region] = parsed;
    }
    this._session = null;
    this._refreshing = null;
    this._credential = null;
    this._counters = Object.fromEntries(COUNTERS.map((c) => [c, 0]));
  }

  [util.inspect.custom]() {
    return `Consumer { secretId: ${this._secretId}, clientId: ${this.clientId}, generation: ${this.stats().tokens} }`;
  }

  toJSON() {
    return { secretId: this._secretId, clientId: this.clientId };
  }

  /** Reads the secret and gets a token now, so that a broken configuration fails at start-up. */
  async warmUp() {
    await this._currentSession(null);
  }

  /**
   * Calls `fn` with an authorized SDK ApiClient (extended responses) and returns what it
   * returns, once 401s and 429s have been handled as the module docs describe.
   */
  async call(fn) {
    let stale = null;
    let reauthenticated = false;
    let countedRecovery = false;
    let rateLimited = 0;
    for (;;) {
      const session = await this._currentSession(stale);
      stale = null;
      this._counters.calls += 1;
      let result;
      try {
        result = await fn(session.api);
      } catch (rejection) {
        const error = sanitize(rejection);
        if (error.status === 401) {
          this._counters.unauthorized += 1;
          if (!reauthenticated) {
            reauthenticated = true;
            stale = session.generation;
            continue;
          }
          throw error;
        }
        if (reauthenticated && !countedRecovery) {
          countedRecovery = true;
          this._counters.recovered += 1;
        }
        if (error.status === 429 && rateLimited < this.maxRateLimitRetries) {
          const wait = retryAfterMs(error.headers) ?? backoffMs(rateLimited + 1);
          if (wait <= this.maxRetryAfterMs) {
            rateLimited += 1;
            this._counters.rateLimitWaits += 1;
            // The refreshed token was accepted: a 401 after the wait (the client replaced
            // meanwhile) is a new one, recovered like the first.
            reauthenticated = false;
            await sleep(wait);
            continue;
          }
        }
        throw error;
      }
      if (reauthenticated && !countedRecovery) this._counters.recovered += 1;
      return result;
    }
  }

  /**
   * Counters: `calls` (attempts of your function, retries included), `secretReads`,
   * `tokenRequests`, `tokens` (the current token generation), `unauthorized` (401s),
   * `recovered` (401s whose retry got another answer), `rateLimitWaits`.
   */
  stats() {
    return { ...this._counters, tokens: this._session ? this._session.generation : 0 };
  }

  /** The OAuth client id of the token in use (not secret), if there is one yet. */
  get clientId() {
    return this._session ? this._session.clientId : null;
  }

  // ---- the single flight -----------------------------------------------------------------------

  _usable(refused) {
    const s = this._session;
    if (!s || s.generation === refused || Date.now() >= s.freshUntil) return null;
    return s;
  }

  async _currentSession(refused) {
    for (;;) {
      const usable = this._usable(refused);
      if (usable) return usable;
      if (!this._refreshing) break;
      // Someone is refreshing: use its result (or, if it failed, try ourselves).
      await this._refreshing.catch(() => {});
    }
    const current = this._session;
    // The refused token is still the current one: the credential behind it may be rotated away
    // too, so read the secret past the cache.
    const force = refused !== null && current !== null && current.generation === refused;
    const generation = (current ? current.generation : 0) + 1;
    const refreshing = this._refresh(force, generation).then((session) => {
      this._session = session;
      return session;
    });
    this._refreshing = refreshing;
    try {
      return await refreshing;
    } finally {
      if (this._refreshing === refreshing) this._refreshing = null;
    }
  }

  async _refresh(force, generation) {
    let cred = this._credential;
    let reread = force || !cred || Date.now() - cred.readAt >= this.credentialTtlMs;
    for (;;) {
      if (reread) this._credential = await this._readSecret();
      cred = this._credential;
      try {
        const { api, lifetimeMs } = await this._fetchToken(cred);
        const margin = Math.min(this.refreshMarginMs, lifetimeMs);
        return new Session(generation, api, Date.now() + lifetimeMs - margin, cred.clientId);
      } catch (e) {
        if (e instanceof TokenError && e.error === 'invalid_client' && !reread) {
          // A cached credential refused: the client was rotated away.
          reread = true;
          continue;
        }
        throw e;
      }
    }
  }

  // ---- Secrets Manager and the token endpoint ---------------------------------------------------

  async _readSecret() {
    this._counters.secretReads += 1;
    let out;
    try {
      out = await this._sm.send(new GetSecretValueCommand({ SecretId: this._secretId, VersionStage: AWSCURRENT }));
    } catch (e) {
      throw new SecretError(`could not read the secret: ${e.name}`);
    }
    let value;
    try {
      value = JSON.parse(out.SecretString);
    } catch (_) {
      throw new SecretError("the secret's value is not JSON");
    }
    if (!value || typeof value !== 'object') throw new SecretError("the secret's value is not a JSON object");
    for (const name of ['clientId', 'clientSecret', 'region']) {
      if (typeof value[name] !== 'string' || !value[name]) throw new SecretError(`the secret's value lacks ${name}`);
    }
    const region = value.region;
    if (!this._overrides[region] && !REGIONS.has(region)) {
      throw new SecretError(`the secret's region ${JSON.stringify(region)} is not a Genesys Cloud region`);
    }
    return new Credential(value.clientId, value.clientSecret, region, Date.now());
  }

  /** A fresh, authorized ApiClient for `cred` and its token's lifetime. */
  async _fetchToken(cred) {
    let failures = 0;
    let rateLimited = 0;
    for (;;) {
      this._counters.tokenRequests += 1;
      // A fresh ApiClient per token: sessions are replaced, never changed, so callers still
      // using the previous one never see a half-updated client.
      const api = new platformClient.ApiClientClass();
      api.config.live_reload_config = false; // no file watcher per client
      api.setReturnExtendedResponses(true);
      api.timeout = this.timeoutMs;
      const override = this._overrides[cred.region];
      if (override) {
        // The SDK builds https://api.<env> and https://login.<env>; a gateway sends both to
        // the one loopback base URL of the emulator.
        api.setGateway({
          host: override.hostname,
          protocol: override.protocol.replace(':', ''),
          port: override.port ? Number(override.port) : -1,
          path_params_login: '',
          path_params_api: '',
        });
      } else {
        api.setEnvironment(cred.region);
      }
      let status;
      let oauthError;
      let headers;
      try {
        const auth = await api.loginClientCredentialsGrant(cred.clientId, cred.secret());
        const lifetimeMs = auth.tokenExpiryTime ? auth.tokenExpiryTime - Date.now() : DEFAULT_LIFETIME_MS;
        return { api, lifetimeMs: Math.max(lifetimeMs, 0) };
      } catch (e) {
        // An axios error: its config holds the Basic header (the secret). Keep the answer only.
        const response = e && e.response;
        status = response ? response.status : 0;
        headers = response ? response.headers : undefined;
        oauthError = response && response.data && typeof response.data === 'object' ? response.data.error : undefined;
      }
      if ((status === 400 || status === 401) && oauthError === 'invalid_client') {
        throw new TokenError(`Genesys Cloud refused client ${cred.clientId}: HTTP ${status} invalid_client`, status, oauthError);
      }
      if (status === 429 && rateLimited < this.maxRateLimitRetries) {
        rateLimited += 1;
        const wait = retryAfterMs(headers) ?? backoffMs(rateLimited);
        if (wait > this.maxRetryAfterMs) {
          throw new TokenError(`token request rate-limited for ${wait / 1000} s`, status, oauthError);
        }
        this._counters.rateLimitWaits += 1;
        await sleep(wait);
        continue;
      }
      if ((status === 0 || status >= 500) && failures + 1 < TOKEN_ATTEMPTS) {
        failures += 1;
        await sleep(backoffMs(failures));
        continue;
      }
      throw new TokenError(`token request failed: HTTP ${status}${oauthError ? ` ${oauthError}` : ''}`, status, oauthError);
    }
  }
}

/** A credential read from the secret: the secret sits in a closure, out of inspection and JSON. */
class Credential {
  constructor(clientId, secret, region, readAt) {
    this.clientId = clientId;
    this.region = region;
    this.readAt = readAt;
    this.secret = () => secret;
  }

  [util.inspect.custom]() {
    return `Credential { clientId: ${this.clientId}, region: ${this.region} }`;
  }
}

/** The token in use, as an authorized ApiClient. Replaced, never changed. */
class Session {
  constructor(generation, api, freshUntil, clientId) {
    this.generation = generation;
    this.api = api;
    this.freshUntil = freshUntil;
    this.clientId = clientId;
  }

  [util.inspect.custom]() {
    return `Session { generation: ${this.generation}, clientId: ${this.clientId} }`;
  }
}

/** The SDK's rejection without the request it carries (its Authorization header). */
function sanitize(rejection) {
  if (rejection instanceof ConsumerError || rejection instanceof GenesysApiError) return rejection;
  if (rejection && typeof rejection === 'object' && typeof rejection.status === 'number' && 'body' in rejection) {
    return new GenesysApiError(rejection); // an extended response: status, headers, body
  }
  if (rejection && rejection.isAxiosError) {
    // No answer (connection refused, timeout): an axios error, whose config holds the token.
    const code = rejection.code || rejection.name;
    return new ConsumerError(`the request to Genesys Cloud failed${code ? `: ${code}` : ''}`);
  }
  return rejection; // the caller's own error
}

/** `Retry-After` in whole seconds (what Genesys sends), in milliseconds, or undefined. */
function retryAfterMs(headers) {
  const value = headers && (typeof headers.get === 'function' ? headers.get('retry-after') : headers['retry-after']);
  if (value === undefined || value === null) return undefined;
  const seconds = Number.parseInt(String(value).trim(), 10);
  return Number.isNaN(seconds) || String(seconds) !== String(value).trim() ? undefined : seconds * 1000;
}

/** `BASE_BACKOFF_MS * 2^(n-1)` for the n-th wait, at most 64 times the base. */
function backoffMs(n) {
  return BASE_BACKOFF_MS * 2 ** Math.min(Math.max(n, 1) - 1, 6);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = {
  Consumer,
  ConsumerError,
  SecretError,
  TokenError,
  GenesysApiError,
  parseEndpointOverrides,
};
