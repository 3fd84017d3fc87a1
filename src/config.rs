//! Configuration: embedded defaults, then a TOML file, then `FLUXKV_*`
//! environment variables and flags (clap reads both), each layer
//! overriding the one before. Unknown keys — in the file or among
//! `FLUXKV_*` variables — are errors, so a typo never silently runs a node
//! on defaults.

use anyhow::{Context, bail};
use fluxkv_store::FsyncPolicy;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The whole configuration of a node.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// Where the AOF (and later snapshots and checkpoints) live.
    pub(crate) data_dir: PathBuf,
    pub(crate) resp: RespSection,
    pub(crate) aof: AofSection,
    pub(crate) store: StoreSection,
    pub(crate) log: LogSection,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RespSection {
    pub(crate) addr: String,
    pub(crate) requirepass: Option<String>,
    pub(crate) max_bulk_len: usize,
    pub(crate) max_inline_len: usize,
    pub(crate) max_clients: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AofSection {
    pub(crate) fsync: FsyncPolicy,
    pub(crate) segment_bytes: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StoreSection {
    pub(crate) shards: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogSection {
    /// A `tracing` filter: `info`, `debug`, `fluxkv_store=debug,info`, …
    pub(crate) level: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            resp: RespSection::default(),
            aof: AofSection::default(),
            store: StoreSection::default(),
            log: LogSection::default(),
        }
    }
}

impl Default for RespSection {
    fn default() -> Self {
        let limits = fluxkv_ingest::Limits::default();
        RespSection {
            addr: "127.0.0.1:6380".into(),
            requirepass: None,
            max_bulk_len: limits.max_bulk_len,
            max_inline_len: limits.max_inline_len,
            max_clients: 10_000,
        }
    }
}

impl Default for AofSection {
    fn default() -> Self {
        let defaults = fluxkv_store::AofOptions::default();
        AofSection {
            fsync: defaults.fsync,
            segment_bytes: defaults.segment_bytes,
        }
    }
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection { shards: 256 }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
        }
    }
}

/// Every configuration key as a flag and a `FLUXKV_*` variable; a key
/// `a.b` is the flag `--a-b` and the variable `FLUXKV_A_B`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct Overrides {
    /// Directory for the AOF and other state.
    #[arg(long, env = "FLUXKV_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// RESP listen address.
    #[arg(long, env = "FLUXKV_RESP_ADDR", value_name = "HOST:PORT")]
    pub(crate) resp_addr: Option<String>,
    /// Password clients must give with AUTH.
    #[arg(
        long,
        env = "FLUXKV_RESP_REQUIREPASS",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub(crate) resp_requirepass: Option<String>,
    /// Largest bulk string a client may send, in bytes.
    #[arg(long, env = "FLUXKV_RESP_MAX_BULK_LEN", value_name = "BYTES")]
    pub(crate) resp_max_bulk_len: Option<usize>,
    /// Longest inline command line, in bytes.
    #[arg(long, env = "FLUXKV_RESP_MAX_INLINE_LEN", value_name = "BYTES")]
    pub(crate) resp_max_inline_len: Option<usize>,
    /// Most simultaneous clients.
    #[arg(long, env = "FLUXKV_RESP_MAX_CLIENTS", value_name = "N")]
    pub(crate) resp_max_clients: Option<usize>,
    /// AOF fsync policy: always, everysec or no.
    #[arg(long, env = "FLUXKV_AOF_FSYNC", value_name = "POLICY")]
    pub(crate) aof_fsync: Option<FsyncPolicy>,
    /// Size at which a new AOF segment is started, in bytes.
    #[arg(long, env = "FLUXKV_AOF_SEGMENT_BYTES", value_name = "BYTES")]
    pub(crate) aof_segment_bytes: Option<u64>,
    /// Number of keyspace shards (a power of two).
    #[arg(long, env = "FLUXKV_STORE_SHARDS", value_name = "N")]
    pub(crate) store_shards: Option<usize>,
    /// Log filter (RUST_LOG, when set, wins).
    #[arg(long, env = "FLUXKV_LOG_LEVEL", value_name = "FILTER")]
    pub(crate) log_level: Option<String>,
}

