//! `quota_p90` (SPEC 4, measure 3: quotas that 90% of workers can meet within legal hours):
//! for each (platform, role, city), when a local day ends, the nearest-rank 90th percentile
//! of that day's working time over the workers who worked it, a violation above `standard`.
//! It spans workers (live: partitions), so the engine, not a worker, evaluates it
//! (`engine::quota_alerts`); this module holds its parameters.

use crate::pack::{PackError, Reader};

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub standard: i64,
    pub min_workers: u32,
}

impl Params {
    /// Reads `standard` (default `$daily_standard`) and `min_workers` (`$quota_min_workers`).
    pub fn read(r: &mut Reader<'_>) -> Result<Params, PackError> {
        let standard = r.duration_or_key("standard", "daily_standard")?;
        let min_workers = r.integer_or_key("min_workers", "quota_min_workers")?;
        if !(0..=i64::from(u32::MAX)).contains(&min_workers) {
            return Err(r.error("`min_workers` must be at least 0"));
        }
        // 0 skips no group, as 1 does: a group is there only with a worker who worked.
        Ok(Params {
            standard,
            min_workers: (min_workers as u32).max(1),
        })
    }
}
