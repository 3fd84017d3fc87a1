//! Configuration: embedded defaults, then a TOML file, then `FLUXKV_*`
//! environment variables and flags ([`Overrides`]), each layer overriding
//! the one before. Unknown keys — in the file or among `FLUXKV_*`
//! variables — are errors, so a typo never silently runs a node on
//! defaults.

mod overrides;
mod sections;

pub(crate) use overrides::Overrides;
use sections::{
    AofSection, GrpcSection, HttpSection, LogSection, NodeSection, RespSection, StoreSection,
    StreamSection,
};

use anyhow::{Context, bail};
use fluxkv_sinks::SinkConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole configuration of a node.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// Where the AOF, the node id and (later) checkpoints live.
    pub(crate) data_dir: PathBuf,
    pub(crate) node: NodeSection,
    pub(crate) resp: RespSection,
    pub(crate) grpc: GrpcSection,
    pub(crate) http: HttpSection,
    pub(crate) aof: AofSection,
    pub(crate) store: StoreSection,
    pub(crate) stream: StreamSection,
    pub(crate) log: LogSection,
    /// Named sinks (`[sinks.NAME] kind = "..."`), see docs/SINKS.md.
    pub(crate) sinks: BTreeMap<String, SinkConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            node: NodeSection::default(),
            resp: RespSection::default(),
            grpc: GrpcSection::default(),
            http: HttpSection::default(),
            aof: AofSection::default(),
            store: StoreSection::default(),
            stream: StreamSection::default(),
            log: LogSection::default(),
            sinks: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then overrides; validated.
    pub(crate) fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        overrides::reject_unknown_variables(std::env::vars().map(|(name, _)| name))?;
        let mut config = match file {
            Some(path) => Config::from_toml(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?,
            )
            .with_context(|| format!("in config file {}", path.display()))?,
            None => Config::default(),
        };
        overrides.apply_to(&mut config);
        config.validate()?;
        Ok(config)
    }

    pub(crate) fn from_toml(text: &str) -> anyhow::Result<Config> {
        Ok(toml::from_str(text)?)
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
        if self.stream.ring_events == 0 || self.stream.watermark_ms == 0 {
            bail!("stream.ring_events and stream.watermark_ms must be positive");
        }
        if let Some(name) = self.sinks.keys().find(|n| !valid_sink_name(n)) {
            bail!("sink name {name:?}: use letters, digits, '-' and '_' (it names files)");
        }
        if self
            .node
            .id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            bail!(
                "node.id must not contain spaces or control characters: {:?}",
                self.node.id
            );
        }
        Ok(())
    }

    /// The before-image size cap the store takes (`None`: off).
    pub(crate) fn before_images(&self) -> Option<usize> {
        self.stream
            .before_images
            .then_some(self.stream.before_image_max_bytes)
    }
}

fn valid_sink_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxkv_store::FsyncPolicy;

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
        Overrides {
            resp_addr: Some("127.0.0.1:7001".into()),
            stream_before_images: Some(true),
            ..Overrides::default()
        }
        .apply_to(&mut config);
        assert_eq!(config.resp.addr, "127.0.0.1:7001");
        assert_eq!(config.aof.fsync, FsyncPolicy::Always);
        assert_eq!(config.before_images(), Some(64 << 10));
    }

    #[test]
    fn unknown_variables_are_errors() {
        let ok = ["FLUXKV_AOF_FSYNC", "FLUXKV_CONFIG", "FLUXKV_GRPC_ADDR"].map(String::from);
        assert!(overrides::reject_unknown_variables(ok.into_iter()).is_ok());
        let err = overrides::reject_unknown_variables(["FLUXKV_AOF_FSNYC".to_string()].into_iter())
            .unwrap_err();
        assert!(err.to_string().contains("FLUXKV_AOF_FSNYC"));
    }

    #[test]
    fn sinks_are_named_tables() {
        let config = Config::from_toml(
            "[sinks.audit]\nkind = \"file\"\ndir = \"audit\"\n[sinks.screen]\nkind = \"stdout\"\n",
        )
        .unwrap();
        assert_eq!(config.sinks.keys().collect::<Vec<_>>(), ["audit", "screen"]);
        config.validate().unwrap();
        let bad = Config::from_toml("[sinks.\"a b\"]\nkind = \"stdout\"\n").unwrap();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn example_config_in_docs_parses() {
        let text = include_str!("../../docs/fluxkv.example.toml");
        let config = Config::from_toml(text).expect("docs/fluxkv.example.toml must parse");
        config.validate().unwrap();
        assert_eq!(
            config,
            Config::default(),
            "the example lists every key with its default"
        );
    }
}
