//! Structure factors: a dense grid over the index box of the input, nearest-neighbour lookup,
//! tricubic Lagrange interpolation, the `h k l F` text format and the reference's `Fdump.bin`.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Amplitudes on a dense grid `[h_min, h_max] x [k_min, k_max] x [l_min, l_max]`, stored with
/// one extra zero plane per axis as the reference allocates it (its `Fdump.bin` includes them).
#[derive(Clone, Debug, PartialEq)]
pub struct HklTable {
    pub h_min: i32,
    pub h_max: i32,
    pub k_min: i32,
    pub k_max: i32,
    pub l_min: i32,
    pub l_max: i32,
    /// Number of entries read, or the grid size for a table read from a dump; zero turns
    /// structure-factor lookups (and interpolation) off as in the reference.
    pub count: usize,
    data: Vec<f64>,
}

/// `h k l` indices and amplitudes as read from a text file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HklEntries {
    pub indices: Vec<[i32; 3]>,
    pub amplitudes: Vec<f64>,
}

impl HklTable {
    fn ranges(&self) -> (i32, i32, i32) {
        (self.h_max - self.h_min + 1, self.k_max - self.k_min + 1, self.l_max - self.l_min + 1)
    }

    #[inline(always)]
    fn index(&self, dh: i32, dk: i32, dl: i32) -> usize {
        let (_, kr, lr) = self.ranges();
        ((dh as usize * (kr as usize + 1)) + dk as usize) * (lr as usize + 1) + dl as usize
    }

    /// Build the grid from entries: cells without an entry hold `default_f` (the reference
    /// fills only when `default_f` is nonzero, which is the same); the last duplicate wins.
    pub fn from_entries(entries: &HklEntries, default_f: f64) -> Result<HklTable> {
        if entries.indices.is_empty() {
            return Err(Error::Input("no h k l F entries".into()));
        }
        let mut min = [i32::MAX; 3];
        let mut max = [i32::MIN; 3];
        for idx in &entries.indices {
            for a in 0..3 {
                min[a] = min[a].min(idx[a]);
                max[a] = max[a].max(idx[a]);
            }
        }
        let size: u64 = (0..3).map(|a| (max[a] - min[a] + 2) as u64).product();
        if size > 1 << 31 {
            return Err(Error::Input(format!(
                "the index box h {}..{}, k {}..{}, l {}..{} is too large for a dense table",
                min[0], max[0], min[1], max[1], min[2], max[2]
            )));
        }
        let mut t = HklTable {
            h_min: min[0],
            h_max: max[0],
            k_min: min[1],
            k_max: max[1],
            l_min: min[2],
            l_max: max[2],
            count: entries.indices.len(),
            data: vec![0.0; size as usize],
        };
        let (hr, kr, lr) = t.ranges();
        if default_f != 0.0 {
            for h in 0..hr {
                for k in 0..kr {
                    for l in 0..lr {
                        let i = t.index(h, k, l);
                        t.data[i] = default_f;
                    }
                }
            }
        }
        for (idx, &f) in entries.indices.iter().zip(&entries.amplitudes) {
            let i = t.index(idx[0] - t.h_min, idx[1] - t.k_min, idx[2] - t.l_min);
            t.data[i] = f;
        }
        Ok(t)
    }

    /// The grid, flat: index `((h - h_min)·(k_range + 1) + (k - k_min))·(l_range + 1) + (l - l_min)`.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// (h_range + 1, k_range + 1, l_range + 1): the allocated extent of each axis.
    pub fn extents(&self) -> (usize, usize, usize) {
        let (hr, kr, lr) = self.ranges();
        (hr as usize + 1, kr as usize + 1, lr as usize + 1)
    }

    /// The amplitude at integer indices inside the box, `None` outside it.
    #[inline(always)]
    pub fn get(&self, h: i32, k: i32, l: i32) -> Option<f64> {
        if self.count != 0
            && h <= self.h_max
            && h >= self.h_min
            && k <= self.k_max
            && k >= self.k_min
            && l <= self.l_max
            && l >= self.l_min
        {
            Some(self.data[self.index(h - self.h_min, k - self.k_min, l - self.l_min)])
        } else {
            None
        }
    }

    /// Whether tricubic interpolation at fractional (h, k, l) stays inside the box; the test
    /// is the reference's, on the fractional indices.
    #[inline(always)]
    pub fn interpolation_in_range(&self, h: f64, k: f64, l: f64) -> bool {
        let (hr, kr, lr) = self.ranges();
        !((h - self.h_min as f64 + 3.0) > hr as f64
            || h - 2.0 < self.h_min as f64
            || (k - self.k_min as f64 + 3.0) > kr as f64
            || k - 2.0 < self.k_min as f64
            || (l - self.l_min as f64 + 3.0) > lr as f64
            || l - 2.0 < self.l_min as f64)
    }

