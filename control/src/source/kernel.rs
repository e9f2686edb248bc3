//! Mirror of a Linux routing table over rtnetlink. Being built (issue 7).

use crate::config::KernelSourceConfig;
use crate::source::SourceHandle;

/// Starts mirroring the configured kernel table.
pub fn spawn(_cfg: &KernelSourceConfig) -> anyhow::Result<SourceHandle> {
    anyhow::bail!("[kernel]: the kernel route mirror is not built yet")
}
