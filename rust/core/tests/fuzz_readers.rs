//! Fuzz targets for the core's file readers (`h k l F` text and the reference's `Fdump.bin`),
//! run inside `cargo test` for a bounded number of cases from fixed seeds, so a run is
//! reproducible and never flaky. Each input is random bytes, or a valid file mutated (numbers
//! replaced by extreme ones, bytes flipped, cut short), so the generator reaches both the
//! parsers' error paths and tables that parse. Every table that parses is rendered on every
//! instruction-set path this CPU has: an index outside a table would crash there (the SIMD
//! gather is unchecked). A reader may refuse an input; it may not panic or crash.
//! `NANOBRAGG_FUZZ_CASES` raises the number of cases for a longer run.

use nanobragg_core::{hkl, render_with, Config, HklTable, Isa, RenderControl, Setup};
use std::path::PathBuf;
use std::sync::Arc;

/// xorshift64*: a small deterministic generator, enough to drive a mutation fuzzer.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

fn cases(default: usize) -> usize {
    std::env::var("NANOBRAGG_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Numbers a hostile file would hold: the edges of i32, of the grid limit, of f64.
const EXTREME: &[&str] = &[
    "0", "1", "-1", "2", "-2", "1e6", "-1e6", "1000001", "2147483647", "-2147483648", "2147483648", "4294967297",
    "1048574", "-1048576", "262142", "-262144", "65535", "nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e-320",
    "0.5", "-0.0", "1.0", "1e", "+", "", "0x10", "1_0", "9999999999999999999999",
];

fn mutate_text(rng: &mut Rng, text: &str) -> Vec<u8> {
    let mut tokens: Vec<String> = text.split(' ').map(str::to_string).collect();
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(tokens.len());
        match rng.below(3) {
            0 => tokens[i] = rng.pick(EXTREME).to_string(),
            1 => {
                tokens.remove(i);
                if tokens.is_empty() {
                    tokens.push(String::new());
                }
            }
            _ => tokens.insert(i, rng.pick(EXTREME).to_string()),
        }
    }
    let mut bytes = tokens.join(" ").into_bytes();
    mutate_bytes(rng, &mut bytes, 2);
    bytes
}

fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>, max_flips: usize) {
    for _ in 0..rng.below(max_flips + 1) {
        if bytes.is_empty() {
            break;
        }
        let i = rng.below(bytes.len());
        bytes[i] = rng.next() as u8;
    }
    if rng.below(8) == 0 {
        let keep = rng.below(bytes.len() + 1);
        bytes.truncate(keep);
    }
}

fn random_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    (0..rng.below(max)).map(|_| rng.next() as u8).collect()
}

/// A small render with the table on every supported path: panics or crashes if a lookup or
/// an interpolation reads outside the table.
fn render_everywhere(table: HklTable) {
    let table = Arc::new(table);
    for interpolate in [false, true] {
        let mut c = Config::default();
        c.crystal.cell = Some([20.0, 20.0, 20.0, 90.0, 90.0, 90.0]);
        c.crystal.n_cells = [2, 2, 2];
        c.crystal.interpolate = Some(interpolate);
        c.crystal.default_f = 3.0;
        c.detector.detpixels_f = Some(8);
        c.detector.detpixels_s = Some(8);
        c.detector.pixel_size_mm = 4.0;
        c.detector.distance_mm = 20.0;
        c.beam.wavelength_A = 1.5;
        c.sampling.oversample = Some(1);
        let Ok(setup) = Setup::new(&c, Some(table.clone()), None) else { continue };
        for isa in Isa::ALL.into_iter().filter(|i| i.supported()) {
            let image = render_with(&setup, isa, &RenderControl::default()).expect("render");
            assert_eq!(image.data.len(), 64);
        }
    }
}

#[test]
fn fuzz_hkl_text() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let seeds = ["0 0 0 10\n1 2 3 4.5\n-2 -1 0 7", "# c\n-3 3 -3 1\n3 -3 3 2\n\n0 0 0 5", "1.0 -2 3 4.5e2"];
    let mut parsed = 0;
    for case in 0..cases(3000) {
        let bytes = if case % 5 == 0 {
            random_bytes(&mut rng, 200)
        } else {
            let seed = seeds[rng.below(seeds.len())];
            mutate_text(&mut rng, seed)
        };
        let text = String::from_utf8_lossy(&bytes);
        let Ok(entries) = hkl::parse_hkl_text(&text, "fuzz.hkl") else { continue };
        assert_eq!(entries.indices.len(), entries.amplitudes.len());
        assert!(entries.amplitudes.iter().all(|f| f.is_finite()), "{text:?}");
        parsed += 1;
        // Boxes past a few million points are refused or allocated as designed (tested
        // apart); the fuzzer keeps to small ones so it never takes much memory.
        let span = |a: usize| {
            let (lo, hi) = entries.indices.iter().fold((i64::MAX, i64::MIN), |(lo, hi), i| (lo.min(i[a] as i64), hi.max(i[a] as i64)));
            hi - lo + 2
        };
        if (span(0) as f64) * (span(1) as f64) * (span(2) as f64) > 4e6 {
            continue;
        }
        if let Ok(table) = HklTable::from_entries(&entries, 0.0) {
            let (e0, e1, e2) = table.extents();
            assert_eq!(table.data().len(), e0 * e1 * e2);
            if parsed % 5 == 0 {
                render_everywhere(table);
            }
        }
    }
    assert!(parsed > 40, "the generator should reach valid files ({parsed} parsed)");
}

