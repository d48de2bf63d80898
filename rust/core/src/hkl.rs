//! Structure factors: a dense grid over the index box of the input, nearest-neighbour lookup,
//! tricubic Lagrange interpolation, the `h k l F` text format and the reference's `Fdump.bin`.

use crate::error::{Error, Result};
use std::path::Path;

/// Cells a table may hold. The AVX2 gather takes 32-bit signed indices (and the kernel forms
/// indices in f64, exact far beyond this), so every cell index must fit in an i32.
pub const MAX_CELLS: usize = i32::MAX as usize;

/// Amplitudes on a dense grid `[h_min, h_max] x [k_min, k_max] x [l_min, l_max]`, stored with
/// one extra zero plane per axis as the reference allocates it (its `Fdump.bin` includes them).
///
/// Invariant, checked by every constructor and relied on by the kernel's unchecked gather:
/// `min <= max` on each axis, `data.len()` is exactly the product of [`extents`](Self::extents),
/// and that product is at most [`MAX_CELLS`]. The fields are private so that nothing can break
/// it after construction.
#[derive(Clone, Debug, PartialEq)]
pub struct HklTable {
    min: [i32; 3],
    max: [i32; 3],
    /// Number of entries read, or the grid size for a table read from a dump; zero turns
    /// structure-factor lookups (and interpolation) off as in the reference.
    count: usize,
    data: Vec<f64>,
}

/// `h k l` indices and amplitudes as read from a text file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HklEntries {
    pub indices: Vec<[i32; 3]>,
    pub amplitudes: Vec<f64>,
}

/// The allocated extent of each axis (range + 1 padding plane) and their product, in checked
/// arithmetic; `Err` says why the box cannot be a table.
fn grid_extents(min: [i32; 3], max: [i32; 3]) -> std::result::Result<([usize; 3], usize), String> {
    let mut ext = [0usize; 3];
    for a in 0..3 {
        if max[a] < min[a] {
            return Err(format!("axis {} runs from {} down to {}", "hkl".as_bytes()[a] as char, min[a], max[a]));
        }
        // At most 2^32 + 1: fits in i64 and usize (64-bit targets; 32-bit ones fail the product).
        let e = max[a] as i64 - min[a] as i64 + 2;
        ext[a] = usize::try_from(e).map_err(|_| "an axis is too long".to_string())?;
    }
    let cells = ext[0]
        .checked_mul(ext[1])
        .and_then(|x| x.checked_mul(ext[2]))
        .filter(|&n| n <= MAX_CELLS)
        .ok_or_else(|| {
            format!(
                "the index box h {}..{}, k {}..{}, l {}..{} has more than {} grid points, too many for a dense table",
                min[0], max[0], min[1], max[1], min[2], max[2], MAX_CELLS
            )
        })?;
    Ok((ext, cells))
}

/// What a grid is, for messages: "the structure-factor grid h -3..3, k .. (8 x 8 x 8 points)".
fn grid_name(min: [i32; 3], max: [i32; 3], ext: [usize; 3]) -> String {
    format!(
        "the structure-factor grid h {}..{}, k {}..{}, l {}..{} ({} x {} x {} points, dense over the index box)",
        min[0], max[0], min[1], max[1], min[2], max[2], ext[0], ext[1], ext[2]
    )
}

impl HklTable {
    /// The one constructor: checks the invariant the kernel's gather relies on.
    fn with_grid(min: [i32; 3], max: [i32; 3], count: usize, data: Vec<f64>) -> std::result::Result<HklTable, String> {
        let (_, cells) = grid_extents(min, max)?;
        if data.len() != cells {
            return Err(format!("{} values for a grid of {cells} points", data.len()));
        }
        Ok(HklTable { min, max, count, data })
    }

    fn ranges(&self) -> (i32, i32, i32) {
        // No overflow: each extent (range + 1) is at most MAX_CELLS.
        (self.max[0] - self.min[0] + 1, self.max[1] - self.min[1] + 1, self.max[2] - self.min[2] + 1)
    }

    #[inline(always)]
    fn index(&self, dh: i32, dk: i32, dl: i32) -> usize {
        let (_, kr, lr) = self.ranges();
        ((dh as usize * (kr as usize + 1)) + dk as usize) * (lr as usize + 1) + dl as usize
    }

