//! Bindings of the detector response (`nanobragg_core::response`): noisify.c's pipeline.

use nanobragg_core as core;
use core::response::counting::{self, Response, Seeds};
use core::response::psf::{Psf, PsfKind, PsfReport};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::Arc;

/// What a PSF pass reports: the image maximum and automatic radius (automatic radius only),
/// whether there was nothing to blur, the photons added back, the kernel radius used.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all)]
struct PsfPass {
    max_input: Option<f64>,
    auto_radius: Option<i32>,
    no_photons: bool,
    lost_photons: f64,
    kernel_radius: i32,
}

impl From<PsfReport> for PsfPass {
    fn from(r: PsfReport) -> Self {
        PsfPass {
            max_input: r.max_input,
            auto_radius: r.auto_radius,
            no_photons: r.no_photons,
            lost_photons: r.lost_photons,
            kernel_radius: r.kernel_radius,
        }
    }
}

/// One run of the response: the ideal (noiseless) pixels in 16 and 32 bits, the PGM bytes,
/// and with noise the noisy pixels and the numbers the reference prints.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all)]
struct ResponseOutcome {
    max_input: f64,
    max_photons: f64,
    ideal16: Py<PyArray2<u16>>,
    ideal32: Py<PyArray2<u32>>,
    pgm: Py<PyArray2<u8>>,
    ideal_psf: Option<Py<PsfPass>>,
    noise16: Option<Py<PyArray2<u16>>>,
    noise32: Option<Py<PyArray2<u32>>>,
    photons_before_psf: f64,
    photons: f64,
    overloads: usize,
    noise_psf: Option<Py<PsfPass>>,
}

fn array2<T: numpy::Element>(py: Python<'_>, data: Vec<T>, shape: (usize, usize)) -> Py<PyArray2<T>> {
    Array2::from_shape_vec(shape, data).expect("image shape").into_pyarray(py).unbind()
}

fn psf_pass(py: Python<'_>, r: Option<PsfReport>) -> PyResult<Option<Py<PsfPass>>> {
    r.map(|r| Py::new(py, PsfPass::from(r))).transpose()
}

/// Run noisify.c's pipeline on `values` (float32, shape (slow, fast), photons per pixel before
/// `scale` and `fluence`). `psf` is "gauss", "fiber" or None; `seed_state` and `calib_state`
/// are the generator states (the reference stores `-seed n` as −n).
#[pyfunction]
#[pyo3(signature = (values, *, seed_state, calib_state, fluence, scale, psf, psf_fwhm_px, psf_radius_px,
                    gain, adc, readout, flicker, calibration, noise, bits, fix_quirks, threads = None))]
#[allow(clippy::too_many_arguments)]
fn respond(
    py: Python<'_>,
    values: PyReadonlyArray2<'_, f32>,
    seed_state: i64,
    calib_state: i64,
    fluence: f64,
    scale: f64,
    psf: Option<&str>,
    psf_fwhm_px: f64,
    psf_radius_px: i32,
    gain: f64,
    adc: f64,
    readout: f64,
    flicker: f64,
    calibration: f64,
    noise: bool,
    bits: u32,
    fix_quirks: bool,
    threads: Option<usize>,
) -> PyResult<ResponseOutcome> {
    let kind = match psf {
        None => None,
        Some("gauss") => Some(PsfKind::Gauss),
        Some("fiber") => Some(PsfKind::Fiber),
        Some(other) => return Err(PyValueError::new_err(format!("unknown PSF type '{other}' (gauss, fiber)"))),
    };
    let shape = values.shape();
    let (height, width) = (shape[0], shape[1]);
    let data: Vec<f32> = values.as_array().iter().copied().collect();
    let response = Response {
        fluence_ph_per_m2: fluence,
        scale,
        psf: kind.map(|kind| Psf { kind, fwhm_px: psf_fwhm_px, radius_px: psf_radius_px }),
        gain_adu_per_photon: gain,
        adc_offset_adu: adc,
        readout_adu: readout,
        flicker,
        calibration,
        noise,
        bits,
        fix_quirks,
    };
    let seeds = Seeds { seed_state, calib_state };
    let ctl = Arc::new(core::RenderControl::default());
    let out = super::run_detached(py, threads, ctl, None, move |_| counting::noisify(&data, width, height, &response, seeds))?;
    let dims = (height, width);
    let (noise16, noise32, photons_before_psf, photons, overloads, noise_psf) = match out.noise {
        Some(n) => (
            Some(array2(py, n.pixels.int16, dims)),
            Some(array2(py, n.pixels.int32, dims)),
            n.photons_before_psf,
            n.photons,
            n.overloads,
            psf_pass(py, n.psf)?,
        ),
        None => (None, None, 0.0, 0.0, 0, None),
    };
    Ok(ResponseOutcome {
        max_input: out.max_input,
        max_photons: out.max_photons,
        ideal16: array2(py, out.ideal.int16, dims),
        ideal32: array2(py, out.ideal.int32, dims),
        pgm: array2(py, out.pgm, dims),
        ideal_psf: psf_pass(py, out.ideal_psf)?,
        noise16,
        noise32,
        photons_before_psf,
        photons,
        overloads,
        noise_psf,
    })
}

/// Add the response's classes and functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PsfPass>()?;
    m.add_class::<ResponseOutcome>()?;
    m.add_function(wrap_pyfunction!(respond, m)?)?;
    Ok(())
}
