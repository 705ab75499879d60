//! Percentiles and units.

pub(crate) fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

pub(crate) fn median(v: &[f64]) -> f64 {
    pct(v, 50.0)
}

pub(crate) fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if s.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (s.len() - 1) as f64).round() as usize;
    s[i.min(s.len() - 1)]
}

pub(crate) fn secs(s: f64) -> String {
    format!("{s:.2} s")
}

pub(crate) fn ms(s: f64) -> String {
    format!("{:.1} ms", s * 1000.0)
}

pub(crate) fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

pub(crate) fn kb(b: u64) -> String {
    format!("{:.0} KB", b as f64 / 1000.0)
}
