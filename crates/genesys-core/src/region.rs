//! The Genesys Cloud regions and the two hosts each one serves.
//!
//! Every region has an API host `api.<domain>` and a login (OAuth) host
//! `login.<domain>`. A [`Region`] is named either by the key the official SDKs
//! use (`eu_west_1`, from `PureCloudRegionHosts`) or by its domain
//! (`mypurecloud.ie`); [`Region::parse`] accepts both and nothing else, so a
//! typo in configuration fails at start-up instead of sending credentials to
//! a host nobody meant.
//!
//! [`EndpointOverrides`] lets tests and demos point a region at a local
//! emulator. Its parser is compiled only with the cargo feature
//! `endpoint-overrides` (test and demo builds, never the release zips), and even
//! there it refuses any override that is not on a loopback address, so a
//! misconfigured production environment variable cannot redirect client
//! secrets to another host.

use std::fmt;
use std::str::FromStr;

use reqwest::Url;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Genesys Cloud region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Region {
    /// `us_east_1`: mypurecloud.com (Americas, US East).
    UsEast1,
    /// `eu_west_1`: mypurecloud.ie (EMEA, Dublin).
    EuWest1,
    /// `ap_southeast_2`: mypurecloud.com.au (Asia Pacific, Sydney).
    ApSoutheast2,
    /// `ap_northeast_1`: mypurecloud.jp (Asia Pacific, Tokyo).
    ApNortheast1,
    /// `eu_central_1`: mypurecloud.de (EMEA, Frankfurt).
    EuCentral1,
    /// `us_west_2`: usw2.pure.cloud (Americas, US West).
    UsWest2,
    /// `ca_central_1`: cac1.pure.cloud (Americas, Canada).
    CaCentral1,
    /// `ap_northeast_2`: apne2.pure.cloud (Asia Pacific, Seoul).
    ApNortheast2,
    /// `eu_west_2`: euw2.pure.cloud (EMEA, London).
    EuWest2,
    /// `ap_south_1`: aps1.pure.cloud (Asia Pacific, Mumbai).
    ApSouth1,
    /// `us_east_2`: use2.us-gov-pure.cloud (FedRAMP).
    UsEast2,
    /// `sa_east_1`: sae1.pure.cloud (Americas, São Paulo).
    SaEast1,
    /// `me_central_1`: mec1.pure.cloud (EMEA, UAE).
    MeCentral1,
    /// `ap_northeast_3`: apne3.pure.cloud (Asia Pacific, Osaka).
    ApNortheast3,
    /// `eu_central_2`: euc2.pure.cloud (EMEA, Zurich).
    EuCentral2,
    /// `mx_central_1`: mxc1.pure.cloud (Americas, Mexico).
    MxCentral1,
    /// `ap_southeast_1`: apse1.pure.cloud (Asia Pacific, Singapore).
    ApSoutheast1,
    /// `eusc_de_east_1`: edee1.eusc-pure.cloud (EU sovereign cloud, Germany).
    EuscDeEast1,
}

/// `(region, SDK key, domain)` for every region: the single source of truth.
const TABLE: [(Region, &str, &str); 18] = [
    (Region::UsEast1, "us_east_1", "mypurecloud.com"),
    (Region::EuWest1, "eu_west_1", "mypurecloud.ie"),
    (Region::ApSoutheast2, "ap_southeast_2", "mypurecloud.com.au"),
    (Region::ApNortheast1, "ap_northeast_1", "mypurecloud.jp"),
    (Region::EuCentral1, "eu_central_1", "mypurecloud.de"),
    (Region::UsWest2, "us_west_2", "usw2.pure.cloud"),
    (Region::CaCentral1, "ca_central_1", "cac1.pure.cloud"),
    (Region::ApNortheast2, "ap_northeast_2", "apne2.pure.cloud"),
    (Region::EuWest2, "eu_west_2", "euw2.pure.cloud"),
    (Region::ApSouth1, "ap_south_1", "aps1.pure.cloud"),
    (Region::UsEast2, "us_east_2", "use2.us-gov-pure.cloud"),
    (Region::SaEast1, "sa_east_1", "sae1.pure.cloud"),
    (Region::MeCentral1, "me_central_1", "mec1.pure.cloud"),
    (Region::ApNortheast3, "ap_northeast_3", "apne3.pure.cloud"),
    (Region::EuCentral2, "eu_central_2", "euc2.pure.cloud"),
    (Region::MxCentral1, "mx_central_1", "mxc1.pure.cloud"),
    (Region::ApSoutheast1, "ap_southeast_1", "apse1.pure.cloud"),
    (Region::EuscDeEast1, "eusc_de_east_1", "edee1.eusc-pure.cloud"),
];

