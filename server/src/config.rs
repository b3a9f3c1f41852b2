//! perf_config.toml: parse, validate (exact key names and ranges), never silently default.

use std::fmt;
use std::path::{Path, PathBuf};

/// One integer knob: dotted name, allowed range and default.
#[derive(Debug, Clone, Copy)]
pub struct KnobSpec {
    pub name: &'static str,
    pub min: i64,
    pub max: i64,
    pub default: i64,
    pub help: &'static str,
}

/// Every runtime knob the server reads, in file order.
pub const KNOBS: &[KnobSpec] = &[
    KnobSpec {
        name: "num_shards",
        min: 1,
        max: 1024,
        default: 16,
        help: "keyspace partitions, each with its own lock and hash table",
    },
    KnobSpec {
        name: "threads",
        min: 1,
        max: 64,
        default: 1,
        help: "event-loop threads, each with its own epoll instance",
    },
    KnobSpec {
        name: "response_pool.capacity",
        min: 0,
        max: 65536,
        default: 128,
        help: "reply buffers kept for reuse per event-loop thread",
    },
    KnobSpec {
        name: "response_pool.buffer_size",
        min: 64,
        max: 16_777_216,
        default: 16384,
        help: "initial capacity in bytes of each reply buffer",
    },
    KnobSpec {
        name: "buffers.read_size",
        min: 512,
        max: 16_777_216,
        default: 16384,
        help: "bytes requested per read() system call",
    },
    KnobSpec {
        name: "buffers.max_size",
        min: 65536,
        max: 4_294_967_296,
        default: 1_073_741_824,
        help: "query-buffer limit per client; exceeding it replies an error and closes",
    },
    KnobSpec {
        name: "buffers.max_reply_size",
        min: 65536,
        max: 4_294_967_296,
        default: 536_870_912,
        help: "bytes one count-driven reply may queue (SRANDMEMBER with a negative count); \
               more answers an error naming this limit",
    },
    KnobSpec {
        name: "batching.min_pipeline_buffer",
        min: 0,
        max: 16_777_216,
        default: 0,
        help: "input bytes from which replies are coalesced instead of written per command",
    },
    KnobSpec {
        name: "batching.batch_threshold",
        min: 1,
        max: 65536,
        default: 256,
        help: "commands per batch: executed under held shard locks, then flushed",
    },
    KnobSpec {
        name: "encoding.set_max_intset_entries",
        min: 0,
        max: 1_073_741_824,
        default: 512,
        help: "sets of integers with up to this many members stay an intset (sorted packed integers; Redis's set-max-intset-entries)",
    },
    KnobSpec {
        name: "encoding.set_max_listpack_entries",
        min: 0,
        max: 1_073_741_824,
        default: 128,
        help: "sets with up to this many members stay a listpack (Redis's set-max-listpack-entries)",
    },
    KnobSpec {
        name: "encoding.set_max_listpack_value",
        min: 0,
        max: 1_073_741_824,
        default: 64,
        help: "longest member in bytes a listpack set holds (Redis's set-max-listpack-value)",
    },
    KnobSpec {
        name: "encoding.hash_max_listpack_entries",
        min: 0,
        max: 1_073_741_824,
        default: 128,
        help: "hashes with up to this many fields stay a listpack (Redis's hash-max-listpack-entries)",
    },
    KnobSpec {
        name: "encoding.hash_max_listpack_value",
        min: 0,
        max: 1_073_741_824,
        default: 64,
        help: "longest field or value in bytes a listpack hash holds (Redis's hash-max-listpack-value)",
    },
    KnobSpec {
        name: "encoding.zset_max_listpack_entries",
        min: 0,
        max: 1_073_741_824,
        default: 128,
        help: "sorted sets with up to this many members stay a listpack (Redis's zset-max-listpack-entries)",
    },
    KnobSpec {
        name: "encoding.zset_max_listpack_value",
        min: 0,
        max: 1_073_741_824,
        default: 64,
        help: "longest member in bytes a listpack sorted set holds (Redis's zset-max-listpack-value)",
    },
];

/// Knobs that were removed because a sweep showed their whole range moves no figure beyond
/// the noise (server/KNOBS.md); a config naming one gets an error saying so, not "unknown".
pub const REMOVED_KNOBS: &[(&str, &str)] = &[(
    "response_pool.prewarm",
    "it only saved the first replies an allocation and moved no measured figure beyond the \
     noise (server/KNOBS.md); delete the line",
)];

