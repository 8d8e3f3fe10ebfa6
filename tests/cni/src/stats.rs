//! Order statistics of the benchmark (nearest-rank, no interpolation: each figure is a sample).

use std::time::Duration;

/// The `p`-th percentile (0..=100) of `samples`, nearest rank; `None` when empty.
pub fn percentile(samples: &[Duration], p: u32) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (p as usize * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// Median and 90th percentile.
pub fn median_p90(samples: &[Duration]) -> Option<(Duration, Duration)> {
    Some((percentile(samples, 50)?, percentile(samples, 90)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank() {
        let s = ms(&[5, 1, 4, 2, 3, 10, 9, 8, 7, 6]);
        assert_eq!(percentile(&s, 50), Some(Duration::from_millis(5)));
        assert_eq!(percentile(&s, 90), Some(Duration::from_millis(9)));
        assert_eq!(percentile(&s, 100), Some(Duration::from_millis(10)));
        assert_eq!(percentile(&ms(&[7]), 90), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50), None);
    }
}
