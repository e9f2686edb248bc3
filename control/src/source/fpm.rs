//! FPM server for FRR's zebra. Being built (issue 7).

use crate::config::FpmSourceConfig;
use crate::source::SourceHandle;

/// Starts listening for zebra.
pub fn spawn(_cfg: &FpmSourceConfig) -> anyhow::Result<SourceHandle> {
    anyhow::bail!("[fpm]: the FPM server is not built yet")
}