/// A string that names no Genesys Cloud region.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown Genesys Cloud region {value:?}: expected a region key (e.g. eu_west_1 or eu-west-1) \
     or a region domain (e.g. mypurecloud.ie), not an api./login. host or URL; accepted: {}",
    accepted_list()
)]
pub struct UnknownRegion {
    /// The value that was given (as given, before trimming).
    pub value: String,
}

fn accepted_list() -> String {
    TABLE
        .iter()
        .map(|(_, key, domain)| format!("{key} ({domain})"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Region {
    /// All 18 regions, in the order of the SDK's `PureCloudRegionHosts`.
    pub const ALL: [Region; 18] = {
        let mut all = [Region::UsEast1; 18];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    fn entry(self) -> &'static (Region, &'static str, &'static str) {
        // The table lists the variants in declaration order.
        &TABLE[self as usize]
    }

    /// Parses a region key (`eu_west_1`, `eu-west-1`) or a region domain
    /// (`mypurecloud.ie`), ignoring case and surrounding whitespace.
    ///
    /// Hosts (`api.mypurecloud.ie`, `login.mypurecloud.ie`) and URLs are
    /// refused: name the region, not a host.
    pub fn parse(s: &str) -> Result<Region, UnknownRegion> {
        let wanted = s.trim().to_ascii_lowercase();
        let as_key = wanted.replace('-', "_");
        TABLE
            .iter()
            .find(|(_, key, domain)| *domain == wanted || *key == as_key)
            .map(|(region, _, _)| *region)
            .ok_or_else(|| UnknownRegion { value: s.to_owned() })
    }

    /// The SDK key, e.g. `eu_west_1`.
    pub fn key(self) -> &'static str {
        self.entry().1
    }

    /// The region domain, e.g. `mypurecloud.ie`.
    pub fn domain(self) -> &'static str {
        self.entry().2
    }

    /// The API base URL, e.g. `https://api.mypurecloud.ie`.
    pub fn api_base(self) -> String {
        format!("https://api.{}", self.domain())
    }

    /// The login (OAuth) base URL, e.g. `https://login.mypurecloud.ie`.
    pub fn login_base(self) -> String {
        format!("https://login.{}", self.domain())
    }
}

impl fmt::Display for Region {
    /// Shows the domain, the form used in configuration and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.domain())
    }
}

impl FromStr for Region {
    type Err = UnknownRegion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::parse(s)
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.domain())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Region::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The two base URLs a Genesys Cloud client talks to.
///
/// Both end in `/`; request paths are appended to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Base of the Platform API (`/api/v2/...`).
    pub api_base: Url,
    /// Base of the OAuth login service (`/oauth/token`).
    pub login_base: Url,
}

impl Endpoints {
    /// The real endpoints of `region`.
    pub fn for_region(region: Region) -> Endpoints {
        Endpoints {
            api_base: Url::parse(&format!("{}/", region.api_base())).expect("region table holds valid host names"),
            login_base: Url::parse(&format!("{}/", region.login_base())).expect("region table holds valid host names"),
        }
    }