fn fdump_bytes(header: &str, values: &[f64]) -> Vec<u8> {
    let mut out = format!("{header}\n\x0c").into_bytes();
    for v in values {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    out
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("nb-fuzz-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn fuzz_fdump() {
    let dir = TempDir::new("fdump");
    let path = dir.0.join("Fdump.bin");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    // A valid 2x2x2 box (3x3x3 with padding) to mutate.
    let valid_header = "-1 0 -1 0 -1 0";
    let valid_values: Vec<f64> = (0..27).map(|i| i as f64).collect();
    let mut read = 0;
    for case in 0..cases(2000) {
        let bytes = match case % 4 {
            0 => random_bytes(&mut rng, 300),
            1 => {
                let mut b = fdump_bytes(valid_header, &valid_values);
                mutate_bytes(&mut rng, &mut b, 3);
                b
            }
            _ => {
                // A mutated header over a body of plausible length, sometimes with NaN or inf.
                let mut header = mutate_text(&mut rng, valid_header);
                header.retain(|&b| b != 0x0c);
                let mut values = valid_values.clone();
                values.truncate(rng.below(64).min(27));
                values.extend((0..rng.below(64)).map(|i| i as f64));
                if rng.below(6) == 0 {
                    let i = rng.below(values.len().max(1)).min(values.len().saturating_sub(1));
                    if !values.is_empty() {
                        values[i] = *rng.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
                    }
                }
                fdump_bytes(&String::from_utf8_lossy(&header), &values)
            }
        };
        std::fs::write(&path, &bytes).unwrap();
        let Ok(table) = HklTable::read_fdump(&path) else { continue };
        read += 1;
        let (e0, e1, e2) = table.extents();
        assert_eq!(table.data().len(), e0 * e1 * e2);
        assert!(table.data().iter().all(|x| x.is_finite()));
        if read % 10 == 0 {
            render_everywhere(table);
        }
    }
    assert!(read > 50, "the generator should reach valid files ({read} read)");
}

/// The file that crashed the SIMD gather (exit 139): extents 2^21 x 2^21 x 2^19 make the
/// byte count 2^64, which wrapped to 0, so an empty body passed the length check.
#[test]
fn fdump_whose_size_overflows_is_refused() {
    let dir = TempDir::new("overflow");
    let path = dir.0.join("Fdump.bin");
    for header in [
        "-1048576 1048574 -1048576 1048574 -262144 262142",
        "-2147483648 2147483647 0 0 0 0",
        "0 2147483647 0 2147483647 0 2147483647",
        "0 40000 0 40000 0 40000",
    ] {
        std::fs::write(&path, fdump_bytes(header, &[])).unwrap();
        let err = HklTable::read_fdump(&path).unwrap_err().to_string();
        assert!(err.contains("Fdump.bin") && err.contains("too many for a dense table"), "{header}: {err}");
    }
    // Within the limit but with the body missing: the length is checked before reading.
    std::fs::write(&path, fdump_bytes("0 999 0 999 0 99", &[1.0; 10])).unwrap();
    let err = HklTable::read_fdump(&path).unwrap_err().to_string();
    assert!(err.contains("announces 101202101 doubles"), "{err}");
}

#[test]
fn fdump_with_nan_or_inverted_ranges_is_refused() {
    let dir = TempDir::new("nan");
    let path = dir.0.join("Fdump.bin");
    let mut values = vec![1.0; 27];
    values[13] = f64::NAN;
    std::fs::write(&path, fdump_bytes("-1 0 -1 0 -1 0", &values)).unwrap();
    let err = HklTable::read_fdump(&path).unwrap_err().to_string();
    assert!(err.contains("h k l = 0 0 0 is NaN, not a finite number"), "{err}");
    std::fs::write(&path, fdump_bytes("1 0 -1 0 -1 0", &[1.0; 27])).unwrap();
    let err = HklTable::read_fdump(&path).unwrap_err().to_string();
    assert!(err.contains("runs from 1 down to 0"), "{err}");
}

#[test]
fn hkl_entries_far_apart_are_bounded_before_allocation() {
    // Indices at the i32 limits: the box size is computed in i64 and refused, not wrapped.
    let e = hkl::HklEntries { indices: vec![[i32::MIN, 0, 0], [i32::MAX, 0, 0]], amplitudes: vec![1.0, 2.0] };
    let err = HklTable::from_entries(&e, 0.0).unwrap_err().to_string();
    assert!(err.contains("too many for a dense table"), "{err}");
    let e = hkl::HklEntries { indices: vec![[0, 0, 0]], amplitudes: vec![f64::NAN] };
    assert!(HklTable::from_entries(&e, 0.0).unwrap_err().to_string().contains("not a finite number"));
    let e = hkl::HklEntries { indices: vec![[0, 0, 0], [1, 1, 1]], amplitudes: vec![1.0] };
    assert!(HklTable::from_entries(&e, 0.0).is_err());
}
