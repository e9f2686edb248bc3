//! `[cores]`: which CPUs forwarding cores run on (online ones only), their rings,
//! bursts and idle policy.

use super::raw::RawCores;
use super::validate::Validator;
use super::{ConfigError, CoreSet, CoresConfig};
use toml::Spanned;

const RING_RANGE: std::ops::RangeInclusive<u32> = 64..=32768;
const BURST_RANGE: std::ops::RangeInclusive<u32> = 1..=256;

impl Validator<'_> {
    pub(super) fn cores(&self, raw: Option<Spanned<RawCores>>) -> Result<CoresConfig, ConfigError> {
        let Some(raw) = raw else {
            return Ok(CoresConfig {
                set: CoreSet::Count(1),
                rx_ring: 1024,
                tx_ring: 1024,
                burst: 32,
                yield_when_idle: false,
                count_bytes: false,
            });
        };
        let span = raw.span();
        let raw = raw.into_inner();
        let set = match (raw.cpus, raw.count) {
            (Some(_), Some(c)) => {
                return Err(self.err(c.span(), "give cores.cpus or cores.count, not both"))
            }
            (Some(cpus), None) => {
                let list_span = cpus.span();
                let cpus = cpus.into_inner();
                if cpus.is_empty() {
                    return Err(self.err(
                        list_span,
                        "cores.cpus is empty: at least one forwarding core is needed",
                    ));
                }
                let mut out: Vec<usize> = Vec::new();
                for c in cpus {
                    if !self.online.contains(c.get_ref()) {
                        return Err(self.err(
                            c.span(),
                            format!(
                                "CPU {} is not online on this machine (online: {})",
                                c.get_ref(),
                                cpu_list(self.online)
                            ),
                        ));
                    }
                    if out.contains(c.get_ref()) {
                        return Err(
                            self.err(c.span(), format!("CPU {} is listed twice", c.get_ref()))
                        );
                    }
                    out.push(c.into_inner());
                }
                CoreSet::Cpus(out)
            }
            (None, Some(c)) if *c.get_ref() == 0 => {
                return Err(self.err(c.span(), "cores.count must be at least 1"))
            }
            (None, Some(c)) => CoreSet::Count(c.into_inner()),
            (None, None) => return Err(self.err(span, "[cores] needs cpus = [...] or count = N")),
        };
        let ring = |r: Option<Spanned<u32>>, what: &str| -> Result<u32, ConfigError> {
            match r {
                None => Ok(1024),
                Some(r) if !r.get_ref().is_power_of_two() || !RING_RANGE.contains(r.get_ref()) => {
                    Err(self.err(
                        r.span(),
                        format!(
                            "cores.{what} {} must be a power of two in {}..={}",
                            r.get_ref(),
                            RING_RANGE.start(),
                            RING_RANGE.end()
                        ),
                    ))
                }
                Some(r) => Ok(r.into_inner()),
            }
        };
        let burst = match raw.burst {
            None => 32,
            Some(b) if !BURST_RANGE.contains(b.get_ref()) => {
                return Err(self.err(
                    b.span(),
                    format!(
                        "cores.burst {} out of range {}..={}",
                        b.get_ref(),
                        BURST_RANGE.start(),
                        BURST_RANGE.end()
                    ),
                ))
            }
            Some(b) => b.into_inner(),
        };
        let yield_when_idle = match raw.idle {
            None => false,
            Some(i) => match i.get_ref().as_str() {
                "spin" => false,
                "yield" => true,
                other => {
                    return Err(self.err(
                        i.span(),
                        format!("cores.idle = {other:?}: expected \"spin\" or \"yield\""),
                    ))
                }
            },
        };
        Ok(CoresConfig {
            set,
            rx_ring: ring(raw.rx_ring, "rx_ring")?,
            tx_ring: ring(raw.tx_ring, "tx_ring")?,
            burst,
            yield_when_idle,
            count_bytes: raw.count_bytes.unwrap_or(false),
        })
    }
}

/// `0-3,6` for the CPUs in `cpus`.
fn cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        out.push(if sorted[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", sorted[i])
        });
        i += 1;
    }
    out.join(",")
}
