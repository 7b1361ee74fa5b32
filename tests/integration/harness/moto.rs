//! The moto server each test starts on a port chosen at run time, the Secrets Manager layer in
//! front of it that answers as AWS does ([`SecretsManagerLayer`]), and the Secrets Manager and
//! SQS clients.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region as AwsRegion};

use super::fidelity::SecretsManagerLayer;

/// A moto server on a loopback port chosen at run time, killed on drop, with the Secrets
/// Manager layer in front of it.
pub struct Moto {
    child: Child,
    /// moto itself: SQS, and the services the harness sets up by hand.
    pub url: String,
    /// Secrets Manager as AWS answers it: every Secrets Manager client of the harness (the SDK
    /// clients here, `AWS_ENDPOINT_URL_SECRETS_MANAGER` of the binaries) talks to this.
    pub sm: SecretsManagerLayer,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = std::env::var_os("MOTO_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server"));
        assert!(
            bin.exists(),
            "moto_server not found at {} (run `make venv`, or set MOTO_SERVER_BIN)",
            bin.display()
        );
        // The port is picked by the OS, then handed to moto; another process could take it in
        // between, so a start that does not answer is retried on a fresh port.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    let sm = SecretsManagerLayer::start(&url);
                    return Moto { child, url, sm };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start");
    }

    /// A Secrets Manager client that talks to moto through the layer.
    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        let conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(AwsRegion::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .endpoint_url(&self.sm.url)
            .timeout_config(genesys_rotator::config::aws_timeouts())
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "static",
            ))
            .endpoint_url(&self.url)
            .timeout_config(genesys_rotator::config::aws_timeouts())
            .build();
        aws_sdk_sqs::Client::from_conf(conf)
    }
}

impl Moto {
    /// A Lambda function named `name` in moto that Secrets Manager's RotateSecret can find
    /// (moto answers ResourceNotFoundException for a function it does not have). moto is set
    /// to its Docker-free Lambda, whose invocations answer success and run nothing, so the
    /// rotation steps are still the tests' to play. Returns the function's ARN.
    pub async fn rotation_lambda(&self, name: &str) -> String {
        let http = reqwest::Client::new();
        // moto routes an unsigned request by the service its Authorization header names.
        let auth = |service: &str| {
            format!("AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0")
        };
        let ok = |r: reqwest::Response| {
            assert!(r.status().is_success(), "moto answered {}", r.status());
            r
        };
        ok(http
            .post(format!("{}/moto-api/config", self.url))
            .json(&serde_json::json!({"lambda": {"use_docker": false}}))
            .send()
            .await
            .expect("moto config"));
        let role = format!("{name}-role");
        ok(http
            .post(format!("{}/", self.url))
            .header("Authorization", auth("iam"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument=%7B%7D"
            ))
            .send()
            .await
            .expect("IAM CreateRole"));
        let created: serde_json::Value = ok(http
            .post(format!("{}/2015-03-31/functions", self.url))
            .header("Authorization", auth("lambda"))
            .json(&serde_json::json!({
                "FunctionName": name,
                "Runtime": "provided.al2023",
                "Role": format!("arn:aws:iam::123456789012:role/{role}"),
                "Handler": "bootstrap",
                // An empty zip archive.
                "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}
            }))
            .send()
            .await
            .expect("Lambda CreateFunction"))
        .json()
        .await
        .expect("CreateFunction answer");
        created["FunctionArn"].as_str().expect("FunctionArn").to_owned()
    }
}
