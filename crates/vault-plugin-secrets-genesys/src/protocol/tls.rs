//! AutoMTLS (go-plugin's mtls.go): this process makes a self-signed certificate, announces it in
//! the handshake line, and accepts exactly one peer, the server's certificate from
//! `PLUGIN_CLIENT_CERT`, both when the server calls the plugin and when the plugin dials the
//! server's broker listener (which presents that same certificate).
//!
//! The server's certificate is a self-signed CA (IsCA) with an ECDSA P-521 key. webpki refuses a
//! CA as an end entity, so the peer is pinned instead: its DER must equal the one given, and its
//! handshake signature is checked with rustls's helpers over ring's algorithms plus P-521, which
//! ring lacks (RustCrypto's `p521` verifies those).
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
    SignatureVerificationAlgorithm, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

/// The name both sides put in certificates and SNI (go-plugin's `ServerName: "localhost"`).
pub const PEER_NAME: &str = "localhost";

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Making this process's certificate failed.
    #[error("generating the plugin certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// `PLUGIN_CLIENT_CERT` holds no PEM certificate.
    #[error("PLUGIN_CLIENT_CERT holds no PEM certificate: {0}")]
    ClientCert(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// This process's AutoMTLS certificate and key.
pub struct PluginIdentity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for PluginIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginIdentity").finish_non_exhaustive()
    }
}

impl PluginIdentity {
    /// A new self-signed ECDSA P-256 certificate for `localhost`, usable for server and client
    /// authentication (go-plugin's client checks both extended key usages), valid from 30 s ago
    /// (clock skew) for 30 years as go-plugin's own.
    pub fn generate() -> Result<PluginIdentity, TlsError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(vec![PEER_NAME.to_string()])?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, PEER_NAME);
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::seconds(30);
        params.not_after = now + time::Duration::days(30 * 365);
        let cert = params.self_signed(&key)?;
        Ok(PluginIdentity {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// The certificate's DER (what the handshake line carries).
    pub fn cert_der(&self) -> &[u8] {
        self.cert.as_ref()
    }

    /// The certificate, for a peer that pins it (tests).
    pub fn certificate(&self) -> CertificateDer<'static> {
        self.cert.clone()
    }

    /// TLS for the plugin's listener: presents this certificate, requires `peer`'s.
    pub fn server_config(&self, peer: CertificateDer<'static>) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(Arc::new(PinnedPeer::new(peer)))
            .with_single_cert(vec![self.cert.clone()], PrivateKeyDer::Pkcs8(self.key.clone_key()))?;
        // gRPC-Go refuses a TLS connection that did not negotiate h2.
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }

    /// TLS for dialing the server's broker listener: requires `peer`'s certificate, presents
    /// this one.
    pub fn client_config(&self, peer: CertificateDer<'static>) -> Result<Arc<ClientConfig>, TlsError> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedPeer::new(peer)))
            .with_client_auth_cert(vec![self.cert.clone()], PrivateKeyDer::Pkcs8(self.key.clone_key()))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The first certificate of a PEM text (`PLUGIN_CLIENT_CERT`).
pub fn parse_pem_certificate(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::ClientCert(e.to_string()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// ring's signature algorithms plus ECDSA P-521/SHA-512, built once and kept for the process.
fn signature_algorithms() -> &'static WebPkiSupportedAlgorithms {
    static ALGORITHMS: std::sync::OnceLock<WebPkiSupportedAlgorithms> = std::sync::OnceLock::new();
    ALGORITHMS.get_or_init(|| {
        let ring = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let p521: &'static [&'static dyn SignatureVerificationAlgorithm] = &[&EcdsaP521Sha512];
        let mut all = ring.all.to_vec();
        all.push(&EcdsaP521Sha512);
        let mut mapping = ring.mapping.to_vec();
        mapping.push((SignatureScheme::ECDSA_NISTP521_SHA512, p521));
        WebPkiSupportedAlgorithms {
            all: Vec::leak(all),
            mapping: Vec::leak(mapping),
        }
    })
}

/// ECDSA over P-521 with SHA-512 (the signature Go makes with go-plugin's certificate key).
#[derive(Debug)]
struct EcdsaP521Sha512;

impl SignatureVerificationAlgorithm for EcdsaP521Sha512 {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        use p521::ecdsa::signature::Verifier;
        let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature = p521::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &signature).map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA512
    }
}