    /// One local server that serves both `/oauth/token` and `/api/v2`
    /// (an emulator), for tests.
    pub fn single(base: Url) -> Endpoints {
        let base = with_trailing_slash(base);
        Endpoints {
            api_base: base.clone(),
            login_base: base,
        }
    }
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// The environment variable [`EndpointOverrides::from_env`] reads.
pub const ENDPOINT_OVERRIDES_ENV: &str = "GENESYS_ENDPOINT_OVERRIDES";

/// Why an endpoint override string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointOverrideError {
    /// An entry lacks the `=` between region and URL.
    #[cfg(feature = "endpoint-overrides")]
    #[error("endpoint override {entry:?} is not of the form <region>=<url>")]
    Malformed {
        /// The offending entry.
        entry: String,
    },
    /// The region part names no region.
    #[cfg(feature = "endpoint-overrides")]
    #[error("endpoint override: {0}")]
    UnknownRegion(#[from] UnknownRegion),
    /// The same region is overridden twice.
    #[cfg(feature = "endpoint-overrides")]
    #[error("endpoint override for region {region} is given more than once")]
    Duplicate {
        /// The region named twice.
        region: Region,
    },
    /// The URL part does not parse.
    #[cfg(feature = "endpoint-overrides")]
    #[error("endpoint override URL {url:?} is not a valid URL: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What the URL parser said.
        reason: String,
    },
    /// The URL is not plain http(s) to a loopback host.
    // This message is also the fingerprint by which handlers/rotation/tests/release_build.rs and
    // `make package` tell whether a binary carries the override parser: change them together.
    #[cfg(feature = "endpoint-overrides")]
    #[error(
        "endpoint override URL {url:?} refused: {reason}; overrides exist only to reach a local \
         emulator and must be http(s) on 127.0.0.0/8, ::1 or localhost, without credentials, \
         query or fragment"
    )]
    NotLoopback {
        /// The URL as given.
        url: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// Overrides were given to a build without the `endpoint-overrides` feature (a release
    /// build): refused, never ignored, so nobody believes a function talks to an emulator while
    /// it talks to Genesys Cloud, or the other way round.
    #[cfg(not(feature = "endpoint-overrides"))]
    #[error(
        "{ENDPOINT_OVERRIDES_ENV} is set, but this build does not take endpoint overrides: they are \
         compiled only into test and demo builds (cargo feature `endpoint-overrides`), never into \
         the release functions; unset it (every region then uses its real Genesys Cloud hosts)"
    )]
    NotInThisBuild,
}

/// Per-region replacements of the real endpoints by a local server.
///
/// Parsed from `region=url[,region=url...]`, e.g.
/// `mypurecloud.ie=http://127.0.0.1:5000,usw2.pure.cloud=http://127.0.0.1:5001`
/// (the format of `GENESYS_ENDPOINT_OVERRIDES`). Regions are parsed with
/// [`Region::parse`]. The URL serves both the login and the API paths. Only
/// loopback URLs are accepted: this is a test hook, never a way to reach
/// another host.
///
/// The parser exists only with the cargo feature `endpoint-overrides` (test and demo builds).
/// Without it, every region resolves to its real hosts and a value given is refused
/// ([`EndpointOverrideError::NotInThisBuild`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOverrides {
    #[cfg(feature = "endpoint-overrides")]
    by_region: std::collections::BTreeMap<Region, Url>,
}

impl EndpointOverrides {
    /// No overrides: every region resolves to its real endpoints.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads [`ENDPOINT_OVERRIDES_ENV`] (see [`from_value`](Self::from_value)).
    pub fn from_env() -> Result<Self, EndpointOverrideError> {
        Self::from_value(std::env::var(ENDPOINT_OVERRIDES_ENV).ok().as_deref())
    }

    /// The overrides `value` of [`ENDPOINT_OVERRIDES_ENV`] gives: `None` (unset) means none.
    /// With the `endpoint-overrides` feature it is [parsed](Self::parse) (blank means none);
    /// without it, any value, even blank, is refused.
    pub fn from_value(value: Option<&str>) -> Result<Self, EndpointOverrideError> {
        match value {
            None => Ok(Self::none()),
            #[cfg(feature = "endpoint-overrides")]
            Some(v) => Self::parse(v),
            #[cfg(not(feature = "endpoint-overrides"))]
            Some(_) => Err(EndpointOverrideError::NotInThisBuild),
        }
    }