/// The effective runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub num_shards: usize,
    pub threads: usize,
    pub response_pool_capacity: usize,
    pub response_pool_buffer_size: usize,
    pub read_size: usize,
    pub max_size: usize,
    pub max_reply_size: usize,
    pub min_pipeline_buffer: usize,
    pub batch_threshold: usize,
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
}

impl Default for Config {
    fn default() -> Self {
        let values: Vec<i64> = KNOBS.iter().map(|k| k.default).collect();
        Config::from_values(&values)
    }
}

/// A configuration problem, naming the key and the allowed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    fn from_values(v: &[i64]) -> Config {
        Config {
            num_shards: v[0] as usize,
            threads: v[1] as usize,
            response_pool_capacity: v[2] as usize,
            response_pool_buffer_size: v[3] as usize,
            read_size: v[4] as usize,
            max_size: v[5] as usize,
            max_reply_size: v[6] as usize,
            min_pipeline_buffer: v[7] as usize,
            batch_threshold: v[8] as usize,
            set_max_intset_entries: v[9] as usize,
            set_max_listpack_entries: v[10] as usize,
            set_max_listpack_value: v[11] as usize,
            hash_max_listpack_entries: v[12] as usize,
            hash_max_listpack_value: v[13] as usize,
            zset_max_listpack_entries: v[14] as usize,
            zset_max_listpack_value: v[15] as usize,
        }
    }

    /// Values in `KNOBS` order.
    pub fn values(&self) -> [i64; 16] {
        [
            self.num_shards as i64,
            self.threads as i64,
            self.response_pool_capacity as i64,
            self.response_pool_buffer_size as i64,
            self.read_size as i64,
            self.max_size as i64,
            self.max_reply_size as i64,
            self.min_pipeline_buffer as i64,
            self.batch_threshold as i64,
            self.set_max_intset_entries as i64,
            self.set_max_listpack_entries as i64,
            self.set_max_listpack_value as i64,
            self.hash_max_listpack_entries as i64,
            self.hash_max_listpack_value as i64,
            self.zset_max_listpack_entries as i64,
            self.zset_max_listpack_value as i64,
        ]
    }

    /// Value of a knob by dotted name.
    pub fn get(&self, name: &str) -> Option<i64> {
        KNOBS.iter().position(|k| k.name == name).map(|i| self.values()[i])
    }

    /// Parses and validates TOML text; `origin` names the file in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError(format!("{origin}: TOML syntax error: {e}")))?;
        let mut flat = Vec::new();
        flatten("", &table, &mut flat, origin)?;
        let mut values: Vec<Option<i64>> = vec![None; KNOBS.len()];
        for (key, value) in flat {
            if let Some((_, why)) = REMOVED_KNOBS.iter().find(|(name, _)| *name == key) {
                return Err(ConfigError(format!("{origin}: {key} was removed: {why}")));
            }
            let Some(idx) = KNOBS.iter().position(|k| k.name == key) else {
                let allowed: Vec<&str> = KNOBS.iter().map(|k| k.name).collect();
                return Err(ConfigError(format!(
                    "{origin}: unknown key '{key}' (allowed keys: {})",
                    allowed.join(", ")
                )));
            };
            let spec = &KNOBS[idx];
            let toml::Value::Integer(n) = value else {
                return Err(ConfigError(format!(
                    "{origin}: {key} must be an integer between {} and {}, got {} {}",
                    spec.min,
                    spec.max,
                    value.type_str(),
                    value
                )));
            };
            if n < spec.min || n > spec.max {
                return Err(ConfigError(format!(
                    "{origin}: {key} = {n} is out of range (allowed: {} to {})",
                    spec.min, spec.max
                )));
            }
            values[idx] = Some(n);
        }
        let v: Vec<i64> = values.iter().zip(KNOBS).map(|(v, k)| v.unwrap_or(k.default)).collect();
        Ok(Config::from_values(&v))
    }

    /// Loads a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read config file: {e}", path.display())))?;
        Config::parse(&text, &path.display().to_string())
    }

    /// One-line summary for the start-up log.
    pub fn summary(&self) -> String {
        KNOBS.iter().zip(self.values()).map(|(k, v)| format!("{}={v}", k.name)).collect::<Vec<_>>().join(" ")
    }
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, toml::Value)>,
    origin: &str,
) -> Result<(), ConfigError> {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) => {
                if !KNOBS.iter().any(|s| s.name.starts_with(&format!("{key}."))) {
                    let sections: Vec<&str> =
                        KNOBS.iter().filter_map(|s| s.name.split_once('.').map(|(a, _)| a)).collect();
                    let mut sections = sections;
                    sections.dedup();
                    return Err(ConfigError(format!(
                        "{origin}: unknown section [{key}] (allowed sections: {})",
                        sections.join(", ")
                    )));
                }
                flatten(&key, t, out, origin)?
            }
            other => out.push((key, other.clone())),
        }
    }
    Ok(())
}