/// Accepts exactly one certificate, byte for byte, and checks that the peer holds its key.
#[derive(Debug)]
struct PinnedPeer {
    cert: CertificateDer<'static>,
}

impl PinnedPeer {
    fn new(cert: CertificateDer<'static>) -> PinnedPeer {
        PinnedPeer { cert }
    }

    fn check(&self, presented: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if presented.as_ref() == self.cert.as_ref() {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
}

/// The handshake-signature checks both verifier traits ask for, the same for either side: the
/// provider's helpers over [`signature_algorithms`] (ring's, plus P-521).
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(message, cert, dss, signature_algorithms())
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(message, cert, dss, signature_algorithms())
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            signature_algorithms().supported_schemes()
        }
    };
}

impl ServerCertVerifier for PinnedPeer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

impl ClientCertVerifier for PinnedPeer {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ClientCertVerified::assertion())
    }

    handshake_signatures!();
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn handshake(
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
    ) -> (std::io::Result<()>, std::io::Result<()>) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        let connector = tokio_rustls::TlsConnector::from(client);
        let name = ServerName::try_from(PEER_NAME).unwrap();
        let serve = async move {
            let mut tls = acceptor.accept(a).await?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await?;
            tls.write_all(&buf).await?;
            tls.shutdown().await
        };
        let dial = async move {
            let mut tls = connector.connect(name, b).await?;
            tls.write_all(b"ping").await?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"ping");
            Ok(())
        };
        tokio::join!(serve, dial)
    }

    #[tokio::test]
    async fn pinned_peers_complete_a_mutual_handshake() {
        // GIVEN a plugin and a "server" identity, each pinning the other
        let plugin = PluginIdentity::generate().unwrap();
        let server = PluginIdentity::generate().unwrap();
        let (s, c) = handshake(
            plugin.server_config(server.certificate()).unwrap(),
            server.client_config(plugin.certificate()).unwrap(),
        )
        .await;
        // THEN both ends complete
        s.unwrap();
        c.unwrap();
    }

    #[tokio::test]
    async fn a_client_with_another_certificate_is_refused() {
        let plugin = PluginIdentity::generate().unwrap();
        let expected = PluginIdentity::generate().unwrap();
        let intruder = PluginIdentity::generate().unwrap();
        // GIVEN a client that presents a certificate other than the pinned one
        let (s, _) = handshake(
            plugin.server_config(expected.certificate()).unwrap(),
            intruder.client_config(plugin.certificate()).unwrap(),
        )
        .await;
        // THEN the plugin's side fails
        assert!(s.is_err());
    }

    #[tokio::test]
    async fn a_server_with_another_certificate_is_refused() {
        let plugin = PluginIdentity::generate().unwrap();
        let expected = PluginIdentity::generate().unwrap();
        let intruder = PluginIdentity::generate().unwrap();
        let (_, c) = handshake(
            intruder.server_config(plugin.certificate()).unwrap(),
            plugin.client_config(expected.certificate()).unwrap(),
        )
        .await;
        assert!(c.is_err());
    }

    #[test]
    fn p521_is_offered_beside_rings_schemes() {
        let schemes = signature_algorithms().supported_schemes();
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256));
    }

    #[test]
    fn a_p521_signature_verifies_and_a_tampered_one_does_not() {
        use p521::ecdsa::signature::Signer;
        // GIVEN a P-521 key as Go's crypto/ecdsa makes (SEC1 public point, DER signature)
        let mut scalar = [7u8; 66];
        scalar[0] = 0; // below the group order
        let signing = p521::ecdsa::SigningKey::from_slice(&scalar).unwrap();
        let public = p521::ecdsa::VerifyingKey::from(&signing).to_encoded_point(false);
        let signature: p521::ecdsa::Signature = signing.sign(b"transcript");
        let der = signature.to_der();
        // THEN it verifies over the same message only
        let alg = EcdsaP521Sha512;
        alg.verify_signature(public.as_bytes(), b"transcript", der.as_bytes())
            .unwrap();
        assert!(alg
            .verify_signature(public.as_bytes(), b"other", der.as_bytes())
            .is_err());
    }

    #[test]
    fn the_client_certificate_is_read_from_pem() {
        let identity = PluginIdentity::generate().unwrap();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, identity.cert_der())
        );
        assert_eq!(parse_pem_certificate(&pem).unwrap(), identity.certificate());
        assert!(parse_pem_certificate("not a certificate").is_err());
    }
}
