"""SDK fidelity test: the official Genesys Cloud Python SDK (PureCloudPlatformClientV2 v269)
must understand every answer of the emulator (tests/emulator).

The SDK deserializes answers into its generated models (OAuthClient, OAuthClientEntityListing,
TokenInfo, ...) by their JSON keys, parses dates with dateutil, and maps unknown enum values to
"outdated_sdk_version". Checking that the models come back with the expected fields populated
proves the emulator's wire format is the real API's, as far as the SDK knows it.

How the token call reaches the emulator (read from PureCloudPlatformClientV2/api_client.py,
ApiClient.get_conf_url): with no gateway configured, the login URL is the API host with
``re.sub(r'//(api)\\.', '//login.', host)`` applied, so ``https://api.mypurecloud.com`` becomes
``https://login.mypurecloud.com``. A host with no ``//api.`` in it, like the emulator's
``http://127.0.0.1:PORT``, is left unchanged: ``/oauth/token`` and ``/api/v2/...`` both go to the
emulator's one base URL. test_login_host_is_the_api_host pins this down.

Run (from the repository root, after ``cargo build -p genesys-emulator``):
    python3 -m venv /tmp/sdkvenv && /tmp/sdkvenv/bin/pip install -r tests/sdk_fidelity/requirements.txt
    /tmp/sdkvenv/bin/python -m pytest tests/sdk_fidelity -q
The emulator binary comes from $GENESYS_EMULATOR_BIN (default target/debug/genesys-emulator,
relative to the repository root).
"""

import contextlib
import datetime
import json
import os
import re
import signal
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
import requests
import PureCloudPlatformClientV2 as genesys
from PureCloudPlatformClientV2.rest import ApiException

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_PERMISSIONS = [
    "oauth:client:view",
    "oauth:client:add",
    "oauth:client:edit",
    "oauth:client:delete",
    "integrations:integration:view",
    "integrations:integration:add",
    "integrations:integration:edit",
    "integrations:integration:delete",
]
LISTENING = re.compile(r"^genesys-emulator listening on (http://127\.0\.0\.1:\d+)$")


