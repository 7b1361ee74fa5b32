//! The `genesys-emulator` binary: its settings flags reach the running emulator.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn require_client_field_flag_refuses_a_client_credentials_create_without_the_field() {
    // GIVEN the binary started with --require-client-field allowedIpAddresses
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_genesys-emulator"))
            .args(["--require-client-field", "allowedIpAddresses"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the emulator starts"),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the listening line");
    let base = line
        .trim()
        .strip_prefix("genesys-emulator listening on ")
        .expect("the documented line")
        .to_owned();
    let http = reqwest::Client::new();
    let master: Value = http
        .post(format!("{base}/__admin/clients"))
        .json(&json!({"name": "master", "permissions": ["oauth:client:add"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(master["id"].as_str().unwrap(), master["secret"].as_str())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let create = |body: Value| {
        http.post(format!("{base}/api/v2/oauth/clients"))
            .bearer_auth(token["access_token"].as_str().unwrap())
            .json(&body)
            .send()
    };
    // WHEN a client is created without the field THEN 400 bad.request naming it
    let refused = create(json!({"name": "n", "authorizedGrantType": "CLIENT-CREDENTIALS"}))
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "bad.request");
    assert!(body["message"].as_str().unwrap().contains("allowedIpAddresses"));
    // AND with it, the client is made and shows the field
    let made = create(json!({"name": "n", "authorizedGrantType": "CLIENT-CREDENTIALS",
                             "allowedIpAddresses": ["192.0.2.1"]}))
    .await
    .unwrap();
    assert_eq!(made.status(), 200);
    let made: Value = made.json().await.unwrap();
    assert_eq!(made["allowedIpAddresses"], json!(["192.0.2.1"]));
}
