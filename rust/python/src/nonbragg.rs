//! Bindings of the amorphous background and the nonBragg program (`nanobragg nonbragg`).

use crate::{run_detached, to_py, ConfigError};
use nanobragg_core as core;
use core::background::{Abscissa, StolTable as CoreTable};
use core::nonbragg::{ExtractInput, NonBragg as CoreNonBragg, NonBraggInput, Printout, Rendered};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::Arc;

fn abscissa(name: &str) -> PyResult<Abscissa> {
    match name {
        "stol" => Ok(Abscissa::Stol),
        "4stol" => Ok(Abscissa::FourStol),
        "q" | "Q" => Ok(Abscissa::Q),
        _ => Err(PyValueError::new_err(format!("abscissa must be 'stol', '4stol' or 'q', not {name:?}"))),
    }
}

/// An F(sin θ/λ) table of an amorphous material, padded as nonBragg pads it.
#[pyclass(module = "nanobragg_rs._core", frozen)]
pub struct StolTable {
    inner: Arc<CoreTable>,
}

#[pymethods]
impl StolTable {
    /// Parse the text of a table file (two columns: abscissa, F). `abscissa` says what the
    /// first column is: "stol" (sin θ/λ, Å⁻¹), "4stol" or "q" (4π sin θ/λ). With `fixed`,
    /// comment lines are skipped and the rows sorted, otherwise they are read as nonBragg.c
    /// reads them.
    #[new]
    #[pyo3(signature = (text, abscissa = "stol", fixed = false))]
    fn new(text: &[u8], abscissa: &str, fixed: bool) -> PyResult<Self> {
        let t = CoreTable::parse(text, self::abscissa(abscissa)?, fixed).map_err(to_py)?;
        Ok(StolTable { inner: Arc::new(t) })
    }

    /// A table from data rows: abscissa values (in the unit `abscissa` names) and F.
    #[staticmethod]
    #[pyo3(signature = (x, f, abscissa = "stol", fixed = false))]
    fn from_rows(x: Vec<f64>, f: Vec<f64>, abscissa: &str, fixed: bool) -> PyResult<Self> {
        if x.len() != f.len() {
            return Err(PyValueError::new_err("x and f must have the same length"));
        }
        let rows: Vec<(f64, f64)> = x.into_iter().zip(f).collect();
        let t = CoreTable::from_rows(&rows, self::abscissa(abscissa)?, fixed).map_err(to_py)?;
        Ok(StolTable { inner: Arc::new(t) })
    }

    /// Entries including the four pads.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// F at each sin θ/λ (m⁻¹), looked up in order with the carried table index.
    fn interpolate<'py>(&self, py: Python<'py>, stol_per_m: Vec<f64>) -> Bound<'py, PyArray1<f64>> {
        let mut n = 0;
        let v: Vec<f64> = stol_per_m.iter().map(|&s| self.inner.interpolate(s, &mut n)).collect();
        v.into_pyarray(py)
    }
}

/// A resolved nonBragg run (detector, sources, sample), ready to render.
#[pyclass(module = "nanobragg_rs._core", frozen)]
pub struct NonBragg {
    inner: Arc<CoreNonBragg>,
    table: Arc<CoreTable>,
}

/// A rendered background image with the loop's sums.
#[pyclass(module = "nanobragg_rs._core", frozen)]
pub struct NonBraggImage {
    inner: Arc<Rendered>,
    run: Arc<CoreNonBragg>,
    table: Arc<CoreTable>,
}

fn image_2d<'py, T: numpy::Element>(py: Python<'py>, data: Vec<T>, run: &CoreNonBragg) -> Bound<'py, PyArray2<T>> {
    Array2::from_shape_vec((run.spixels, run.fpixels), data).expect("image shape").into_pyarray(py)
}

fn image_vec(run: &CoreNonBragg, image: &PyReadonlyArray2<'_, f32>) -> PyResult<Vec<f32>> {
    if image.shape() != [run.spixels, run.fpixels] {
        return Err(PyValueError::new_err(format!(
            "image shape {:?} is not the detector's ({}, {})",
            image.shape(),
            run.spixels,
            run.fpixels
        )));
    }
    Ok(image.as_array().iter().copied().collect())
}

