//! The go-plugin handshake: what the server tells this process in its environment (magic cookie,
//! protocol versions, port range, its AutoMTLS certificate) and the one line this process answers
//! on stdout: `CORE|VERSION|NETWORK|ADDRESS|PROTOCOL|CERT` (go-plugin's server.go and client.go).
use std::net::SocketAddr;

use base64::Engine;

/// The magic cookie the server sets, so a plugin run by hand can say so instead of hanging.
pub const MAGIC_COOKIE_KEY: &str = "VAULT_BACKEND_PLUGIN";
/// The cookie's value (OpenBao's and Vault's `sdk/plugin/serve.go`).
pub const MAGIC_COOKIE_VALUE: &str = "6669da05-b1c8-4f49-97d9-c8e5bed98e20";
/// go-plugin's core protocol version.
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The backend protocol version spoken here: v5, the one with AutoMTLS (v3 and v4 need a TLS
/// provider and an unwrap token).
pub const BACKEND_PROTOCOL_VERSION: u32 = 5;

/// What the server said in the plugin's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEnv {
    /// The server's AutoMTLS certificate (PEM): the only peer accepted, both ways.
    pub client_cert_pem: String,
    /// Ports to try on 127.0.0.1, in order; `0..=0` lets the system choose.
    pub ports: std::ops::RangeInclusive<u16>,
    /// The server asked for gRPC broker multiplexing (answered "not supported").
    pub broker_multiplex_requested: bool,
}

/// Why this process cannot serve the server that started it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Run by hand, or by something that is not OpenBao or Vault.
    #[error(
        "this binary is an OpenBao/Vault secrets-engine plugin: the server starts it (register it in the plugin \
         catalog and mount it); it is not meant to be run directly ({MAGIC_COOKIE_KEY} is not set to the plugin \
         magic cookie)"
    )]
    NotAPlugin,
    /// The server offers no protocol version spoken here.
    #[error("the server offers backend protocol versions {offered:?}; this plugin speaks only version 5")]
    NoCommonVersion {
        /// `PLUGIN_PROTOCOL_VERSIONS` as given.
        offered: String,
    },
    /// Version 5 without AutoMTLS: refused rather than serving without TLS.
    #[error("PLUGIN_CLIENT_CERT is not set: this plugin requires the server's automatic mTLS (backend protocol v5)")]
    NoClientCert,
    /// A malformed `PLUGIN_MIN_PORT`/`PLUGIN_MAX_PORT`.
    #[error("bad plugin port range: {0}")]
    BadPortRange(String),
}