/// Where the config comes from: `--config`, else `$PERF_CONFIG_PATH`, else `./perf_config.toml`.
pub fn resolve_path(cli: Option<PathBuf>) -> Option<PathBuf> {
    if let Some(p) = cli {
        return Some(p);
    }
    if let Some(p) = std::env::var_os("PERF_CONFIG_PATH") {
        if !p.is_empty() {
            return Some(PathBuf::from(p));
        }
    }
    let local = PathBuf::from("perf_config.toml");
    local.exists().then_some(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_empty() {
        assert_eq!(Config::parse("", "t").unwrap(), Config::default());
    }

    #[test]
    fn shipped_file_equals_defaults() {
        let c = Config::parse(include_str!("../perf_config.toml"), "perf_config.toml").unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn full_file() {
        let c = Config::parse(
            "num_shards = 4\nthreads = 2\n[response_pool]\ncapacity = 10\nbuffer_size = 512\n\
             [buffers]\nread_size = 4096\nmax_size = 1048576\n[batching]\nmin_pipeline_buffer = 0\n\
             batch_threshold = 8\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.num_shards, 4);
        assert_eq!(c.threads, 2);
        assert_eq!(c.response_pool_capacity, 10);
        assert_eq!(c.response_pool_buffer_size, 512);
        assert_eq!(c.read_size, 4096);
        assert_eq!(c.batch_threshold, 8);
        assert_eq!(c.get("buffers.max_size"), Some(1048576));
        assert_eq!(c.get("buffers.max_reply_size"), Some(536_870_912));
    }

    #[test]
    fn encoding_thresholds_parse() {
        let c =
            Config::parse("[encoding]\nset_max_intset_entries = 0\nzset_max_listpack_value = 1000\n", "t")
                .unwrap();
        assert_eq!(c.set_max_intset_entries, 0);
        assert_eq!(c.zset_max_listpack_value, 1000);
        assert_eq!(c.hash_max_listpack_entries, 128);
    }

    #[test]
    fn dotted_keys_work() {
        let c = Config::parse("batching.batch_threshold = 3", "t").unwrap();
        assert_eq!(c.batch_threshold, 3);
    }

    #[test]
    fn rejects_bad_input() {
        let e = Config::parse("num_shards = 0", "t").unwrap_err().0;
        assert!(e.contains("num_shards = 0 is out of range (allowed: 1 to 1024)"), "{e}");
        let e = Config::parse("bogus = 1", "t").unwrap_err().0;
        assert!(e.contains("unknown key 'bogus'"), "{e}");
        let e = Config::parse("[nope]\nx = 1", "t").unwrap_err().0;
        assert!(e.contains("unknown section [nope]"), "{e}");
        let e = Config::parse("[buffers]\nread_sizes = 1", "t").unwrap_err().0;
        assert!(e.contains("unknown key 'buffers.read_sizes'"), "{e}");
        let e = Config::parse("threads = \"2\"", "t").unwrap_err().0;
        assert!(e.contains("threads must be an integer between 1 and 64, got string"), "{e}");
        let e = Config::parse("threads = ", "t").unwrap_err().0;
        assert!(e.contains("TOML syntax error"), "{e}");
        let e = Config::parse("[response_pool]\nprewarm = 5", "t").unwrap_err().0;
        assert!(e.contains("response_pool.prewarm was removed"), "{e}");
        let e = Config::parse("encoding.hash_max_listpack_value = -1", "t").unwrap_err().0;
        assert!(e.contains("out of range (allowed: 0 to 1073741824)"), "{e}");
    }
}