def emulator_binary() -> Path:
    path = Path(os.environ.get("GENESYS_EMULATOR_BIN", "target/debug/genesys-emulator"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.exists():
        pytest.fail(f"emulator binary not found at {path}: run `cargo build -p genesys-emulator`")
    return path


@contextlib.contextmanager
def running_emulator(*flags: str):
    """The emulator binary, started with these flags; yields its base URL."""
    proc = subprocess.Popen(
        [str(emulator_binary()), "--listen", "127.0.0.1:0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    # Read the one announcement line, but never hang the suite on a binary that stays silent.
    line = {}
    reader = threading.Thread(target=lambda: line.setdefault("v", proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=30)
    match = LISTENING.match(line.get("v", "").strip())
    if not match:
        proc.kill()
        pytest.fail(f"emulator did not announce its URL: {line.get('v')!r}")
    try:
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=10) == 0, "emulator exits cleanly on SIGTERM"
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


@pytest.fixture(scope="module")
def emulator_url():
    with running_emulator() as url:
        yield url


def admin(url: str, method: str, path: str, body=None):
    resp = requests.request(method, f"{url}/__admin{path}", json=body, timeout=10)
    resp.raise_for_status()
    return resp.json() if resp.content else None


@pytest.fixture(scope="module")
def master(emulator_url):
    """A seeded client holding every OAuth client permission, like the rotator's master client."""
    return admin(emulator_url, "POST", "/clients", {"name": "sdk-master", "permissions": ADMIN_PERMISSIONS})


@pytest.fixture(scope="module")
def role_id(emulator_url):
    role = f"role-{uuid.uuid4()}"
    admin(emulator_url, "POST", "/roles", {"roleId": role, "permissions": ["oauth:client:view"]})
    return role


def login(url: str, client_id: str, secret: str) -> genesys.ApiClient:
    client = genesys.ApiClient(host=url).get_client_credentials_token(client_id, secret)
    assert isinstance(client, genesys.ApiClient)
    assert client.access_token and len(client.access_token) >= 32
    return client


@pytest.fixture
def oauth(emulator_url, master) -> genesys.OAuthApi:
    return genesys.OAuthApi(login(emulator_url, master["id"], master["secret"]))


def error_code(exc: ApiException) -> str:
    return json.loads(exc.body)["code"]


def test_login_host_is_the_api_host(emulator_url):
    client = genesys.ApiClient(host=emulator_url)
    assert client.get_conf_url("login", emulator_url) == emulator_url
    assert client.get_conf_url("api", emulator_url) == emulator_url
    # The substitution it relies on, for a real region:
    assert client.get_conf_url("login", "https://api.mypurecloud.ie") == "https://login.mypurecloud.ie"


def test_client_lifecycle_through_the_sdk(emulator_url, master, role_id, oauth):
    request = genesys.OAuthClientRequest()
    request.name = "sdk-rotated"
    request.description = "made by the SDK fidelity test"
    request.authorized_grant_type = "CLIENT-CREDENTIALS"
    request.access_token_validity_seconds = 600
    division = genesys.RoleDivision()
    division.role_id = role_id
    division.division_id = "home-division"
    request.role_divisions = [division]

    # Create: 200 with the secret.
    created = oauth.post_oauth_clients(request)
    assert isinstance(created, genesys.OAuthClient)
    assert created.id and created.name == "sdk-rotated"
    assert created.secret, "create returns the secret"
    assert created.state == "active"
    assert created.authorized_grant_type == "CLIENT-CREDENTIALS"
    assert created.access_token_validity_seconds == 600
    assert created.description == "made by the SDK fidelity test"
    assert isinstance(created.date_created, datetime.datetime)
    assert created.date_created.tzinfo is not None
    assert isinstance(created.date_modified, datetime.datetime)
    assert isinstance(created.created_by, genesys.DomainEntityRef)
    assert created.created_by.id == master["id"]
    assert len(created.role_divisions) == 1
    assert isinstance(created.role_divisions[0], genesys.RoleDivision)
    assert created.role_divisions[0].role_id == role_id
    assert created.role_divisions[0].division_id == "home-division"
    assert created.role_ids == [role_id]
    assert created.self_uri == f"/api/v2/oauth/clients/{created.id}"

    # List: every entity an OAuthClient, no secrets.
    listing = oauth.get_oauth_clients()
    assert isinstance(listing, genesys.OAuthClientEntityListing)
    assert listing.page_number == 1 and listing.page_count == 1
    assert listing.total == len(listing.entities) >= 2
    assert listing.next_uri is None
    assert all(isinstance(c, genesys.OAuthClient) for c in listing.entities)
    assert all(c.secret is None for c in listing.entities)
    assert created.id in {c.id for c in listing.entities}

    # Read: no secret.
    fetched = oauth.get_oauth_client(created.id)
    assert isinstance(fetched, genesys.OAuthClient)
    assert fetched.secret is None
    assert fetched.date_created == created.date_created
    assert fetched.role_divisions[0].role_id == role_id

    # The new client logs in and sees itself through tokens/me.
    child = login(emulator_url, created.id, created.secret)
    me = genesys.TokensApi(child).get_tokens_me()
    assert isinstance(me, genesys.TokenInfo)
    assert isinstance(me.o_auth_client, genesys.OrgOAuthClient)
    assert me.o_auth_client.id == created.id
    assert me.o_auth_client.name == "sdk-rotated"
    assert me.o_auth_client.state == "active"
    assert isinstance(me.o_auth_client.date_created, datetime.datetime)
    assert isinstance(me.o_auth_client.organization, genesys.NamedEntity)
    assert isinstance(me.organization, genesys.NamedEntity) and me.organization.id
    assert isinstance(me.home_organization, genesys.NamedEntity)
    assert me.organization.id == me.o_auth_client.organization.id
    assert isinstance(me.authorized_scope, list)
    # Its role only lets it view.
    genesys.OAuthApi(child).get_oauth_clients()
    with pytest.raises(ApiException) as forbidden:
        genesys.OAuthApi(child).post_oauth_clients(request)
    assert forbidden.value.status == 403
    assert error_code(forbidden.value) == "missing.permissions"

    # New secret: returned once, the old one stops working.
    rotated = oauth.post_oauth_client_secret(created.id)
    assert isinstance(rotated, genesys.OAuthClient)
    assert rotated.secret and rotated.secret != created.secret
    with pytest.raises(ApiException) as refused:
        login(emulator_url, created.id, created.secret)
    assert refused.value.status == 401
    assert json.loads(refused.value.body)["error"] == "invalid_client"
    login(emulator_url, created.id, rotated.secret)

    # Delete needs inactive first.
    with pytest.raises(ApiException) as active_delete:
        oauth.delete_oauth_client(created.id)
    assert active_delete.value.status == 400
    assert error_code(active_delete.value) == "bad.request"

    update = genesys.OAuthClientRequest()
    update.name = "sdk-rotated"
    update.authorized_grant_type = "CLIENT-CREDENTIALS"
    update.role_divisions = [division]
    update.state = "inactive"
    updated = oauth.put_oauth_client(created.id, update)
    assert isinstance(updated, genesys.OAuthClient)
    assert updated.state == "inactive"
    assert updated.secret is None
    assert updated.access_token_validity_seconds == 86400, "PUT is a full replace"
    assert isinstance(updated.modified_by, genesys.DomainEntityRef)
    # Inactive: the token it already has keeps working, a new one is refused.
    assert genesys.TokensApi(child).get_tokens_me().o_auth_client.state == "inactive"
    with pytest.raises(ApiException) as inactive_login:
        login(emulator_url, created.id, rotated.secret)
    assert inactive_login.value.status == 400

    assert oauth.delete_oauth_client(created.id) is None
    with pytest.raises(ApiException) as gone:
        oauth.get_oauth_client(created.id)
    assert gone.value.status == 404
    assert error_code(gone.value) == "not.found"
    with pytest.raises(ApiException) as dead_token:
        genesys.TokensApi(child).get_tokens_me()
    assert dead_token.value.status == 401
    assert error_code(dead_token.value) == "bad.credentials"

    inventory = admin(emulator_url, "GET", "/clients")
    assert created.id not in {c["id"] for c in inventory}
    assert created.id in admin(emulator_url, "GET", "/deleted")


def test_date_to_delete_round_trips(oauth):
    request = genesys.OAuthClientRequest()
    request.name = "sdk-dated"
    request.authorized_grant_type = "CLIENT-CREDENTIALS"
    when = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    request.date_to_delete = when
    created = oauth.post_oauth_clients(request)
    assert created.date_to_delete == when
    assert oauth.get_oauth_client(created.id).date_to_delete == when


def test_error_body_for_an_unknown_grant_type(emulator_url, oauth):
    # The SDK model maps an unknown enum to "outdated_sdk_version" before sending, so post the
    # wrong spelling raw, with the SDK's token.
    token = oauth.api_client.access_token
    resp = requests.post(
        f"{emulator_url}/api/v2/oauth/clients",
        json={"name": "x", "authorizedGrantType": "CLIENT_CREDENTIALS"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert resp.status_code == 400
    body = resp.json()
    assert set(body) >= {"message", "code", "status", "contextId", "details", "errors", "messageParams"}
    assert body["code"] == "bad.request" and body["status"] == 400


def test_sdk_retries_through_faults(emulator_url, master, oauth):
    """The SDK's urllib3 Retry honours Retry-After on 429 and retries dropped connections: both
    show the faults look like the real thing on the wire."""
    counts_before = admin(emulator_url, "GET", "/calls")
    admin(emulator_url, "POST", "/faults", {
        "route": "GET /api/v2/oauth/clients/{id}",
        "clientId": master["id"],
        "action": {"type": "status", "status": 429, "retryAfter": 1},
    })
    assert oauth.get_oauth_client(master["id"]).id == master["id"]
    admin(emulator_url, "POST", "/faults", {"route": "GET /api/v2/oauth/clients", "action": {"type": "drop"}})
    assert isinstance(oauth.get_oauth_clients(), genesys.OAuthClientEntityListing)
    counts = admin(emulator_url, "GET", "/calls")
    for route in ("GET /api/v2/oauth/clients/{id}", "GET /api/v2/oauth/clients"):
        assert counts[route] - counts_before.get(route, 0) == 2, route


def test_short_listing_fault_keeps_the_sdk_listing_shape(emulator_url, master, oauth):
    """The shortListing fault answers a listing the SDK reads like any other, one client short of
    its own `total` (what the rotator checks, `GenesysError::IncompleteListing`)."""
    whole = oauth.get_oauth_clients()
    admin(emulator_url, "POST", "/faults", {"route": "GET /api/v2/oauth/clients", "action": {"type": "shortListing"}})
    short = oauth.get_oauth_clients()
    assert isinstance(short, genesys.OAuthClientEntityListing)
    assert all(isinstance(c, genesys.OAuthClient) for c in short.entities)
    assert short.total == whole.total == len(short.entities) + 1
    assert short.page_count == 1 and short.next_uri is None
    assert [c.id for c in short.entities] == [c.id for c in whole.entities][:-1]


def oauth_credential(name: str, client_id: str, secret: str) -> genesys.Credential:
    """A Data Actions credential as the SDK builds one (the Terraform provider's shape)."""
    credential_type = genesys.CredentialType()
    credential_type.name = "pureCloudOAuthClient"
    credential = genesys.Credential()
    credential.name = name
    credential.type = credential_type
    credential.credential_fields = {"clientId": client_id, "clientSecret": secret}
    return credential


def test_integration_credentials_through_the_sdk(emulator_url, master):
    integrations = genesys.IntegrationsApi(login(emulator_url, master["id"], master["secret"]))
    seeded = admin(emulator_url, "POST", "/credentials", {
        "name": "crm-data-actions",
        "typeName": "pureCloudOAuthClient",
        "fields": {"clientId": "old-client", "clientSecret": "old-secret"},
    })

    # Read: a Credential whose fields show the client id, never the secret.
    fetched = integrations.get_integrations_credential(seeded["id"])
    assert isinstance(fetched, genesys.Credential)
    assert fetched.id == seeded["id"] and fetched.name == "crm-data-actions"
    assert isinstance(fetched.type, genesys.CredentialType)
    assert fetched.type.name == "pureCloudOAuthClient"
    assert fetched.credential_fields == {"clientId": "old-client"}
    assert fetched.self_uri == f"/api/v2/integrations/credentials/{seeded['id']}"

    # Update: the SDK's serialized Credential is accepted; the answer is a CredentialInfo.
    updated = integrations.put_integrations_credential(
        seeded["id"], body=oauth_credential("crm-data-actions", "new-client", "new-secret"))
    assert isinstance(updated, genesys.CredentialInfo)
    assert updated.id == seeded["id"] and updated.type.name == "pureCloudOAuthClient"
    assert isinstance(updated.modified_date, datetime.datetime) and updated.modified_date.tzinfo is not None
    stored = next(c for c in admin(emulator_url, "GET", "/credentials") if c["id"] == seeded["id"])
    assert stored["fields"] == {"clientId": "new-client", "clientSecret": "new-secret"}
    assert stored["updates"] == 1

    # A body missing a required field, or naming an unknown type: 400 bad.request, nothing changed.
    incomplete = oauth_credential("crm-data-actions", "x", "y")
    incomplete.credential_fields = {"clientId": "x"}
    with pytest.raises(ApiException) as refused:
        integrations.put_integrations_credential(seeded["id"], body=incomplete)
    assert refused.value.status == 400 and error_code(refused.value) == "bad.request"

    # Create, list and delete, each in the SDK's shapes.
    created = integrations.post_integrations_credentials(body=oauth_credential("second", "c2", "s2"))
    assert isinstance(created, genesys.CredentialInfo) and created.id
    # The SDK marks the page-numbered listing deprecated (a cursor listing replaces it); the
    # emulator still serves it, and its shape is checked here.
    with pytest.deprecated_call():
        listing = integrations.get_integrations_credentials()
    assert isinstance(listing, genesys.CredentialInfoListing)
    assert {seeded["id"], created.id} <= {c.id for c in listing.entities}
    assert all(isinstance(c, genesys.CredentialInfo) for c in listing.entities)
    integrations.delete_integrations_credential(created.id)
    with pytest.raises(ApiException) as missing:
        integrations.get_integrations_credential(created.id)
    assert missing.value.status == 404 and error_code(missing.value) == "not.found"


def test_integration_credentials_need_the_integration_permissions(emulator_url):
    viewer = admin(emulator_url, "POST", "/clients", {"name": "sdk-viewer", "permissions": ["oauth:client:view"]})
    integrations = genesys.IntegrationsApi(login(emulator_url, viewer["id"], viewer["secret"]))
    with pytest.raises(ApiException) as denied:
        integrations.get_integrations_credential("any")
    assert denied.value.status == 403 and error_code(denied.value) == "missing.permissions"


def test_roles_through_the_sdk(emulator_url):
    reader = admin(emulator_url, "POST", "/clients",
                   {"name": "sdk-role-reader", "permissions": ["authorization:role:view"]})
    role = f"role-{uuid.uuid4()}"
    admin(emulator_url, "POST", "/roles",
          {"roleId": role, "permissions": ["oauth:client:edit", "oauth:client:view", "directory:user:view"]})
    authorization = genesys.AuthorizationApi(login(emulator_url, reader["id"], reader["secret"]))

    # Read: a DomainOrganizationRole with its permissions and one policy per domain:entity.
    got = authorization.get_authorization_role(role, user_count=False)
    assert isinstance(got, genesys.DomainOrganizationRole)
    assert got.id == role and got.self_uri == f"/api/v2/authorization/roles/{role}"
    assert got.permissions == ["oauth:client:edit", "oauth:client:view", "directory:user:view"]
    assert all(isinstance(p, genesys.DomainPermissionPolicy) for p in got.permission_policies)
    assert [(p.domain, p.entity_name, p.action_set) for p in got.permission_policies] == [
        ("oauth", "client", ["edit", "view"]),
        ("directory", "user", ["view"]),
    ]

    # An unknown role: 404 not.found; a caller without authorization:role:view: 403.
    with pytest.raises(ApiException) as missing:
        authorization.get_authorization_role("no-such-role")
    assert missing.value.status == 404 and error_code(missing.value) == "not.found"
    viewer = admin(emulator_url, "POST", "/clients", {"name": "sdk-no-roles", "permissions": ["oauth:client:view"]})
    with pytest.raises(ApiException) as denied:
        genesys.AuthorizationApi(login(emulator_url, viewer["id"], viewer["secret"])).get_authorization_role(role)
    assert denied.value.status == 403 and error_code(denied.value) == "missing.permissions"


# ---- fidelity switches (issue 21): what the SDK reads when the emulator behaves like the real
# service where that is documented (soft delete, on by default) or unconfirmed (switched on here).

def error_body(exc: ApiException) -> genesys.ErrorBody:
    """The SDK's own ErrorBody model, deserialized from a refused call's body."""
    class Answer:
        data = exc.body

        @staticmethod
        def getheader(name, default=None):
            return "application/json" if name.lower() == "content-type" else default

    body = genesys.ApiClient().deserialize(Answer(), "ErrorBody")
    assert isinstance(body, genesys.ErrorBody)
    return body


def genesys_date(when: datetime.datetime) -> str:
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def client_request(name: str, state=None, role_divisions=None) -> genesys.OAuthClientRequest:
    request = genesys.OAuthClientRequest()
    request.name = name
    request.authorized_grant_type = "CLIENT-CREDENTIALS"
    if state:
        request.state = state
    if role_divisions is not None:
        request.role_divisions = role_divisions
    return request


def role_division(role: str, division: str) -> genesys.RoleDivision:
    rd = genesys.RoleDivision()
    rd.role_id = role
    rd.division_id = division
    return rd


def test_a_soft_deleted_client_reads_back_inactive_with_its_date_to_delete():
    """Soft delete is on by default: a client created over 30 days ago stays after DELETE,
    inactive with dateToDelete a week on, restorable, and is gone once that date has passed."""
    with running_emulator() as url:
        master = admin(url, "POST", "/clients", {"name": "sdk-master", "permissions": ADMIN_PERMISSIONS})
        now = datetime.datetime.now(datetime.timezone.utc)
        old = admin(url, "POST", "/clients", {
            "name": "sdk-old", "permissions": ["oauth:client:view"],
            "dateCreated": genesys_date(now - datetime.timedelta(days=40)),
        })
        oauth = genesys.OAuthApi(login(url, master["id"], master["secret"]))

        oauth.put_oauth_client(old["id"], client_request("sdk-old", state="inactive"))
        assert oauth.delete_oauth_client(old["id"]) is None
        got = oauth.get_oauth_client(old["id"])
        assert isinstance(got, genesys.OAuthClient)
        assert got.state == "inactive"
        assert isinstance(got.date_to_delete, datetime.datetime) and got.date_to_delete.tzinfo is not None
        week = now + datetime.timedelta(days=7)
        assert abs((got.date_to_delete - week).total_seconds()) < 60
        listed = {c.id: c for c in oauth.get_oauth_clients().entities}
        assert listed[old["id"]].state == "inactive"
        assert listed[old["id"]].date_to_delete == got.date_to_delete
        # A second DELETE answers as the first (the default setting) and changes nothing.
        assert oauth.delete_oauth_client(old["id"]) is None
        assert oauth.get_oauth_client(old["id"]).date_to_delete == got.date_to_delete
        with pytest.raises(ApiException) as refused:
            login(url, old["id"], old["secret"])
        assert refused.value.status == 400

        # Restored by a PUT with state active.
        restored = oauth.put_oauth_client(old["id"], client_request("sdk-old"))
        assert restored.state == "active" and restored.date_to_delete is None
        login(url, old["id"], old["secret"])

        # Deleted again, then gone once dateToDelete has passed.
        oauth.put_oauth_client(old["id"], client_request("sdk-old", state="inactive"))
        oauth.delete_oauth_client(old["id"])
        admin(url, "POST", "/clock", {"advanceSeconds": 7 * 86400 + 60})
        oauth = genesys.OAuthApi(login(url, master["id"], master["secret"]))
        with pytest.raises(ApiException) as gone:
            oauth.get_oauth_client(old["id"])
        assert gone.value.status == 404 and error_code(gone.value) == "not.found"
        assert old["id"] not in {c.id for c in oauth.get_oauth_clients().entities}
        assert admin(url, "GET", "/purged") == [old["id"]]


def test_the_role_rule_refusal_is_an_error_body():
    """With --role-rule, a role-division the caller does not hold is refused 403, in the
    ErrorBody shape of the API's other missing-permission answers."""
    with running_emulator("--role-rule") as url:
        admin(url, "POST", "/roles", {"roleId": "held", "permissions": ["oauth:client:view"]})
        admin(url, "POST", "/roles", {"roleId": "other", "permissions": ["oauth:client:view"]})
        master = admin(url, "POST", "/clients", {
            "name": "sdk-master", "permissions": ADMIN_PERMISSIONS,
            "roleDivisions": [{"roleId": "held", "divisionId": "*"}],
        })
        oauth = genesys.OAuthApi(login(url, master["id"], master["secret"]))
        made = oauth.post_oauth_clients(client_request("ok", role_divisions=[role_division("held", "home")]))
        assert made.role_divisions[0].role_id == "held"
        with pytest.raises(ApiException) as refused:
            oauth.post_oauth_clients(client_request("no", role_divisions=[role_division("other", "home")]))
        assert refused.value.status == 403
        body = error_body(refused.value)
        assert body.code == "missing.permissions" and body.status == 403
        assert "role other in division home" in body.message
        assert body.message_params == {"missingRoleDivisions": "[role other in division home]"}
        assert body.context_id


def test_listing_items_without_the_grant_type_still_deserialize(emulator_url, oauth):
    """With listingWithoutGrantType (switched at run time), the listing's items lack
    authorizedGrantType, as the pre-v250 OAuthClientListing did: the SDK reads each as an
    OAuthClient with no grant type; GET by id still has it."""
    admin(emulator_url, "POST", "/config", {"listingWithoutGrantType": True})
    try:
        listing = oauth.get_oauth_clients()
    finally:
        admin(emulator_url, "POST", "/config", {"listingWithoutGrantType": False})
    assert isinstance(listing, genesys.OAuthClientEntityListing)
    assert listing.entities and all(isinstance(c, genesys.OAuthClient) for c in listing.entities)
    assert all(c.authorized_grant_type is None for c in listing.entities)
    assert all(c.id and c.name and c.state for c in listing.entities)
    first = listing.entities[0]
    assert oauth.get_oauth_client(first.id).authorized_grant_type == "CLIENT-CREDENTIALS"
    assert all(c.authorized_grant_type for c in oauth.get_oauth_clients().entities)


def test_a_credential_read_without_its_client_id():
    """With --credential-get-hides-client-id, a credential reads back with neither secret nor
    clientId in its fields."""
    with running_emulator("--credential-get-hides-client-id") as url:
        master = admin(url, "POST", "/clients", {"name": "sdk-master", "permissions": ADMIN_PERMISSIONS})
        seeded = admin(url, "POST", "/credentials", {
            "name": "crm-data-actions",
            "typeName": "pureCloudOAuthClient",
            "fields": {"clientId": "old-client", "clientSecret": "old-secret"},
        })
        integrations = genesys.IntegrationsApi(login(url, master["id"], master["secret"]))
        fetched = integrations.get_integrations_credential(seeded["id"])
        assert isinstance(fetched, genesys.Credential)
        assert fetched.type.name == "pureCloudOAuthClient"
        assert not fetched.credential_fields
        assert "clientId" not in (fetched.credential_fields or {})
