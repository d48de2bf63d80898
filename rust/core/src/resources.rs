//! Memory estimated before it is allocated: every table whose size a user controls (the image,
//! the structure-factor grid, the source and mosaic tables) is sized here first and compared
//! with the memory this process can have, so an impossible request is a one-line error naming
//! what sets the size instead of an abort in the allocator.

use crate::error::{Error, Result};

/// The most a request may take when the machine's available memory is unknown: the x86-64
/// user address space (128 TiB). Nothing larger can be allocated anywhere.
const ADDRESS_SPACE: f64 = (1u64 << 47) as f64;

/// One allocation to be made: `bytes` for `what`, whose size is set by configuration `field`.
#[derive(Clone, Debug, PartialEq)]
pub struct Need {
    pub field: String,
    pub what: String,
    /// Estimated bytes, as f64 so that sizes past u64 (a 1e13-pixel square image) still compare.
    pub bytes: f64,
}

impl Need {
    pub fn new(field: &str, what: impl Into<String>, bytes: f64) -> Need {
        Need { field: field.to_string(), what: what.into(), bytes }
    }
}

/// Bytes this process may still allocate: the override `NANOBRAGG_MAX_MEMORY` (bytes, or with
/// a k/M/G/T suffix) if set, else the least of Linux's MemAvailable and the cgroup's remaining
/// limit, else `None` (another system: then only the address space bounds a request).
pub fn available_bytes() -> Option<f64> {
    if let Ok(v) = std::env::var("NANOBRAGG_MAX_MEMORY") {
        if let Some(b) = parse_size(&v) {
            return Some(b);
        }
    }
    let mem = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| meminfo_available(&t));
    let cgroup = cgroup_remaining();
    match (mem, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `MemAvailable` from the text of /proc/meminfo, in bytes.
fn meminfo_available(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// memory.max - memory.current of this process's cgroup (v2), when it has a limit.
fn cgroup_remaining() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = std::path::Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'));
    let max: f64 = std::fs::read_to_string(dir.join("memory.max")).ok()?.trim().parse().ok()?;
    let current: f64 = std::fs::read_to_string(dir.join("memory.current")).ok()?.trim().parse().ok()?;
    Some((max - current).max(0.0))
}

/// "8G", "512M", "1000000": bytes.
fn parse_size(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1e3),
        'm' | 'M' => (&s[..s.len() - 1], 1e6),
        'g' | 'G' => (&s[..s.len() - 1], 1e9),
        't' | 'T' => (&s[..s.len() - 1], 1e12),
        _ => (s, 1.0),
    };
    let x: f64 = num.trim().parse().ok()?;
    (x.is_finite() && x >= 0.0).then_some(x * mult)
}

/// Bytes per source in the setup's list and in the kernel's per-source table.
const SOURCE_BYTES: f64 = (size_of::<crate::sources::Source>() + 112) as f64;
/// Bytes per divergence point while the sources are generated (the point and its message).
const POINT_BYTES: f64 = 96.0;
/// Bytes per orientation (nine f64).
const ORIENTATION_BYTES: f64 = 72.0;

/// The float image the render fills: 4 bytes a pixel.
pub fn image(field: &str, fpixels: usize, spixels: usize) -> Need {
    Need::new(field, format!("the {fpixels} x {spixels}-pixel image"), fpixels as f64 * spixels as f64 * 4.0)
}

/// The divergence x dispersion sources (before the round-divergence trim, which keeps at
/// least pi/4 of them); `field` is the count that dominates.
pub fn generated_sources(hdivsteps: usize, vdivsteps: usize, dispsteps: usize) -> Need {
    let (h, v, d) = (hdivsteps as f64, vdivsteps as f64, dispsteps as f64);
    let field = if d >= h.max(v) {
        "beam.dispsteps"
    } else if h >= v {
        "beam.hdivsteps"
    } else {
        "beam.vdivsteps"
    };
    Need::new(
        field,
        format!("the source table ({hdivsteps} x {vdivsteps} divergence points x {dispsteps} wavelengths)"),
        h * v * (POINT_BYTES + d * SOURCE_BYTES) + d * 8.0,
    )
}

/// Sources read from a list.
pub fn listed_sources(count: usize) -> Need {
    Need::new("beam.sources", format!("the table of {count} sources"), count as f64 * SOURCE_BYTES)
}