#[pymethods]
impl NonBragg {
    /// Resolve `input` (a dictionary of `NonBraggInput` fields, SI units) with `table`;
    /// `table_name` is only printed.
    #[new]
    fn new(input: &Bound<'_, PyAny>, table: &StolTable, table_name: &str) -> PyResult<Self> {
        let input: NonBraggInput =
            pythonize::depythonize(input).map_err(|e| ConfigError::new_err(format!("nonbragg settings: {e}")))?;
        let nb = CoreNonBragg::new(&input, &table.inner, table_name).map_err(to_py)?;
        Ok(NonBragg { inner: Arc::new(nb), table: table.inner.clone() })
    }

    /// Render. `extract` = (input image as float32 (spixels, fpixels), values to ignore, adc,
    /// gain) switches on the F(stol) extraction; `printout` is None, "all" or (fast, slow).
    /// Ctrl-C stops the render.
    #[pyo3(signature = (extract = None, printout = None, progress = None))]
    fn render<'py>(
        &self,
        py: Python<'py>,
        extract: Option<(PyReadonlyArray2<'py, f32>, Vec<u16>, f64, f64)>,
        printout: Option<&Bound<'py, PyAny>>,
        progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<NonBraggImage> {
        let extract = match extract {
            Some((img, ignore, adc, gain)) => Some(ExtractInput { image: image_vec(&self.inner, &img)?, ignore, adc, gain }),
            None => None,
        };
        let printout = match printout {
            None => Printout::Off,
            Some(p) if p.extract::<String>().is_ok_and(|s| s == "all") => Printout::All,
            Some(p) => {
                let (f, s): (usize, usize) = p.extract()?;
                Printout::Pixel(f, s)
            }
        };
        let (run, table) = (self.inner.clone(), self.table.clone());
        let ctl = Arc::new(core::RenderControl::default());
        let r = run_detached(py, Some(1), ctl, progress, move |ctl| run.render(&table, extract.as_ref(), printout, ctl))?;
        Ok(NonBraggImage { inner: Arc::new(r), run: self.inner.clone(), table: self.table.clone() })
    }

    /// Raise ResourceError if the run's images (and, with `extraction`, the `-img` arrays)
    /// would not fit in the memory available.
    fn check_memory(&self, extraction: bool) -> PyResult<()> {
        self.inner.check_memory(extraction).map_err(to_py)
    }

    /// The SMV header both integer images carry (512 bytes).
    fn header<'py>(&self, py: Python<'py>) -> Bound<'py, pyo3::types::PyBytes> {
        pyo3::types::PyBytes::new(py, &self.inner.header())
    }

    /// The integer image: value·scale + adc, clamped and rounded as the reference does.
    fn int_image<'py>(&self, py: Python<'py>, image: PyReadonlyArray2<'py, f32>, scale: f64, adc: f64) -> PyResult<Bound<'py, PyArray2<u16>>> {
        let v = image_vec(&self.inner, &image)?;
        Ok(image_2d(py, self.inner.int_image(&v, scale, adc), &self.inner))
    }

    /// The PGM bytes: value·scale, at most 255, cast as the reference casts it.
    fn pgm_image<'py>(&self, py: Python<'py>, image: PyReadonlyArray2<'py, f32>, scale: f64) -> PyResult<Bound<'py, PyArray2<u8>>> {
        let v = image_vec(&self.inner, &image)?;
        Ok(image_2d(py, self.inner.pgm_image(&v, scale), &self.inner))
    }

    /// The Poisson-noise image from the reference's (negated) seed variable and ADC offset;
    /// returns (pixels, photon sum, overloads).
    fn noise_image<'py>(
        &self,
        py: Python<'py>,
        image: PyReadonlyArray2<'py, f32>,
        seed: i64,
        adc: f64,
    ) -> PyResult<(Bound<'py, PyArray2<u16>>, f64, usize)> {
        let v = image_vec(&self.inner, &image)?;
        let run = self.inner.clone();
        let (pixels, sum, over) = py.detach(move || run.noise_image(&v, seed, adc));
        Ok((image_2d(py, pixels, &self.inner), sum, over))
    }

    /// The lines the reference prints while setting up, after its banner.
    #[getter]
    fn setup_lines(&self) -> Vec<String> {
        self.inner.setup_lines.clone()
    }

    /// (spixels, fpixels).
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.inner.spixels, self.inner.fpixels)
    }
}