    /// Tricubic Lagrange interpolation through the 4x4x4 grid points around (h, k, l); call
    /// only where [`interpolation_in_range`](Self::interpolation_in_range) holds.
    pub fn interpolate(&self, h: f64, k: f64, l: f64) -> f64 {
        let (hf, kf, lf) = (h.floor() as i32, k.floor() as i32, l.floor() as i32);
        let xs = |f: i32| [(f - 1) as f64, f as f64, (f + 1) as f64, (f + 2) as f64];
        let (hx, kx, lx) = (xs(hf), xs(kf), xs(lf));
        let mut along_h = [0.0; 4];
        for (i1, out_h) in along_h.iter_mut().enumerate() {
            let mut along_k = [0.0; 4];
            for (i2, out_k) in along_k.iter_mut().enumerate() {
                let mut ys = [0.0; 4];
                for (i3, y) in ys.iter_mut().enumerate() {
                    *y = self.data[self.index(
                        hf - 1 + i1 as i32 - self.h_min,
                        kf - 1 + i2 as i32 - self.k_min,
                        lf - 1 + i3 as i32 - self.l_min,
                    )];
                }
                *out_k = polint(&lx, &ys, l);
            }
            *out_h = polint(&kx, &along_k, k);
        }
        polint(&hx, &along_h, h)
    }

    /// Read a table from the reference's dump format: six integers (h_min h_max k_min k_max
    /// l_min l_max) as text ending in "\n\f", then the grid as native-endian doubles.
    pub fn read_fdump(path: &Path) -> Result<HklTable> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let bad = |m: &str| Error::Parse { path: path.display().to_string(), line: 0, message: m.into() };
        let end = bytes.iter().position(|&b| b == 0x0c).ok_or_else(|| bad("no header end (form feed)"))?;
        let header = std::str::from_utf8(&bytes[..end]).map_err(|_| bad("header is not text"))?;
        let v: Vec<i32> = header
            .split_whitespace()
            .map(|t| t.parse::<i32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad("header must be six integers"))?;
        if v.len() != 6 || v[1] < v[0] || v[3] < v[2] || v[5] < v[4] {
            return Err(bad("header must be six integers h_min h_max k_min k_max l_min l_max"));
        }
        let n: usize = [(v[0], v[1]), (v[2], v[3]), (v[4], v[5])]
            .iter()
            .map(|(lo, hi)| (hi - lo + 2) as usize)
            .product();
        let body = &bytes[end + 1..];
        if body.len() < n * 8 {
            return Err(bad(&format!("expected {} doubles after the header, found {} bytes", n, body.len())));
        }
        let data = body[..n * 8]
            .chunks_exact(8)
            .map(|c| f64::from_ne_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let mut t =
            HklTable { h_min: v[0], h_max: v[1], k_min: v[2], k_max: v[3], l_min: v[4], l_max: v[5], count: 0, data };
        let (hr, kr, lr) = t.ranges();
        t.count = (hr as usize) * (kr as usize) * (lr as usize);
        Ok(t)
    }

    /// Write the table in the reference's dump format.
    pub fn write_fdump(&self, path: &Path) -> Result<()> {
        let mut out = Vec::with_capacity(64 + self.data.len() * 8);
        write!(
            out,
            "{} {} {} {} {} {}\n\x0c",
            self.h_min, self.h_max, self.k_min, self.k_max, self.l_min, self.l_max
        )
        .expect("write to memory");
        for x in &self.data {
            out.extend_from_slice(&x.to_ne_bytes());
        }
        crate::io::write_atomic(path, &out)
    }
}

/// 4-point Lagrange interpolation, each term's products taken left to right as the reference.
#[inline(always)]
pub fn polint(xa: &[f64; 4], ya: &[f64; 4], x: f64) -> f64 {
    let x0 = (x - xa[1]) * (x - xa[2]) * (x - xa[3]) * ya[0] / ((xa[0] - xa[1]) * (xa[0] - xa[2]) * (xa[0] - xa[3]));
    let x1 = (x - xa[0]) * (x - xa[2]) * (x - xa[3]) * ya[1] / ((xa[1] - xa[0]) * (xa[1] - xa[2]) * (xa[1] - xa[3]));
    let x2 = (x - xa[0]) * (x - xa[1]) * (x - xa[3]) * ya[2] / ((xa[2] - xa[0]) * (xa[2] - xa[1]) * (xa[2] - xa[3]));
    let x3 = (x - xa[0]) * (x - xa[1]) * (x - xa[2]) * ya[3] / ((xa[3] - xa[0]) * (xa[3] - xa[1]) * (xa[3] - xa[2]));
    x0 + x1 + x2 + x3
}