    /// (h_min, k_min, l_min).
    pub fn min(&self) -> [i32; 3] {
        self.min
    }

    /// (h_max, k_max, l_max).
    pub fn max(&self) -> [i32; 3] {
        self.max
    }

    /// Number of entries read, or the grid size for a table read from a dump; zero turns
    /// structure-factor lookups (and interpolation) off as in the reference.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Build the grid from entries: cells without an entry hold `default_f` (the reference
    /// fills only when `default_f` is nonzero, which is the same); the last duplicate wins.
    /// The grid's memory is checked against what is available before it is allocated.
    pub fn from_entries(entries: &HklEntries, default_f: f64) -> Result<HklTable> {
        if entries.indices.is_empty() {
            return Err(Error::Input("no h k l F entries".into()));
        }
        if entries.indices.len() != entries.amplitudes.len() {
            return Err(Error::Input(format!(
                "{} index triples but {} amplitudes",
                entries.indices.len(),
                entries.amplitudes.len()
            )));
        }
        if let Some(i) = entries.amplitudes.iter().position(|f| !f.is_finite()) {
            let [h, k, l] = entries.indices[i];
            return Err(Error::Input(format!("the amplitude at h k l = {h} {k} {l} is {}, not a finite number", entries.amplitudes[i])));
        }
        if !default_f.is_finite() {
            return Err(Error::config("crystal.default_F", format!("{default_f} is not a finite number")));
        }
        let mut min = [i32::MAX; 3];
        let mut max = [i32::MIN; 3];
        for idx in &entries.indices {
            for a in 0..3 {
                min[a] = min[a].min(idx[a]);
                max[a] = max[a].max(idx[a]);
            }
        }
        let (ext, cells) = grid_extents(min, max).map_err(Error::Input)?;
        crate::resources::check(&[crate::resources::Need::new(
            "crystal.structure_factors",
            grid_name(min, max, ext),
            cells as f64 * 8.0,
        )])?;
        let mut t = HklTable::with_grid(min, max, entries.indices.len(), vec![0.0; cells]).map_err(Error::Input)?;
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
            let i = t.index(idx[0] - min[0], idx[1] - min[1], idx[2] - min[2]);
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
        let ([h_min, k_min, l_min], [h_max, k_max, l_max]) = (self.min, self.max);
        if self.count != 0 && h <= h_max && h >= h_min && k <= k_max && k >= k_min && l <= l_max && l >= l_min {
            Some(self.data[self.index(h - h_min, k - k_min, l - l_min)])
        } else {
            None
        }
    }