impl PluginEnv {
    /// Reads the process environment.
    pub fn from_env() -> Result<PluginEnv, HandshakeError> {
        PluginEnv::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the handshake variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<PluginEnv, HandshakeError> {
        if lookup(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
            return Err(HandshakeError::NotAPlugin);
        }
        let offered = lookup("PLUGIN_PROTOCOL_VERSIONS").unwrap_or_default();
        let speaks_v5 = offered
            .split(',')
            .any(|v| v.trim().parse::<u32>().ok() == Some(BACKEND_PROTOCOL_VERSION));
        if !speaks_v5 {
            return Err(HandshakeError::NoCommonVersion { offered });
        }
        let client_cert_pem = lookup("PLUGIN_CLIENT_CERT")
            .filter(|pem| !pem.trim().is_empty())
            .ok_or(HandshakeError::NoClientCert)?;
        let port = |name: &str| -> Result<u16, HandshakeError> {
            match lookup(name).filter(|v| !v.is_empty()) {
                None => Ok(0),
                Some(v) => v
                    .parse::<u16>()
                    .map_err(|_| HandshakeError::BadPortRange(format!("{name}={v:?} is not a port"))),
            }
        };
        let (min, max) = (port("PLUGIN_MIN_PORT")?, port("PLUGIN_MAX_PORT")?);
        if min > max {
            return Err(HandshakeError::BadPortRange(format!(
                "PLUGIN_MIN_PORT {min} is greater than PLUGIN_MAX_PORT {max}"
            )));
        }
        Ok(PluginEnv {
            client_cert_pem,
            ports: min..=max,
            broker_multiplex_requested: lookup("PLUGIN_MULTIPLEX_GRPC").is_some_and(|v| !v.is_empty()),
        })
    }
}

/// The line printed on stdout once the listener is up. The certificate is the DER of this
/// process's AutoMTLS certificate in unpadded standard base64 (Go's `base64.RawStdEncoding`): the
/// server pins it as the only root and client CA. A seventh field answers a request for broker
/// multiplexing: `false`, not supported.
pub fn handshake_line(addr: SocketAddr, cert_der: &[u8], broker_multiplex_requested: bool) -> String {
    let cert = base64::engine::general_purpose::STANDARD_NO_PAD.encode(cert_der);
    let mut line = format!("{CORE_PROTOCOL_VERSION}|{BACKEND_PROTOCOL_VERSION}|tcp|{addr}|grpc|{cert}");
    if broker_multiplex_requested {
        line.push_str("|false");
    }
    line
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    const SERVER: [(&str, &str); 5] = [
        (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
        ("PLUGIN_PROTOCOL_VERSIONS", "5"),
        ("PLUGIN_MIN_PORT", "0"),
        ("PLUGIN_MAX_PORT", "0"),
        ("PLUGIN_CLIENT_CERT", "-----BEGIN CERTIFICATE-----\n...\n"),
    ];

    #[test]
    fn what_openbao_sets_is_accepted() {
        // GIVEN the variables OpenBao 2.7 sets for a v5 backend plugin
        let parsed = PluginEnv::from_lookup(env(&SERVER)).unwrap();
        // THEN any port will do and the client certificate is kept
        assert_eq!(parsed.ports, 0..=0);
        assert!(parsed.client_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!parsed.broker_multiplex_requested);
    }

    #[test]
    fn a_missing_or_wrong_cookie_says_this_is_a_plugin() {
        assert_eq!(PluginEnv::from_lookup(env(&[])), Err(HandshakeError::NotAPlugin));
        let mut wrong = SERVER;
        wrong[0].1 = "nope";
        assert_eq!(PluginEnv::from_lookup(env(&wrong)), Err(HandshakeError::NotAPlugin));
        assert!(HandshakeError::NotAPlugin
            .to_string()
            .contains("not meant to be run directly"));
    }

    #[test]
    fn version_5_is_chosen_from_a_list_and_refused_when_absent() {
        let mut several = SERVER;
        several[1].1 = "3,4,5";
        assert!(PluginEnv::from_lookup(env(&several)).is_ok());
        let mut old = SERVER;
        old[1].1 = "3,4";
        assert_eq!(
            PluginEnv::from_lookup(env(&old)),
            Err(HandshakeError::NoCommonVersion { offered: "3,4".into() })
        );
    }

    #[test]
    fn no_client_certificate_is_refused() {
        let without: Vec<_> = SERVER
            .iter()
            .copied()
            .filter(|(k, _)| *k != "PLUGIN_CLIENT_CERT")
            .collect();
        assert_eq!(PluginEnv::from_lookup(env(&without)), Err(HandshakeError::NoClientCert));
    }

    #[test]
    fn a_port_range_is_kept_and_checked() {
        let mut range = SERVER;
        range[2].1 = "10000";
        range[3].1 = "10010";
        assert_eq!(PluginEnv::from_lookup(env(&range)).unwrap().ports, 10000..=10010);
        range[2].1 = "20000";
        assert!(matches!(
            PluginEnv::from_lookup(env(&range)),
            Err(HandshakeError::BadPortRange(_))
        ));
        range[2].1 = "x";
        assert!(matches!(
            PluginEnv::from_lookup(env(&range)),
            Err(HandshakeError::BadPortRange(_))
        ));
    }

    #[test]
    fn the_line_carries_the_address_and_the_unpadded_der() {
        // GIVEN a DER whose base64 would need padding (4 bytes -> 6 chars + "==")
        let line = handshake_line("127.0.0.1:41234".parse().unwrap(), &[0x30, 0x82, 0x01, 0x0a], false);
        // THEN the certificate field is RawStdEncoding, as go-plugin decodes it
        assert_eq!(line, "1|5|tcp|127.0.0.1:41234|grpc|MIIBCg");
        let muxed = handshake_line("127.0.0.1:1".parse().unwrap(), &[1, 2, 3], true);
        assert!(muxed.ends_with("|AQID|false"));
    }
}