/// Read `h k l F` lines. Blank lines and `#` comments are skipped; indices must be integers
/// (written as `1` or `1.0`); any other line is an error naming the file and line.
pub fn read_hkl_text(path: &Path) -> Result<HklEntries> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_hkl_text(&text, &path.display().to_string())
}

/// Parse the text of an HKL file; `name` is used in error messages.
pub fn parse_hkl_text(text: &str, name: &str) -> Result<HklEntries> {
    let mut e = HklEntries::default();
    for (lineno, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let bad = |m: String| Error::Parse { path: name.to_string(), line: lineno + 1, message: m };
        let tokens: Vec<&str> = content.split_whitespace().collect();
        if tokens.len() != 4 {
            return Err(bad(format!("expected four numbers `h k l F`, found {} fields", tokens.len())));
        }
        let mut idx = [0i32; 3];
        for a in 0..3 {
            let v: f64 = tokens[a].parse().map_err(|_| bad(format!("`{}` is not a number", tokens[a])))?;
            if v.fract() != 0.0 || !v.is_finite() || v.abs() > 1e6 {
                return Err(bad(format!("Miller index `{}` is not an integer", tokens[a])));
            }
            idx[a] = v as i32;
        }
        let f: f64 = tokens[3].parse().map_err(|_| bad(format!("`{}` is not a number", tokens[3])))?;
        if !f.is_finite() {
            return Err(bad(format!("amplitude `{}` is not finite", tokens[3])));
        }
        e.indices.push(idx);
        e.amplitudes.push(f);
    }
    if e.indices.is_empty() {
        return Err(Error::Parse { path: name.to_string(), line: 0, message: "no h k l F entries".into() });
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> HklEntries {
        let mut e = HklEntries::default();
        for h in -3..=3 {
            for k in -3..=3 {
                for l in -3..=3 {
                    e.indices.push([h, k, l]);
                    e.amplitudes.push((h * 100 + k * 10 + l) as f64);
                }
            }
        }
        e
    }

    #[test]
    fn lookup_and_default_fill() {
        let e = HklEntries { indices: vec![[0, 0, 0], [2, 1, -1]], amplitudes: vec![5.0, 7.0] };
        let t = HklTable::from_entries(&e, 3.0).unwrap();
        assert_eq!(t.get(2, 1, -1), Some(7.0));
        assert_eq!(t.get(1, 0, 0), Some(3.0));
        assert_eq!(t.get(3, 0, 0), None);
    }

    #[test]
    fn interpolation_reproduces_a_cubic_polynomial() {
        // Tricubic Lagrange interpolation is exact for polynomials of degree 3 per axis.
        let mut e = HklEntries::default();
        let f = |h: f64, k: f64, l: f64| h * h * h - 2.0 * k * l + l * l + 4.0;
        for h in -4..=4 {
            for k in -4..=4 {
                for l in -4..=4 {
                    e.indices.push([h, k, l]);
                    e.amplitudes.push(f(h as f64, k as f64, l as f64));
                }
            }
        }
        let t = HklTable::from_entries(&e, 0.0).unwrap();
        let (h, k, l) = (0.3, -1.7, 1.25);
        assert!(t.interpolation_in_range(h, k, l));
        assert!((t.interpolate(h, k, l) - f(h, k, l)).abs() < 1e-9);
        assert!(!t.interpolation_in_range(2.5, 0.0, 0.0));
    }

    #[test]
    fn fdump_round_trip() {
        let t = HklTable::from_entries(&entries(), 0.0).unwrap();
        let dir = std::env::temp_dir().join(format!("nb-fdump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("Fdump.bin");
        t.write_fdump(&p).unwrap();
        let back = HklTable::read_fdump(&p).unwrap();
        assert_eq!(back.data, t.data);
        assert_eq!(back.count, 7 * 7 * 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn text_errors_name_the_line() {
        let err = parse_hkl_text("1 2 3 4\n1 2 3\n", "x.hkl").unwrap_err().to_string();
        assert!(err.contains("x.hkl") && err.contains("line 2"), "{err}");
        assert!(parse_hkl_text("1.5 2 3 4\n", "x.hkl").is_err());
        let ok = parse_hkl_text("# comment\n1.0 -2 3 4.5\n\n", "x.hkl").unwrap();
        assert_eq!(ok.indices, vec![[1, -2, 3]]);
    }
}
