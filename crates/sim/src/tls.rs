//! Per-cluster TLS: a fresh CA and an ECDSA P-256 server certificate for 127.0.0.1 and
//! localhost, and the rustls server configuration that presents it.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, LazyLock};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// One crypto provider for every simulated cluster in the process.
static PROVIDER: LazyLock<Arc<CryptoProvider>> = LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));

/// A cluster's TLS material: the CA clients must trust, and the server configuration.
pub struct ClusterTls {
    /// PEM of the cluster's CA certificate (goes into kubeconfig `certificate-authority-data`).
    pub ca_pem: String,
    pub server_config: Arc<ServerConfig>,
}

/// Why TLS material could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating certificates for cluster {cluster}: {source}")]
    Certificate {
        cluster: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("building the TLS server configuration for cluster {cluster}: {source}")]
    Config {
        cluster: String,
        #[source]
        source: rustls::Error,
    },
}

/// Generate a CA and a server certificate for `cluster`, valid for `127.0.0.1`, `::1` and
/// `localhost`.
///
/// # Errors
/// [`TlsError`] if key generation, signing or the rustls configuration fails.
pub fn generate(cluster: &str, bind: IpAddr) -> Result<ClusterTls, TlsError> {
    let cert_err = |source| TlsError::Certificate {
        cluster: cluster.to_string(),
        source,
    };
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("muster-sim-ca-{cluster}"));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(cert_err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "kubernetes.default.svc".to_string()])
        .map_err(cert_err)?;
    params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)));
    if !bind.is_loopback() && !bind.is_unspecified() {
        params.subject_alt_names.push(SanType::IpAddress(bind));
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).map_err(cert_err)?;

    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut server_config = ServerConfig::builder_with_provider(PROVIDER.clone())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Config {
            cluster: cluster.to_string(),
            source,
        })?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .map_err(|source| TlsError::Config {
            cluster: cluster.to_string(),
            source,
        })?;
    // NB: HTTP/1.1 only. kube speaks HTTP/1.1, kubectl falls back to it, and exec's
    // WebSocket upgrade (next issue) needs it.
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ClusterTls {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(server_config),
    })
}