    /// True if no region is overridden.
    pub fn is_empty(&self) -> bool {
        #[cfg(feature = "endpoint-overrides")]
        return self.by_region.is_empty();
        #[cfg(not(feature = "endpoint-overrides"))]
        return true;
    }

    /// The override for `region`, if any.
    pub fn get(&self, region: Region) -> Option<&Url> {
        #[cfg(feature = "endpoint-overrides")]
        return self.by_region.get(&region);
        #[cfg(not(feature = "endpoint-overrides"))]
        {
            let _ = region;
            None
        }
    }

    /// The endpoints to use for `region`: the override if there is one,
    /// else the real ones.
    pub fn resolve(&self, region: Region) -> Endpoints {
        match self.get(region) {
            Some(url) => Endpoints::single(url.clone()),
            None => Endpoints::for_region(region),
        }
    }
}

#[cfg(feature = "endpoint-overrides")]
impl EndpointOverrides {
    /// Parses the override list; empty entries (e.g. a trailing comma) are
    /// ignored, so an empty string means no overrides.
    pub fn parse(s: &str) -> Result<Self, EndpointOverrideError> {
        let mut by_region = std::collections::BTreeMap::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (region, url) = entry.split_once('=').ok_or_else(|| EndpointOverrideError::Malformed {
                entry: entry.to_owned(),
            })?;
            let region = Region::parse(region)?;
            let url = parse_loopback_url(url.trim())?;
            if by_region.insert(region, url).is_some() {
                return Err(EndpointOverrideError::Duplicate { region });
            }
        }
        Ok(Self { by_region })
    }

    /// Adds (or replaces) one override, with the same loopback check as parsing.
    pub fn insert(&mut self, region: Region, url: &str) -> Result<(), EndpointOverrideError> {
        let url = parse_loopback_url(url)?;
        self.by_region.insert(region, url);
        Ok(())
    }
}

#[cfg(feature = "endpoint-overrides")]
impl FromStr for EndpointOverrides {
    type Err = EndpointOverrideError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(feature = "endpoint-overrides")]