#[pymethods]
impl NonBraggImage {
    /// The float image (photons per pixel), shape (spixels, fpixels).
    fn image<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f32>> {
        image_2d(py, self.inner.image.clone(), &self.run)
    }

    /// Sum of every sub-pixel's solid angle (sr), as printed.
    #[getter]
    fn omega_sum(&self) -> f64 {
        self.inner.omega_sum
    }

    /// Rendered (window) pixels.
    #[getter]
    fn count(&self) -> usize {
        self.inner.count
    }

    /// The statistics the reference prints, dividing by `n` pixels (see the core).
    fn stats(&self, n: usize) -> crate::views::ImageStats {
        let st = self.run.stats(&self.inner, n);
        crate::views::ImageStats {
            max_i: st.max_i,
            max_i_x_m: st.max_i_x,
            max_i_y_m: st.max_i_y,
            mean: st.mean,
            rms: st.rms,
            rmsd: st.rmsd,
            count: self.inner.count,
            solid_angle_sr: self.inner.omega_sum,
        }
    }

    /// The `-stolout` text, the warning lines, and the last data bin's pixel count; None
    /// without an extraction.
    fn stolout(&self) -> Option<(String, Vec<String>, usize)> {
        self.inner.extraction.as_ref().map(|ex| self.run.stolout(&self.table, ex))
    }

    /// The lines `-printout` prints, pixel after pixel.
    fn printout_lines(&self) -> Vec<String> {
        self.inner.printout.iter().flat_map(|p| self.run.printout_lines(p)).collect()
    }
}

/// Rows of `ncols` numbers from a text file as nonBragg.c's reader reads them (NaN for a
/// missing column; see the core's `background::read_columns`).
#[pyfunction]
fn read_columns(text: &[u8], ncols: usize) -> Vec<Vec<f64>> {
    core::background::read_columns(text, ncols)
}

/// Add amorphous backgrounds, one per (table, molecules), to `image` (float32, the shape of
/// `simulation`'s detector) rendered by `simulation`, in place, with its geometry, sources,
/// polarization, oversampling and window.
#[pyfunction]
fn add_background(
    py: Python<'_>,
    simulation: &crate::Simulation,
    mut image: numpy::PyReadwriteArray2<'_, f32>,
    tables: Vec<PyRef<'_, StolTable>>,
    molecules: Vec<f64>,
) -> PyResult<()> {
    let setup = simulation.setup.clone();
    let g = &setup.panel().geometry;
    if image.shape() != [g.spixels, g.fpixels] {
        return Err(PyValueError::new_err("image shape is not the simulation's detector"));
    }
    if tables.len() != molecules.len() {
        return Err(PyValueError::new_err("one molecule count per table"));
    }
    let tables: Vec<Arc<CoreTable>> = tables.iter().map(|t| t.inner.clone()).collect();
    let data = image.as_slice_mut().map_err(|_| PyValueError::new_err("image must be C-contiguous"))?;
    py.detach(|| {
        let layers: Vec<core::background::Layer<'_>> =
            tables.iter().zip(&molecules).map(|(t, &m)| core::background::Layer { table: t, molecules: m }).collect();
        core::background::add_to_render(&setup, &layers, data);
    });
    Ok(())
}

/// Register the classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_columns, m)?)?;
    m.add_function(wrap_pyfunction!(add_background, m)?)?;
    m.add_class::<StolTable>()?;
    m.add_class::<NonBragg>()?;
    m.add_class::<NonBraggImage>()?;
    Ok(())
}