/// The mosaic rotations and the kernel's two orientation tables (domains x phi steps each).
pub fn orientations(domains: usize, phisteps: usize) -> Need {
    let (d, p) = (domains as f64, phisteps as f64);
    let field = if d >= p { "crystal.mosaic_domains" } else { "sampling.phisteps" };
    Need::new(
        field,
        format!("the orientation table ({domains} mosaic domains x {phisteps} phi steps, twice)"),
        d * ORIENTATION_BYTES + 2.0 * d * p * ORIENTATION_BYTES + p * (8.0 + 2.0 * ORIENTATION_BYTES),
    )
}

/// A byte count for people: "360 GB", "2.4 MB", "4.0e26 bytes".
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
    if !bytes.is_finite() || bytes >= 1e21 {
        return format!("{bytes:.1e} bytes");
    }
    let mut x = bytes;
    let mut unit = 0;
    while x >= 1000.0 && unit < UNITS.len() - 1 {
        x /= 1000.0;
        unit += 1;
    }
    if unit == 0 || x >= 10.0 {
        format!("{x:.0} {}", UNITS[unit])
    } else {
        format!("{x:.1} {}", UNITS[unit])
    }
}

/// Refuse `needs` if any one, or all together, exceed the memory available now.
pub fn check(needs: &[Need]) -> Result<()> {
    check_against(needs, available_bytes())
}

/// [`check`] against a given amount of available memory (`None`: unknown).
pub fn check_against(needs: &[Need], available: Option<f64>) -> Result<()> {
    let limit = available.unwrap_or(ADDRESS_SPACE).min(ADDRESS_SPACE);
    let refuse = |n: &Need, what: String, bytes: f64| Error::Resources {
        field: n.field.clone(),
        what,
        needed: bytes,
        available: limit,
        known: available.is_some(),
    };
    if let Some(n) = needs.iter().find(|n| n.bytes.is_nan() || n.bytes > limit) {
        return Err(refuse(n, n.what.clone(), n.bytes));
    }
    let total: f64 = needs.iter().map(|n| n.bytes).sum();
    if total > limit {
        let largest = needs.iter().max_by(|a, b| a.bytes.total_cmp(&b.bytes)).expect("nonempty");
        let others = needs.len() - 1;
        let what = format!("{} with the {others} other table{}", largest.what, if others == 1 { "" } else { "s" });
        return Err(refuse(largest, what, total));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_for_people() {
        assert_eq!(human_bytes(360e9), "360 GB");
        assert_eq!(human_bytes(23.4e9), "23 GB");
        assert_eq!(human_bytes(2.44e6), "2.4 MB");
        assert_eq!(human_bytes(512.0), "512 bytes");
        assert_eq!(human_bytes(4e26), "4.0e26 bytes");
    }

    #[test]
    fn meminfo_and_size_parsing() {
        let text = "MemTotal:       32000000 kB\nMemFree:  100 kB\nMemAvailable:   23000000 kB\n";
        assert_eq!(meminfo_available(text), Some(23000000.0 * 1024.0));
        assert_eq!(meminfo_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_size("8G"), Some(8e9));
        assert_eq!(parse_size(" 512 M"), Some(512e6));
        assert_eq!(parse_size("1000"), Some(1000.0));
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn refusals_name_the_field_and_the_sizes() {
        let image = Need::new("detector.detpixels_f", "the 300000 x 300000-pixel image", 360e9);
        let err = check_against(std::slice::from_ref(&image), Some(23e9)).unwrap_err().to_string();
        assert_eq!(err, "detector.detpixels_f: the 300000 x 300000-pixel image needs 360 GB; 23 GB available");
        assert!(check_against(std::slice::from_ref(&image), Some(400e9)).is_ok());
        // Together too much, each alone not.
        let two = [Need::new("a", "the image", 6e9), Need::new("b", "the sources", 5e9)];
        let err = check_against(&two, Some(10e9)).unwrap_err().to_string();
        assert!(err.starts_with("a: the image with the 1 other table needs 11 GB"), "{err}");
        // NaN or infinite sizes are refused, not waved through.
        assert!(check_against(&[Need::new("x", "y", f64::NAN)], Some(1e9)).is_err());
        assert!(check_against(&[Need::new("x", "y", f64::INFINITY)], None).is_err());
        // Unknown available memory: still bounded by the address space.
        let err = check_against(&[Need::new("x", "the grid", 1e15)], None).unwrap_err().to_string();
        assert!(err.contains("the address space"), "{err}");
    }
}
