//! Resource limits of a job, so one build cannot starve the others, and how they read.

pub use crate::config::JobLimits;

/// "4 GiB", "512 MiB", "1.5 GiB", "1000 B".
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{} {}", value as u64, UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::format_bytes;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(format_bytes(128 * 1024 * 1024), "128 MiB");
        assert_eq!(format_bytes(4 * 1024 * 1024 * 1024), "4 GiB");
        assert_eq!(format_bytes(1536 * 1024 * 1024), "1.5 GiB");
        assert_eq!(format_bytes(1000), "1000 B");
        assert_eq!(format_bytes(64 * 1024 * 1024), "64 MiB");
    }
}
