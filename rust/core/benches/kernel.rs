//! Micro-benchmarks of the kernel's pieces: the sin(πx) polynomial per lane type, and small
//! renders on each instruction-set path with each structure-factor mode.
//!
//! `cargo bench -p nanobragg-core`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use nanobragg_core::simd::{sinpi, Isa, Scalar};
use nanobragg_core::{render_with, Config, HklEntries, HklTable, RenderControl, Setup};
use std::sync::Arc;

fn config(n: i64, pixels: i64) -> Config {
    let mut c = Config::default();
    c.crystal.cell = Some([100.0, 100.0, 100.0, 90.0, 90.0, 90.0]);
    c.crystal.default_f = 100.0;
    c.crystal.n_cells = [n, n, n];
    c.detector.detpixels_f = Some(pixels);
    c.detector.detpixels_s = Some(pixels);
    c.sampling.oversample = Some(2);
    c
}

fn table() -> Arc<HklTable> {
    let mut e = HklEntries::default();
    for h in -40..=40 {
        for k in -40..=40 {
            for l in -40..=40 {
                if (h + k + l) % 3 == 0 {
                    e.indices.push([h, k, l]);
                    e.amplitudes.push(((h * 7 + k * 3 + l) as f64).abs() + 1.0);
                }
            }
        }
    }
    Arc::new(HklTable::from_entries(&e, 0.0).unwrap())
}

fn bench_sinpi(c: &mut Criterion) {
    let xs: Vec<f64> = (0..4096).map(|i| (i as f64 / 4096.0) - 0.5).collect();
    c.bench_function("sinpi scalar x4096", |b| {
        b.iter(|| xs.iter().map(|&x| sinpi::<Scalar>(black_box(x))).sum::<f64>())
    });
    c.bench_function("libm sin(pi x) x4096", |b| {
        b.iter(|| xs.iter().map(|&x| (std::f64::consts::PI * black_box(x)).sin()).sum::<f64>())
    });
}

fn bench_render(c: &mut Criterion) {
    let ctl = RenderControl::default();
    let plain = Setup::new(&config(10, 128), None, None).unwrap();
    let mut sparse_cfg = config(10, 128);
    sparse_cfg.crystal.default_f = 0.0;
    let sparse = Setup::new(&sparse_cfg, Some(table()), None).unwrap();
    let mut interp_cfg = config(2, 128);
    interp_cfg.crystal.default_f = 0.0;
    let interp = Setup::new(&interp_cfg, Some(table()), None).unwrap();
    let mut round_cfg = config(10, 128);
    round_cfg.crystal.shape = nanobragg_core::Shape::Round;
    let round = Setup::new(&round_cfg, None, None).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    for isa in Isa::ALL.into_iter().filter(|i| i.supported()) {
        for (name, setup) in [("default_F", &plain), ("sparse table", &sparse), ("interpolated", &interp), ("round", &round)] {
            c.bench_function(&format!("render 128x128 os2 {name} [{}]", isa.name()), |b| {
                b.iter(|| pool.install(|| render_with(black_box(setup), isa, &ctl).unwrap()))
            });
        }
    }
}

criterion_group!(benches, bench_sinpi, bench_render);
criterion_main!(benches);
