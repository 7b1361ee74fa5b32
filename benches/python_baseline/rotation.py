#!/usr/bin/env python3
"""The Python baseline of `make bench`: a minimal Secrets Manager rotation Lambda for a Genesys
Cloud OAuth client, written the way a first version usually is (boto3 + requests, the AWS
rotation template's four steps, a new client per rotation), so the Rust Lambda's cold start and
memory are compared with a measured figure rather than a quoted one.

It is deliberately small: no reconciliation, no drain queue (the old client is only made
inactive), no retry policy, no master-client cache, no checks of the secret's shape beyond what
the calls need. It is benchmark equipment, not a product: never deploy it.

It carries its own Runtime API loop (what the `awslambdaric` package does, minus everything a
benchmark does not need): GET the next event, run the handler, POST the answer. Like the Rust
function it reads `AWS_ENDPOINT_URL` (boto3 honours it) and `GENESYS_ENDPOINT_OVERRIDES`
(`domain=http://127.0.0.1:PORT`). It prints no secret and no token.
"""

import json
import os
import sys

import boto3
import requests

RUNTIME = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
OVERRIDES = dict(
    item.split("=", 1) for item in os.environ.get("GENESYS_ENDPOINT_OVERRIDES", "").split(",") if "=" in item
)

# Made at init, as a Lambda would, so the cold start includes them.
sm = boto3.client("secretsmanager")
http = requests.Session()


def api_base(region: str) -> str:
    return OVERRIDES.get(region, f"https://api.{region}")


def login_base(region: str) -> str:
    return OVERRIDES.get(region, f"https://login.{region}")


def token(region: str, client_id: str, client_secret: str) -> str:
    r = http.post(f"{login_base(region)}/oauth/token", auth=(client_id, client_secret),
                  data={"grant_type": "client_credentials"}, timeout=10)
    r.raise_for_status()
    return r.json()["access_token"]


def value(arn: str, **version) -> dict:
    return json.loads(sm.get_secret_value(SecretId=arn, **version)["SecretString"])


def master_token(secret: dict) -> str:
    master = value(secret["masterSecretArn"], VersionStage="AWSCURRENT")
    return token(secret["region"], master["clientId"], master["clientSecret"])


def create_secret(arn: str, tok: str) -> None:
    current = value(arn, VersionStage="AWSCURRENT")
    try:
        sm.get_secret_value(SecretId=arn, VersionId=tok, VersionStage="AWSPENDING")
        return
    except sm.exceptions.ResourceNotFoundException:
        pass
    bearer = master_token(current)
    r = http.post(f"{api_base(current['region'])}/api/v2/oauth/clients",
                  headers={"Authorization": f"Bearer {bearer}"},
                  json={"name": current["namePrefix"] + tok, "authorizedGrantType": "CLIENT-CREDENTIALS",
                        "roleDivisions": current.get("roleDivisions", []),
                        "accessTokenValiditySeconds": current.get("tokenLifetimeSeconds", 86400)},
                  timeout=10)
    r.raise_for_status()
    created = r.json()
    new = dict(current, clientId=created["id"], clientSecret=created["secret"])
    sm.put_secret_value(SecretId=arn, ClientRequestToken=tok, SecretString=json.dumps(new),
                        VersionStages=["AWSPENDING"])


def set_secret(arn: str, tok: str) -> None:
    pending = value(arn, VersionId=tok, VersionStage="AWSPENDING")
    bearer = master_token(pending)
    r = http.get(f"{api_base(pending['region'])}/api/v2/oauth/clients/{pending['clientId']}",
                 headers={"Authorization": f"Bearer {bearer}"}, timeout=10)
    r.raise_for_status()
    if r.json().get("state", "active").lower() != "active":
        raise RuntimeError("the pending client is not active")


def test_secret(arn: str, tok: str) -> None:
    pending = value(arn, VersionId=tok, VersionStage="AWSPENDING")
    bearer = token(pending["region"], pending["clientId"], pending["clientSecret"])
    r = http.get(f"{api_base(pending['region'])}/api/v2/tokens/me",
                 headers={"Authorization": f"Bearer {bearer}"}, timeout=10)
    r.raise_for_status()


def finish_secret(arn: str, tok: str, current_version: str) -> None:
    old = value(arn, VersionStage="AWSCURRENT")
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=tok,
                                   RemoveFromVersionId=current_version)
    bearer = master_token(old)
    url = f"{api_base(old['region'])}/api/v2/oauth/clients/{old['clientId']}"
    r = http.get(url, headers={"Authorization": f"Bearer {bearer}"}, timeout=10)
    r.raise_for_status()
    body = {k: v for k, v in r.json().items() if k in (
        "name", "description", "accessTokenValiditySeconds", "roleDivisions", "authorizedGrantType")}
    r = http.put(url, headers={"Authorization": f"Bearer {bearer}"}, json=dict(body, state="inactive"), timeout=10)
    r.raise_for_status()


def handler(event: dict) -> dict:
    arn, tok, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    desc = sm.describe_secret(SecretId=arn)
    if not desc.get("RotationEnabled"):
        raise RuntimeError("rotation is not enabled")
    stages = desc["VersionIdsToStages"]
    if tok not in stages:
        raise RuntimeError("the token is not a version of the secret")
    if "AWSCURRENT" in stages[tok]:
        return {}
    if "AWSPENDING" not in stages[tok]:
        raise RuntimeError("the token is not AWSPENDING")
    if step == "createSecret":
        create_secret(arn, tok)
    elif step == "setSecret":
        set_secret(arn, tok)
    elif step == "testSecret":
        test_secret(arn, tok)
    elif step == "finishSecret":
        current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
        finish_secret(arn, tok, current)
    else:
        raise RuntimeError(f"unknown step {step}")
    return {}


def main() -> None:
    while True:
        r = http.get(f"{RUNTIME}/invocation/next", timeout=None)
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        try:
            answer = handler(r.json())
        except Exception as e:  # reported to the Runtime API, as the real runtime does
            http.post(f"{RUNTIME}/invocation/{request_id}/error",
                      json={"errorType": type(e).__name__, "errorMessage": str(e)[:500]})
            continue
        http.post(f"{RUNTIME}/invocation/{request_id}/response", json=answer)


if __name__ == "__main__":
    sys.exit(main())