    /// Whether tricubic interpolation at fractional (h, k, l) stays inside the box; the test
    /// is the reference's, on the fractional indices.
    #[inline(always)]
    pub fn interpolation_in_range(&self, h: f64, k: f64, l: f64) -> bool {
        let (hr, kr, lr) = self.ranges();
        let [h_min, k_min, l_min] = self.min.map(f64::from);
        !((h - h_min + 3.0) > hr as f64
            || h - 2.0 < h_min
            || (k - k_min + 3.0) > kr as f64
            || k - 2.0 < k_min
            || (l - l_min + 3.0) > lr as f64
            || l - 2.0 < l_min)
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
                        hf - 1 + i1 as i32 - self.min[0],
                        kf - 1 + i2 as i32 - self.min[1],
                        lf - 1 + i3 as i32 - self.min[2],
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
    ///
    /// Every size comes from the file, so each is checked before use: the header is read
    /// from the first 4 kB only, the grid size in checked arithmetic against [`MAX_CELLS`],
    /// the file's length against it before reading, and the memory against what is
    /// available. A value that is not finite is refused, as in an `h k l F` file.
    pub fn read_fdump(path: &Path) -> Result<HklTable> {
        use std::io::{BufRead, BufReader, Read};
        let name = path.display().to_string();
        let bad = |m: String| Error::Parse { path: name.clone(), line: 0, message: m };
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut reader = BufReader::new(file);
        let mut header = Vec::new();
        (&mut reader).take(4096).read_until(0x0c, &mut header).map_err(|e| Error::io(path, e))?;
        if header.last() != Some(&0x0c) {
            return Err(bad("not an Fdump.bin: no header end (form feed) in its first 4 kB".into()));
        }
        let header_len = header.len() as u64;
        let text = std::str::from_utf8(&header[..header.len() - 1]).map_err(|_| bad("header is not text".into()))?;
        let v: Vec<i32> = text
            .split_whitespace()
            .map(|t| t.parse::<i32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad("the header must be six integers h_min h_max k_min k_max l_min l_max".into()))?;
        if v.len() != 6 {
            return Err(bad(format!("the header must be six integers h_min h_max k_min k_max l_min l_max, not {}", v.len())));
        }
        let (min, max) = ([v[0], v[2], v[4]], [v[1], v[3], v[5]]);
        let (ext, cells) = grid_extents(min, max).map_err(|m| bad(format!("header: {m}")))?;
        let bytes = cells as u64 * 8; // cells <= i32::MAX: no overflow
        if file_len.saturating_sub(header_len) < bytes {
            return Err(bad(format!(
                "the header announces {cells} doubles ({bytes} bytes) but {} bytes follow it",
                file_len.saturating_sub(header_len)
            )));
        }
        crate::resources::check(&[crate::resources::Need::new(&name, grid_name(min, max, ext), bytes as f64)])?;
        let mut data = Vec::with_capacity(cells);
        let mut chunk = vec![0u8; 1 << 16];
        let mut left = bytes as usize;
        while left > 0 {
            let n = left.min(chunk.len());
            reader.read_exact(&mut chunk[..n]).map_err(|e| Error::io(path, e))?;
            data.extend(chunk[..n].chunks_exact(8).map(|c| f64::from_ne_bytes(c.try_into().expect("8 bytes"))));
            left -= n;
        }
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            let (h, rest) = (i / (ext[1] * ext[2]), i % (ext[1] * ext[2]));
            let (k, l) = (rest / ext[2], rest % ext[2]);
            return Err(bad(format!(
                "the amplitude at h k l = {} {} {} is {}, not a finite number",
                min[0] as i64 + h as i64,
                min[1] as i64 + k as i64,
                min[2] as i64 + l as i64,
                data[i]
            )));
        }
        // Lookups see the grid without its padding planes: ranges multiply to less than cells.
        let count = (ext[0] - 1) * (ext[1] - 1) * (ext[2] - 1);
        HklTable::with_grid(min, max, count, data).map_err(bad)
    }

    /// Write the table in the reference's dump format, streamed (never a second copy in memory).
    pub fn write_fdump(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic_with(path, |w| {
            write!(w, "{} {} {} {} {} {}\n\x0c", self.min[0], self.max[0], self.min[1], self.max[1], self.min[2], self.max[2])?;
            for x in &self.data {
                w.write_all(&x.to_ne_bytes())?;
            }
            Ok(())
        })
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
    // About 20 bytes a line: one allocation for most files.
    e.indices.reserve(text.len() / 20);
    e.amplitudes.reserve(text.len() / 20);
    for (lineno, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let bad = |m: String| Error::Parse { path: name.to_string(), line: lineno + 1, message: m };
        let mut tokens = [""; 4];
        let mut count = 0;
        for token in content.split_whitespace() {
            if let Some(slot) = tokens.get_mut(count) {
                *slot = token;
            }
            count += 1;
        }
        if count != 4 {
            return Err(bad(format!("expected four numbers `h k l F`, found {count} fields")));
        }
        let mut idx = [0i32; 3];
        for (slot, token) in idx.iter_mut().zip(&tokens[..3]) {
            *slot = miller_index(token).map_err(bad)?;
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

/// A Miller index written as an integer (`3`, `-2`) or as a whole number (`3.0`), at most
/// 10⁶ in size.
fn miller_index(token: &str) -> std::result::Result<i32, String> {
    // Most files write plain integers: read those directly (a third of the reading time).
    let v = match token.parse::<i32>() {
        Ok(n) => f64::from(n),
        Err(_) => token.parse::<f64>().map_err(|_| format!("`{token}` is not a number"))?,
    };
    if v.fract() != 0.0 || !v.is_finite() || v.abs() > 1e6 {
        return Err(format!("Miller index `{token}` is not an integer"));
    }
    Ok(v as i32)
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
