//! X-ray sources: the divergence and dispersion grid or a user list, and the reference's
//! rules for turning ranges, step sizes and step counts into a sampling grid.

use crate::vec3::{rotate_axis, unitize, V3};
use serde::Serialize;

/// Distance of generated sources from the sample (m); only their direction matters.
const SOURCE_DISTANCE: f64 = 10.0;

/// One point source.
#[derive(Clone, Debug, Serialize)]
pub struct Source {
    /// Unit vector from the sample towards the source; the incident beam is its negative.
    pub direction: V3,
    /// Wavelength (m).
    pub wavelength_m: f64,
    /// Weight as given or generated; the reference never uses it (notes Q7).
    pub weight: f64,
    /// The position before normalisation, as the reference prints it.
    pub position: V3,
}

/// A range sampled in steps, after the reference's defaulting rules.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Steps {
    pub range: f64,
    pub step: f64,
    pub count: usize,
}

/// Resolve (range, step size, count) for divergence or dispersion (nanoBragg.c L1431-1581,
/// sanity L1676-1690). Negative values mean "not given"; `range_if_only_count` is the range
/// used when only a count is given.
pub fn resolve_steps(mut range: f64, mut step: f64, mut count: i64, range_if_only_count: f64) -> Steps {
    if count <= 0 {
        if range < 0.0 {
            if step <= 0.0 {
                count = 1;
                range = 0.0;
                step = 0.0;
            } else {
                range = step;
                count = 2;
            }
        } else if step <= 0.0 {
            step = range;
            count = 2;
        } else {
            count = (range / step).ceil() as i64;
        }
    } else if range < 0.0 {
        if step <= 0.0 {
            range = range_if_only_count;
            step = range / count as f64;
        } else {
            range = step;
            count = 2;
        }
    } else if step <= 0.0 {
        if count <= 1 {
            count = 2;
        }
        step = range / (count - 1) as f64;
    }
    if range <= 0.0 || step <= 0.0 || count <= 0 {
        return Steps { range: 0.0, step: 0.0, count: 1 };
    }
    Steps { range, step, count: count as usize }
}

/// Divergence and dispersion inputs (radians, fraction), negative meaning "not given".
#[derive(Clone, Copy, Debug)]
pub struct SpreadInput {
    pub hdiv: Steps,
    pub vdiv: Steps,
    pub disp: Steps,
    pub round_div: bool,
}

/// Generate the source grid: horizontal divergence outer, vertical inner, wavelength innermost.
/// Returns the sources and the number of divergence points kept.
pub fn generate_sources(
    s: &SpreadInput,
    beam: V3,
    polar: V3,
    vert: V3,
    lambda0: f64,
) -> (Vec<Source>, usize, Vec<String>) {
    let mut points = Vec::new();
    let mut messages = Vec::new();
    let (h, v) = (s.hdiv, s.vdiv);
    for ih in 0..h.count {
        for iv in 0..v.count {
            let hdiv = h.step * ih as f64 - h.range / 2.0;
            let vdiv = v.step * iv as f64 - v.range / 2.0;
            // An ellipse over the grid; a zero range gives 0/0 = NaN, which keeps the point.
            let mut test = (hdiv * hdiv - h.step * h.step / 4.0 * (1 - h.count as i64 % 2) as f64)
                / h.range
                / h.range;
            test += (vdiv * vdiv - v.step * v.step / 4.0 * (1 - v.count as i64 % 2) as f64)
                / v.range
                / v.range;
            if s.round_div && test * 4.0 > 1.1 {
                continue;
            }
            messages.push(format!(
                "divergence deviation: {} {}",
                crate::fmt::g(hdiv),
                crate::fmt::g(vdiv)
            ));
            points.push((hdiv, vdiv));
        }
    }
    let wavelengths: Vec<f64> = (0..s.disp.count)
        .map(|i| lambda0 * (1.0 + s.disp.step * i as f64 - s.disp.range / 2.0))
        .collect();
    let weight = 1.0 / (points.len() * wavelengths.len()) as f64;
    let mut sources = Vec::with_capacity(points.len() * wavelengths.len());
    for &(hdiv, vdiv) in &points {
        let start = [-SOURCE_DISTANCE * beam[0], -SOURCE_DISTANCE * beam[1], -SOURCE_DISTANCE * beam[2]];
        let position = rotate_axis(rotate_axis(start, polar, vdiv), vert, hdiv);
        for &wavelength_m in &wavelengths {
            sources.push(Source { direction: unitize(position).0, wavelength_m, weight, position });
        }
    }
    (sources, points.len(), messages)
}

/// Sources from rows of a source file: X Y Z (any length unit) weight wavelength (m); missing
/// trailing columns default to a source on the beam axis, weight 1 and `lambda0`.
pub fn sources_from_rows(rows: &[Vec<f64>], beam: V3, lambda0: f64) -> Vec<Source> {
    rows.iter()
        .map(|row| {
            let col = |i: usize, default: f64| row.get(i).copied().unwrap_or(default);
            let position = [
                col(0, -SOURCE_DISTANCE * beam[0]),
                col(1, -SOURCE_DISTANCE * beam[1]),
                col(2, -SOURCE_DISTANCE * beam[2]),
            ];
            Source {
                direction: unitize(position).0,
                wavelength_m: col(4, lambda0),
                weight: col(3, 1.0),
                position,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_rules() {
        let unset = -1.0;
        assert_eq!(resolve_steps(unset, unset, -1, 1.0), Steps { range: 0.0, step: 0.0, count: 1 });
        // range only: two points at +-range/2
        assert_eq!(resolve_steps(2e-3, unset, -1, 1.0), Steps { range: 2e-3, step: 2e-3, count: 2 });
        // count only: range 1 rad
        assert_eq!(resolve_steps(unset, unset, 4, 1.0), Steps { range: 1.0, step: 0.25, count: 4 });
        // range and count: inclusive grid
        assert_eq!(resolve_steps(2e-3, unset, 5, 1.0), Steps { range: 2e-3, step: 0.5e-3, count: 5 });
        // range and step: ceil
        assert_eq!(resolve_steps(1.5e-3, 0.5e-3, -1, 1.0).count, 3);
    }

    #[test]
    fn round_divergence_cuts_corners() {
        let s = SpreadInput {
            hdiv: resolve_steps(2e-3, -1.0, 5, 1.0),
            vdiv: resolve_steps(2e-3, -1.0, 5, 1.0),
            disp: resolve_steps(0.0, -1.0, -1, 1.0),
            round_div: true,
        };
        let beam = [1.0, 0.0, 0.0];
        let polar = [0.0, 0.0, 1.0];
        let vert = unitize(crate::vec3::cross(beam, polar)).0;
        let (src, kept, _) = generate_sources(&s, beam, polar, vert, 1e-10);
        assert!(kept < 25 && kept > 9, "{kept}");
        assert_eq!(src.len(), kept);
        let square = SpreadInput { round_div: false, ..s };
        assert_eq!(generate_sources(&square, beam, polar, vert, 1e-10).1, 25);
    }
}
