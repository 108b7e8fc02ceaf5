//! Summaries of repeated measurements: median and range.

use std::fmt;

/// The median and the range of a set of measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The middle value (the mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values`; `None` when there are none or one is not a number.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() || values.iter().any(|value| value.is_nan()) {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        } else {
            sorted[middle]
        };
        Some(Self {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }

    /// Formats the summary as `median [min–max]` with `decimals` digits after the point.
    pub fn display(self, decimals: usize) -> impl fmt::Display {
        Shown {
            summary: self,
            decimals,
        }
    }
}

/// A summary being formatted (see [`Summary::display`]).
struct Shown {
    summary: Summary,
    decimals: usize,
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Summary { median, min, max } = self.summary;
        let decimals = self.decimals;
        write!(f, "{median:.decimals$} [{min:.decimals$}–{max:.decimals$}]")
    }
}

/// Round-by-round ratios `numerators[i] / denominators[i]`, skipping rounds where either
/// measurement is missing (a failed run) or the denominator is zero.
pub fn paired_ratios(numerators: &[Option<f64>], denominators: &[Option<f64>]) -> Vec<f64> {
    numerators
        .iter()
        .zip(denominators)
        .filter_map(|pair| match pair {
            (Some(numerator), Some(denominator)) if *denominator != 0.0 => {
                Some(numerator / denominator)
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let odd = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!(
            odd,
            Summary {
                median: 3.0,
                min: 1.0,
                max: 5.0
            }
        );
        let even = Summary::of(&[4.0, 1.0, 3.0, 10.0]).unwrap();
        assert_eq!(
            even,
            Summary {
                median: 3.5,
                min: 1.0,
                max: 10.0
            }
        );
    }

    #[test]
    fn nothing_or_nan_has_no_summary() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn display_rounds_each_part() {
        let summary = Summary::of(&[1.234, 0.5, 2.0]).unwrap();
        assert_eq!(summary.display(2).to_string(), "1.23 [0.50–2.00]");
    }

    #[test]
    fn ratios_pair_rounds_and_skip_missing_or_zero() {
        assert_eq!(
            paired_ratios(
                &[Some(2.0), Some(3.0), Some(4.0), None],
                &[Some(1.0), Some(0.0), Some(8.0), Some(1.0)]
            ),
            vec![2.0, 0.5]
        );
    }
}