fn parse_loopback_url(raw: &str) -> Result<Url, EndpointOverrideError> {
    use std::net::IpAddr;

    let refuse = |reason: &'static str| EndpointOverrideError::NotLoopback {
        url: raw.to_owned(),
        reason,
    };
    let url = Url::parse(raw).map_err(|e| EndpointOverrideError::InvalidUrl {
        url: raw.to_owned(),
        reason: e.to_string(),
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(refuse("scheme is not http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("URL carries credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("URL has a query or fragment"));
    }
    let host = url.host_str().ok_or_else(|| refuse("URL has no host"))?;
    // IPv6 hosts come back bracketed: "[::1]".
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    };
    if !loopback {
        return Err(refuse("host is not a loopback address"));
    }
    Ok(with_trailing_slash(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_declaration_order_and_complete() {
        assert_eq!(Region::ALL.len(), 18);
        for (i, (region, _, _)) in TABLE.iter().enumerate() {
            assert_eq!(*region as usize, i, "{region:?} is out of order");
            assert_eq!(Region::ALL[i], *region);
        }
        let mut domains: Vec<_> = TABLE.iter().map(|e| e.2).collect();
        domains.sort();
        domains.dedup();
        assert_eq!(domains.len(), 18);
    }

    #[test]
    fn every_region_parses_from_key_dashed_key_and_domain() {
        for region in Region::ALL {
            assert_eq!(Region::parse(region.key()), Ok(region));
            assert_eq!(Region::parse(&region.key().replace('_', "-")), Ok(region));
            assert_eq!(Region::parse(region.domain()), Ok(region));
            assert_eq!(Region::parse(&region.to_string()), Ok(region));
        }
    }

    #[test]
    fn parse_ignores_case_and_whitespace() {
        assert_eq!(Region::parse("  EU_WEST_1\n"), Ok(Region::EuWest1));
        assert_eq!(Region::parse("Eu-West-1"), Ok(Region::EuWest1));
        assert_eq!(Region::parse(" MyPureCloud.IE "), Ok(Region::EuWest1));
        assert_eq!(Region::parse("USE2.US-GOV-PURE.CLOUD"), Ok(Region::UsEast2));
        assert_eq!(Region::parse("eusc-de-east-1"), Ok(Region::EuscDeEast1));
    }

    #[test]
    fn parse_refuses_hosts_urls_and_strangers() {
        for bad in [
            "",
            "api.mypurecloud.ie",
            "login.mypurecloud.ie",
            "https://api.mypurecloud.ie",
            "mypurecloud.ie.",
            "eu_west_9",
            "eu west 1",
            "dublin",
            "pure.cloud",
        ] {
            let err = Region::parse(bad).unwrap_err();
            assert_eq!(err.value, bad);
        }
    }

    #[test]
    fn unknown_region_message_names_value_and_lists_accepted() {
        let msg = Region::parse("mypurecloud.xx").unwrap_err().to_string();
        assert!(msg.contains("\"mypurecloud.xx\""), "{msg}");
        assert!(msg.contains("eu_west_1 (mypurecloud.ie)"), "{msg}");
        assert!(msg.contains("eusc_de_east_1 (edee1.eusc-pure.cloud)"), "{msg}");
    }

    #[test]
    fn bases_and_keys() {
        let r = Region::EuWest1;
        assert_eq!(r.key(), "eu_west_1");
        assert_eq!(r.domain(), "mypurecloud.ie");
        assert_eq!(r.api_base(), "https://api.mypurecloud.ie");
        assert_eq!(r.login_base(), "https://login.mypurecloud.ie");
        assert_eq!(Region::UsEast1.domain(), "mypurecloud.com");
        assert_eq!(Region::ApSoutheast2.domain(), "mypurecloud.com.au");
        assert_eq!(Region::ApNortheast1.domain(), "mypurecloud.jp");
        assert_eq!(Region::EuCentral1.domain(), "mypurecloud.de");
        assert_eq!(Region::UsWest2.domain(), "usw2.pure.cloud");
        assert_eq!(Region::EuscDeEast1.login_base(), "https://login.edee1.eusc-pure.cloud");
    }

    #[test]
    fn serde_reads_any_accepted_form_and_writes_the_domain() {
        let r: Region = serde_json::from_str("\"eu-west-1\"").unwrap();
        assert_eq!(r, Region::EuWest1);
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"mypurecloud.ie\"");
        let err = serde_json::from_str::<Region>("\"api.mypurecloud.ie\"").unwrap_err();
        assert!(err.to_string().contains("unknown Genesys Cloud region"));
    }

    #[test]
    fn endpoints_for_region() {
        let e = Endpoints::for_region(Region::UsWest2);
        assert_eq!(e.api_base.as_str(), "https://api.usw2.pure.cloud/");
        assert_eq!(e.login_base.as_str(), "https://login.usw2.pure.cloud/");
    }

    #[cfg(feature = "endpoint-overrides")]
    #[test]
    fn overrides_parse_and_resolve() {
        // GIVEN two overrides, one by domain and one by key, with a trailing comma
        let o =
            EndpointOverrides::parse(" mypurecloud.ie=http://127.0.0.1:5000 , us_west_2=http://localhost:5001/emu,")
                .unwrap();
        // THEN overridden regions point both bases at the local server
        let ie = o.resolve(Region::EuWest1);
        assert_eq!(ie.api_base.as_str(), "http://127.0.0.1:5000/");
        assert_eq!(ie.login_base.as_str(), "http://127.0.0.1:5000/");
        let usw2 = o.resolve(Region::UsWest2);
        assert_eq!(usw2.api_base.as_str(), "http://localhost:5001/emu/");
        // AND other regions keep their real endpoints
        assert_eq!(o.resolve(Region::UsEast1), Endpoints::for_region(Region::UsEast1));
        assert!(o.get(Region::UsEast1).is_none());
    }

    #[cfg(feature = "endpoint-overrides")]
    #[test]
    fn empty_overrides() {
        assert!(EndpointOverrides::parse("").unwrap().is_empty());
        assert!(EndpointOverrides::parse(" , ").unwrap().is_empty());
        assert_eq!(
            EndpointOverrides::none().resolve(Region::EuWest1),
            Endpoints::for_region(Region::EuWest1)
        );
    }

    #[cfg(feature = "endpoint-overrides")]
    #[test]
    fn overrides_accept_loopback_forms() {
        for url in [
            "http://127.0.0.1:1",
            "http://127.8.9.10:1",
            "https://localhost",
            "http://LOCALHOST:80",
            "http://[::1]:5000",
        ] {
            let s = format!("mypurecloud.ie={url}");
            assert!(EndpointOverrides::parse(&s).is_ok(), "{url} refused");
        }
    }

    #[cfg(feature = "endpoint-overrides")]
    #[test]
    fn overrides_refuse_anything_but_loopback_http() {
        for (entry, want) in [
            ("mypurecloud.ie=https://api.mypurecloud.ie", "NotLoopback"),
            ("mypurecloud.ie=http://10.0.0.1:5000", "NotLoopback"),
            ("mypurecloud.ie=http://0.0.0.0:5000", "NotLoopback"),
            ("mypurecloud.ie=http://[::]:5000", "NotLoopback"),
            ("mypurecloud.ie=http://localhost.evil.com", "NotLoopback"),
            ("mypurecloud.ie=http://127.0.0.1.nip.io", "NotLoopback"),
            ("mypurecloud.ie=ftp://127.0.0.1", "NotLoopback"),
            ("mypurecloud.ie=http://user:pw@127.0.0.1", "NotLoopback"),
            ("mypurecloud.ie=http://127.0.0.1/?a=b", "NotLoopback"),
            ("mypurecloud.ie=127.0.0.1:5000", "InvalidUrl"),
            ("mypurecloud.ie=", "InvalidUrl"),
            ("mypurecloud.ie", "Malformed"),
            ("api.mypurecloud.ie=http://127.0.0.1", "UnknownRegion"),
            (
                "mypurecloud.ie=http://127.0.0.1,eu_west_1=http://127.0.0.1:2",
                "Duplicate",
            ),
        ] {
            let err = EndpointOverrides::parse(entry).unwrap_err();
            assert!(format!("{err:?}").starts_with(want), "{entry}: {err:?}");
        }
    }

    #[cfg(feature = "endpoint-overrides")]
    #[test]
    fn insert_checks_loopback_too() {
        let mut o = EndpointOverrides::none();
        assert!(o.insert(Region::EuWest1, "http://example.com").is_err());
        o.insert(Region::EuWest1, "http://127.0.0.1:9").unwrap();
        assert_eq!(o.resolve(Region::EuWest1).api_base.as_str(), "http://127.0.0.1:9/");
    }

    #[cfg(feature = "endpoint-overrides")]
    #[test]
    fn a_set_variable_is_parsed_and_blank_means_none() {
        assert!(EndpointOverrides::from_value(None).unwrap().is_empty());
        assert!(EndpointOverrides::from_value(Some(" ")).unwrap().is_empty());
        let o = EndpointOverrides::from_value(Some("mypurecloud.ie=http://127.0.0.1:5000")).unwrap();
        assert_eq!(o.resolve(Region::EuWest1).api_base.as_str(), "http://127.0.0.1:5000/");
        assert!(EndpointOverrides::from_value(Some("mypurecloud.ie=http://10.0.0.1")).is_err());
    }

    #[cfg(not(feature = "endpoint-overrides"))]
    #[test]
    fn without_the_feature_every_region_is_real_and_any_value_is_refused() {
        let o = EndpointOverrides::from_value(None).unwrap();
        assert!(o.is_empty());
        for region in Region::ALL {
            assert_eq!(o.resolve(region), Endpoints::for_region(region));
            assert!(o.get(region).is_none());
        }
        for value in ["mypurecloud.ie=http://127.0.0.1:5000", "", "  "] {
            let err = EndpointOverrides::from_value(Some(value)).unwrap_err();
            assert_eq!(err, EndpointOverrideError::NotInThisBuild);
            let text = err.to_string();
            assert!(
                text.contains("GENESYS_ENDPOINT_OVERRIDES")
                    && text.contains("this build does not take endpoint overrides"),
                "{text}"
            );
        }
    }
}