/// Variables that are not configuration keys but belong to the CLI.
const NON_KEY_VARIABLES: &[&str] = &["FLUXKV_CONFIG"];
const KEY_VARIABLES: &[&str] = &[
    "FLUXKV_DATA_DIR",
    "FLUXKV_RESP_ADDR",
    "FLUXKV_RESP_REQUIREPASS",
    "FLUXKV_RESP_MAX_BULK_LEN",
    "FLUXKV_RESP_MAX_INLINE_LEN",
    "FLUXKV_RESP_MAX_CLIENTS",
    "FLUXKV_AOF_FSYNC",
    "FLUXKV_AOF_SEGMENT_BYTES",
    "FLUXKV_STORE_SHARDS",
    "FLUXKV_LOG_LEVEL",
];

impl Config {
    /// Defaults, then the file (if any), then overrides; validated.
    pub(crate) fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        reject_unknown_variables(std::env::vars().map(|(name, _)| name))?;
        let mut config = match file {
            Some(path) => Config::from_toml(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?,
            )
            .with_context(|| format!("in config file {}", path.display()))?,
            None => Config::default(),
        };
        config.apply(overrides);
        config.validate()?;
        Ok(config)
    }

    pub(crate) fn from_toml(text: &str) -> anyhow::Result<Config> {
        Ok(toml::from_str(text)?)
    }

    fn apply(&mut self, o: &Overrides) {
        let Overrides {
            data_dir,
            resp_addr,
            resp_requirepass,
            resp_max_bulk_len,
            resp_max_inline_len,
            resp_max_clients,
            aof_fsync,
            aof_segment_bytes,
            store_shards,
            log_level,
        } = o.clone();
        set(&mut self.data_dir, data_dir);
        set(&mut self.resp.addr, resp_addr);
        if resp_requirepass.is_some() {
            self.resp.requirepass = resp_requirepass;
        }
        set(&mut self.resp.max_bulk_len, resp_max_bulk_len);
        set(&mut self.resp.max_inline_len, resp_max_inline_len);
        set(&mut self.resp.max_clients, resp_max_clients);
        set(&mut self.aof.fsync, aof_fsync);
        set(&mut self.aof.segment_bytes, aof_segment_bytes);
        set(&mut self.store.shards, store_shards);
        set(&mut self.log.level, log_level);
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !self.store.shards.is_power_of_two() {
            bail!(
                "store.shards must be a power of two, got {}",
                self.store.shards
            );
        }
        if self.aof.segment_bytes < 4096 {
            bail!(
                "aof.segment_bytes must be at least 4096, got {}",
                self.aof.segment_bytes
            );
        }
        if self.resp.max_bulk_len == 0
            || self.resp.max_inline_len == 0
            || self.resp.max_clients == 0
        {
            bail!("resp.max_bulk_len, resp.max_inline_len and resp.max_clients must be positive");
        }
        Ok(())
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn reject_unknown_variables(names: impl Iterator<Item = String>) -> anyhow::Result<()> {
    for name in names.filter(|n| n.starts_with("FLUXKV_")) {
        if !KEY_VARIABLES.contains(&name.as_str()) && !NON_KEY_VARIABLES.contains(&name.as_str()) {
            bail!(
                "unknown configuration variable {name}; known: {}",
                KEY_VARIABLES.join(", ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Config::from_toml("[resp]\nadress = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `adress`"), "{err}");
        let err = Config::from_toml("colour = 1\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn file_values_and_overrides_layer() {
        let mut config =
            Config::from_toml("[aof]\nfsync = \"always\"\n[resp]\naddr = \"127.0.0.1:7000\"\n")
                .unwrap();
        assert_eq!(config.aof.fsync, FsyncPolicy::Always);
        config.apply(&Overrides {
            resp_addr: Some("127.0.0.1:7001".into()),
            ..Overrides::default()
        });
        assert_eq!(config.resp.addr, "127.0.0.1:7001");
        assert_eq!(config.aof.fsync, FsyncPolicy::Always);
    }

    #[test]
    fn unknown_variables_are_errors() {
        assert!(reject_unknown_variables(["FLUXKV_AOF_FSYNC".to_string()].into_iter()).is_ok());
        let err =
            reject_unknown_variables(["FLUXKV_AOF_FSNYC".to_string()].into_iter()).unwrap_err();
        assert!(err.to_string().contains("FLUXKV_AOF_FSNYC"));
    }

    #[test]
    fn example_config_in_docs_parses() {
        let text = include_str!("../docs/fluxkv.example.toml");
        let config = Config::from_toml(text).expect("docs/fluxkv.example.toml must parse");
        config.validate().unwrap();
    }
}
