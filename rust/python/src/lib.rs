//! `nanobragg_rs._core`: the thin PyO3 layer over `nanobragg-core`.
//!
//! Inputs are copied into owned Rust data, then the render runs with the GIL released on a
//! worker thread while the calling thread watches for Ctrl-C and reports progress.

mod views;

use nanobragg_core as core;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

mod nonbragg;
mod outputs;
mod response;

create_exception!(_core, NanoBraggError, PyValueError, "Base class of nanobragg_rs errors.");
create_exception!(_core, ConfigError, NanoBraggError, "A configuration value is missing, malformed or impossible.");
create_exception!(_core, InputFileError, NanoBraggError, "An input file could be read but not understood.");
create_exception!(_core, ResourceError, ConfigError, "What the configuration asks for would not fit in the memory available.");

/// Map a core error to the Python exception a caller would expect.
fn to_py(e: core::Error) -> PyErr {
    match &e {
        core::Error::Config { .. } => ConfigError::new_err(e.to_string()),
        core::Error::Parse { .. } => InputFileError::new_err(e.to_string()),
        core::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(e.to_string())
        }
        core::Error::Io { .. } => PyOSError::new_err(e.to_string()),
        core::Error::Input(_) => NanoBraggError::new_err(e.to_string()),
        core::Error::Resources { .. } => ResourceError::new_err(e.to_string()),
        core::Error::Cancelled => pyo3::exceptions::PyKeyboardInterrupt::new_err("render cancelled"),
    }
}

fn config_from(obj: &Bound<'_, PyAny>) -> PyResult<core::Config> {
    pythonize::depythonize(obj).map_err(|e| ConfigError::new_err(format!("configuration: {e}")))
}

/// rayon pools by thread count, built once: building a pool per render would cost more than
/// rendering a small image.
fn pool(threads: Option<usize>) -> PyResult<Option<Arc<rayon::ThreadPool>>> {
    let Some(n) = threads else { return Ok(None) };
    // Past a few per core more threads only cost memory and start-up; 1024 bounds any machine.
    if !(1..=1024).contains(&n) {
        return Err(PyValueError::new_err(format!("threads: give 1 to 1024, not {n}")));
    }
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().expect("pool cache");
    if let Some(p) = pools.get(&n) {
        return Ok(Some(p.clone()));
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| PyOSError::new_err(format!("cannot start {n} threads: {e}")))?,
    );
    pools.insert(n, p.clone());
    Ok(Some(p))
}

/// Run `job` off the calling thread with the GIL released; every 50 ms check for signals
/// (Ctrl-C cancels through `ctl`) and call `progress(rows_done)` if given.
fn run_detached<T: Send + 'static>(
    py: Python<'_>,
    threads: Option<usize>,
    ctl: Arc<core::RenderControl>,
    progress: Option<&Bound<'_, PyAny>>,
    job: impl FnOnce(&core::RenderControl) -> core::Result<T> + Send + 'static,
) -> PyResult<T> {
    outputs::numpy_ready(py)?;
    run_detached_plain(py, threads, ctl, progress, job)
}

/// [`run_detached`] for a job whose result reaches Python without numpy (the core writes the
/// files): numpy is neither needed nor imported.
fn run_detached_plain<T: Send + 'static>(
    py: Python<'_>,
    threads: Option<usize>,
    ctl: Arc<core::RenderControl>,
    progress: Option<&Bound<'_, PyAny>>,
    job: impl FnOnce(&core::RenderControl) -> core::Result<T> + Send + 'static,
) -> PyResult<T> {
    let pool = pool(threads)?;
    let (tx, rx) = mpsc::channel();
    let worker_ctl = ctl.clone();
    std::thread::spawn(move || {
        let result = match pool {
            Some(p) => p.install(|| job(&worker_ctl)),
            None => job(&worker_ctl),
        };
        let _ = tx.send(result);
    });
    let mut rx = rx;
    loop {
        // The receiver moves into the GIL-free closure and back (it is Send, not Sync).
        let (got, back) = py.detach(move || (rx.recv_timeout(Duration::from_millis(50)), rx));
        rx = back;
        match got {
            Ok(result) => return result.map_err(to_py),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(NanoBraggError::new_err("render thread ended without a result"))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let checked = py.check_signals().and_then(|()| match progress {
            Some(cb) => cb.call1((ctl.rows_done.load(Ordering::Relaxed),)).map(|_| ()),
            None => Ok(()),
        });
        if let Err(e) = checked {
            ctl.cancel.store(true, Ordering::Relaxed);
            let _ = py.detach(move || rx.recv());
            return Err(e);
        }
    }
}

/// A table of structure factors on a dense h, k, l grid.
#[pyclass(module = "nanobragg_rs._core", frozen)]
struct HklTable {
    inner: Arc<core::HklTable>,
}

#[pymethods]
impl HklTable {
    /// Build from Miller indices (N x 3 integers) and amplitudes; grid points without an entry
    /// hold `default_F`.
    #[staticmethod]
    #[pyo3(signature = (indices, amplitudes, default_F = 0.0))]
    #[allow(non_snake_case)]
    fn from_arrays(indices: PyReadonlyArray2<'_, i32>, amplitudes: PyReadonlyArray1<'_, f64>, default_F: f64) -> PyResult<Self> {
        let idx = indices.as_array();
        let amp = amplitudes.as_array();
        if idx.ncols() != 3 || idx.nrows() != amp.len() {
            return Err(NanoBraggError::new_err(format!(
                "need indices of shape (N, 3) and N amplitudes, got {:?} and {}",
                idx.shape(),
                amp.len()
            )));
        }
        let entries = core::HklEntries {
            indices: idx.rows().into_iter().map(|r| [r[0], r[1], r[2]]).collect(),
            amplitudes: amp.iter().copied().collect(),
        };
        Ok(HklTable { inner: Arc::new(core::HklTable::from_entries(&entries, default_F).map_err(to_py)?) })
    }

    /// Read the reference's `Fdump.bin` cache.
    #[staticmethod]
    fn read_fdump(path: PathBuf) -> PyResult<Self> {
        Ok(HklTable { inner: Arc::new(core::HklTable::read_fdump(&path).map_err(to_py)?) })
    }

    /// Write the table as the reference's `Fdump.bin` cache (atomically).
    fn write_fdump(&self, path: PathBuf) -> PyResult<()> {
        self.inner.write_fdump(&path).map_err(to_py)
    }

    /// Number of entries read (or grid size for a dump); 0 disables lookups.
    #[getter]
    fn count(&self) -> usize {
        self.inner.count()
    }

    /// (h_min, h_max, k_min, k_max, l_min, l_max).
    #[getter]
    fn bounds(&self) -> (i32, i32, i32, i32, i32, i32) {
        let t = &self.inner;
        let (lo, hi) = (t.min(), t.max());
        (lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])
    }

    /// Amplitude at integer indices, or None outside the table.
    fn get(&self, h: i32, k: i32, l: i32) -> Option<f64> {
        self.inner.get(h, k, l)
    }
}

/// Miller indices (N x 3) and amplitudes (N) as numpy arrays.
type HklArrays<'py> = (Bound<'py, PyArray2<i32>>, Bound<'py, PyArray1<f64>>);

/// Entries of an `h k l F` text file, kept in Rust: a table is built from them without
/// numpy, and the arrays are made only when asked for.
#[pyclass(module = "nanobragg_rs._core", frozen)]
struct HklEntries {
    inner: Arc<core::HklEntries>,
}

#[pymethods]
impl HklEntries {
    /// Read an `h k l F` text file.
    #[staticmethod]
    fn read(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let e = py.detach(|| core::hkl::read_hkl_text(&path)).map_err(to_py)?;
        Ok(HklEntries { inner: Arc::new(e) })
    }

    /// (indices int32 (N, 3), amplitudes float64 (N,)).
    fn arrays<'py>(&self, py: Python<'py>) -> HklArrays<'py> {
        entry_arrays(py, &self.inner)
    }

    /// The dense table, with `default_F` on grid points without an entry.
    #[allow(non_snake_case)]
    fn table(&self, py: Python<'_>, default_F: f64) -> PyResult<HklTable> {
        let e = self.inner.clone();
        let t = py.detach(move || core::HklTable::from_entries(&e, default_F)).map_err(to_py)?;
        Ok(HklTable { inner: Arc::new(t) })
    }

    fn __len__(&self) -> usize {
        self.inner.amplitudes.len()
    }
}

fn entry_arrays<'py>(py: Python<'py>, e: &core::HklEntries) -> HklArrays<'py> {
    let n = e.indices.len();
    let flat: Vec<i32> = e.indices.iter().flatten().copied().collect();
    let idx = Array2::from_shape_vec((n, 3), flat).expect("n x 3").into_pyarray(py);
    (idx, PyArray1::from_vec(py, e.amplitudes.clone()))
}

/// Read an `h k l F` text file into (indices int32 (N, 3), amplitudes float64 (N,)).
#[pyfunction]
fn read_hkl<'py>(py: Python<'py>, path: PathBuf) -> PyResult<HklArrays<'py>> {
    let e = py.detach(|| core::hkl::read_hkl_text(&path)).map_err(to_py)?;
    Ok(entry_arrays(py, &e))
}

fn block_args<'a>(block: &'a PyReadonlyArray2<'_, f32>) -> PyResult<(&'a [f32], usize)> {
    let width = block.shape()[1];
    let data = block.as_slice().map_err(|_| NanoBraggError::new_err("image block must be C-contiguous"))?;
    Ok((data, width))
}

fn pixels2<'py, T: numpy::Element>(py: Python<'py>, data: Vec<T>, width: usize) -> Bound<'py, PyArray2<T>> {
    let rows = data.len().checked_div(width).unwrap_or(0);
    Array2::from_shape_vec((rows, width), data).expect("block shape").into_pyarray(py)
}

/// Integer-image pixels of a block of rows starting at row `row0` (the reference's rounding;
/// 0 outside the window `roi` = (fast min, fast max, slow min, slow max)).
#[pyfunction]
fn int_pixels<'py>(
    py: Python<'py>,
    block: PyReadonlyArray2<'py, f32>,
    row0: usize,
    roi: [usize; 4],
    scale: f64,
    adc: f64,
) -> PyResult<Bound<'py, PyArray2<u16>>> {
    let (data, width) = block_args(&block)?;
    let out = py.detach(|| core::response::int_pixels(data, width, row0, roi, scale, adc));
    Ok(pixels2(py, out, width))
}

/// Noise-image pixels of a block of Poisson photons, and its overload count; with
/// `round_first`, of values first rounded to whole photons (the data sets' SMV frames).
#[pyfunction]
#[pyo3(signature = (block, row0, roi, adc, round_first = false))]
fn noise_pixels<'py>(
    py: Python<'py>,
    block: PyReadonlyArray2<'py, f32>,
    row0: usize,
    roi: [usize; 4],
    adc: f64,
    round_first: bool,
) -> PyResult<(Bound<'py, PyArray2<u16>>, usize)> {
    let (data, width) = block_args(&block)?;
    let (out, over) = py.detach(|| {
        if round_first {
            core::response::rounded_noise_pixels(data, width, row0, roi, adc)
        } else {
            core::response::noise_pixels(data, width, row0, roi, adc)
        }
    });
    Ok((pixels2(py, out, width), over))
}

/// PGM pixels of a block of rows.
#[pyfunction]
fn pgm_pixels<'py>(
    py: Python<'py>,
    block: PyReadonlyArray2<'py, f32>,
    row0: usize,
    roi: [usize; 4],
    scale: f64,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let (data, width) = block_args(&block)?;
    let out = py.detach(|| core::response::pgm_pixels(data, width, row0, roi, scale));
    Ok(pixels2(py, out, width))
}

/// Whole photon counts (nearest integer, ties to even, clamped to [0, saturation], NaN 0).
#[pyfunction]
fn count_pixels<'py>(py: Python<'py>, values: PyReadonlyArray2<'py, f64>, saturation: u32) -> PyResult<Bound<'py, PyArray2<u32>>> {
    let width = values.shape()[1];
    let data = values.as_slice().map_err(|_| NanoBraggError::new_err("values must be C-contiguous"))?;
    let out = py.detach(|| core::response::count_pixels(data, saturation));
    Ok(pixels2(py, out, width))
}

/// Check a configuration dictionary; raises ConfigError naming the field.
#[pyfunction]
fn validate_config(config: &Bound<'_, PyAny>) -> PyResult<()> {
    config_from(config)?.validate().map_err(to_py)
}

/// The default configuration, as a dictionary.
#[pyfunction]
fn default_config(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    Ok(pythonize::pythonize(py, &core::Config::default())?)
}

/// The named instruction-set path, or the fastest this CPU supports.
fn parse_isa(name: Option<&str>) -> PyResult<core::Isa> {
    match name {
        None => Ok(core::Isa::detect()),
        Some(n) => match core::Isa::parse(n) {
            Some(isa) if isa.supported() => Ok(isa),
            Some(_) => Err(NanoBraggError::new_err(format!("this CPU cannot run the {n} path"))),
            None => Err(NanoBraggError::new_err(format!("unknown instruction-set path '{n}' (avx512, avx2, scalar, exact)"))),
        },
    }
}

/// The instruction-set paths this CPU supports, fastest first.
#[pyfunction]
fn supported_isas() -> Vec<&'static str> {
    core::Isa::ALL.into_iter().filter(|i| i.supported()).map(|i| i.name()).collect()
}

/// The files a run writes, and how its integer images are scaled.
#[pyclass(module = "nanobragg_rs._core", frozen)]
struct FileOutputs {
    inner: core::Outputs,
}

#[pymethods]
impl FileOutputs {
    /// A path of None leaves that file out; `scale` and `pgmscale` of 0 choose the reference's
    /// automatic scales (55000/max_I and 250/(5·rmsd)); `seed` is the noise image's `-seed`.
    #[new]
    #[pyo3(signature = (
        floatfile = None, intfile = None, pgmfile = None, noisefile = None, seed = 0,
        scale = 0.0, pgmscale = 0.0, adc = 40.0,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        floatfile: Option<PathBuf>,
        intfile: Option<PathBuf>,
        pgmfile: Option<PathBuf>,
        noisefile: Option<PathBuf>,
        seed: i64,
        scale: f64,
        pgmscale: f64,
        adc: f64,
    ) -> Self {
        FileOutputs { inner: core::Outputs { floatfile, intfile, pgmfile, noisefile, seed, int_scale: scale, pgm_scale: pgmscale, adc } }
    }

    fn __repr__(&self) -> String {
        format!("FileOutputs({:?})", self.inner)
    }
}

/// A resolved simulation: the configuration with every derived quantity, ready to render.
#[pyclass(module = "nanobragg_rs._core", frozen)]
struct Simulation {
    setup: Arc<core::Setup>,
    view: Py<views::Setup>,
}

fn image_array<'py>(py: Python<'py>, s: &core::Setup, data: Vec<f32>) -> Bound<'py, PyArray2<f32>> {
    Array2::from_shape_vec((s.panel().geometry.spixels, s.panel().geometry.fpixels), data).expect("image shape").into_pyarray(py)
}

fn image_slice<'a>(s: &core::Setup, image: &'a PyReadonlyArray2<'_, f32>) -> PyResult<&'a [f32]> {
    let shape = image.shape();
    if shape != [s.panel().geometry.spixels, s.panel().geometry.fpixels] {
        return Err(NanoBraggError::new_err(format!(
            "image has shape {:?}, the detector is ({}, {})",
            shape, s.panel().geometry.spixels, s.panel().geometry.fpixels
        )));
    }
    image.as_slice().map_err(|_| NanoBraggError::new_err("image must be C-contiguous"))
}

#[pymethods]
impl Simulation {
    /// Resolve `config` (a dictionary) with an optional HklTable and pixel mask (uint16, one
    /// value per detector pixel in row-major order; 0 skips the pixel).
    #[new]
    #[pyo3(signature = (config, hkl = None, mask = None))]
    fn new(py: Python<'_>, config: &Bound<'_, PyAny>, hkl: Option<&HklTable>, mask: Option<PyReadonlyArray1<'_, u16>>) -> PyResult<Self> {
        let config = config_from(config)?;
        let mask: Option<Arc<[u16]>> = mask.map(|m| m.as_array().iter().copied().collect());
        let setup = core::Setup::new(&config, hkl.map(|t| t.inner.clone()), mask).map_err(to_py)?;
        let view = Py::new(py, views::setup_view(py, &setup)?)?;
        Ok(Simulation { setup: Arc::new(setup), view })
    }

    /// Render the float image (photons per pixel), shape (spixels, fpixels). `threads` sets
    /// the number of rendering threads (default: all cores or RAYON_NUM_THREADS); `isa`
    /// forces an instruction-set path (avx512, avx2, scalar, exact); `progress(rows_done)` is
    /// called about every 50 ms. Ctrl-C stops the render. Returns (image, omega_sum, isa).
    #[pyo3(signature = (threads = None, progress = None, isa = None))]
    fn render<'py>(
        &self,
        py: Python<'py>,
        threads: Option<usize>,
        progress: Option<&Bound<'py, PyAny>>,
        isa: Option<&str>,
    ) -> PyResult<(Bound<'py, PyArray2<f32>>, f64, String)> {
        let isa = parse_isa(isa)?;
        let setup = self.setup.clone();
        let ctl = Arc::new(core::RenderControl::default());
        let image = run_detached(py, threads, ctl, progress, move |ctl| core::render_with(&setup, isa, ctl))?;
        Ok((image_array(py, &self.setup, image.data), image.omega_sum, image.isa.name().to_string()))
    }

    /// Render, then write the files `files` names straight from the image, which never
    /// reaches Python (no numpy). Returns (written, omega_sum, isa); `written` holds the
    /// statistics ("stats"), "int_scale", "pgm_scale", "noise_total" and "overloads".
    #[pyo3(signature = (files, threads = None, progress = None, isa = None, outputs = None))]
    fn render_to_files<'py>(
        &self,
        py: Python<'py>,
        files: &FileOutputs,
        threads: Option<usize>,
        progress: Option<&Bound<'py, PyAny>>,
        isa: Option<&str>,
        outputs: Option<Py<outputs::Outputs>>,
    ) -> PyResult<(views::WrittenFiles, f64, String)> {
        let isa = parse_isa(isa)?;
        let setup = self.setup.clone();
        let files = files.inner.clone();
        let ctl = Arc::new(core::RenderControl::default());
        let (written, omega_sum, isa) = run_detached_plain(py, threads, ctl, progress, move |ctl| {
            let image = core::render_with(&setup, isa, ctl)?;
            let written = write_into(&setup, &image.data, image.omega_sum, &files, outputs.as_ref())?;
            Ok((written, image.omega_sum, image.isa))
        })?;
        Ok(((&written).into(), omega_sum, isa.name().to_string()))
    }

    /// The files of `render_to_files` from an image already rendered (whose render summed
    /// `omega_sum`); returns `written`. With `outputs` (the command's output set) the files are
    /// staged there, for the set's owner to commit; without, put in place at once.
    #[pyo3(signature = (image, omega_sum, files, outputs = None))]
    fn write_files<'py>(
        &self,
        py: Python<'py>,
        image: PyReadonlyArray2<'py, f32>,
        omega_sum: f64,
        files: &FileOutputs,
        outputs: Option<Py<outputs::Outputs>>,
    ) -> PyResult<views::WrittenFiles> {
        let data = image_slice(&self.setup, &image)?;
        let written = py.detach(|| write_into(&self.setup, data, omega_sum, &files.inner, outputs.as_ref())).map_err(to_py)?;
        Ok((&written).into())
    }

    /// Statistics the reference prints (max_I and its position, mean, rms, rmsd, solid angle).
    fn stats<'py>(&self, py: Python<'py>, image: PyReadonlyArray2<'py, f32>, omega_sum: f64) -> PyResult<views::ImageStats> {
        let data = image_slice(&self.setup, &image)?;
        // Serial sums over the whole image: release the GIL so callers can overlap other work.
        let st = py.detach(|| core::image_stats(&self.setup, data, omega_sum));
        Ok((&st).into())
    }

    /// (max_I, fast and slow position (m)) of the brightest rendered pixel, found in parallel.
    fn max_pixel(&self, py: Python<'_>, image: PyReadonlyArray2<'_, f32>) -> PyResult<(f64, f64, f64)> {
        let data = image_slice(&self.setup, &image)?;
        Ok(py.detach(|| core::max_pixel(&self.setup, data)))
    }

    /// Poisson noise in photons for `image` from seed `seed`, drawn as the reference draws it;
    /// returns (photons float32 image, total photons).
    fn noise<'py>(&self, py: Python<'py>, image: PyReadonlyArray2<'py, f32>, seed: i64) -> PyResult<(Bound<'py, PyArray2<f32>>, f64)> {
        let data = image_slice(&self.setup, &image)?.to_vec();
        let setup = self.setup.clone();
        let n = py.detach(move || core::noise_image(&setup, &data, seed));
        Ok((image_array(py, &self.setup, n.photons), n.total))
    }

    /// The value of pixel (fast, slow) and the `TRACE <name> <values>` lines of its intensity
    /// chain (docs/trace.md), computed on the same path as `render(isa=...)`.
    #[pyo3(signature = (fpixel, spixel, isa = None))]
    fn trace(&self, py: Python<'_>, fpixel: usize, spixel: usize, isa: Option<&str>) -> PyResult<(f32, Vec<String>)> {
        let isa = parse_isa(isa)?;
        let setup = self.setup.clone();
        py.detach(move || core::Plan::with_isa(&setup, isa).trace(fpixel, spixel)).map_err(to_py)
    }

    /// Everything derived from the configuration, one typed part per stage.
    #[getter]
    fn setup(&self, py: Python<'_>) -> Py<views::Setup> {
        self.view.clone_ref(py)
    }

    /// (spixels, fpixels).
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.setup.panel().geometry.spixels, self.setup.panel().geometry.fpixels)
    }
}

/// One resolved simulation per panel of a multi-panel detector: `panels` are dictionaries
/// in the panel-file form (name, fast_axis, slow_axis, origin_mm, fast_pixels, slow_pixels,
/// pixel_mm, optional thickness_um and attenuation_depth_um), `masks` one optional uint16
/// mask per panel in its own pixel order. Returns (Simulation, turned) per panel: a turned
/// panel faced the sample and is simulated with its slow axis reversed (its rows come out
/// reversed; put them back).
#[pyfunction]
#[pyo3(signature = (config, panels, hkl = None, masks = None))]
fn panel_simulations(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    panels: &Bound<'_, PyAny>,
    hkl: Option<&HklTable>,
    masks: Option<Vec<Option<PyReadonlyArray1<'_, u16>>>>,
) -> PyResult<Vec<(Simulation, bool)>> {
    let config = config_from(config)?;
    let panels: Vec<core::panels::Panel> =
        pythonize::depythonize(panels).map_err(|e| ConfigError::new_err(format!("detector.panels: {e}")))?;
    let masks: Vec<Option<Arc<[u16]>>> = masks
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.map(|m| m.as_array().iter().copied().collect()))
        .collect();
    let setups = core::panels::setup_panels(&config, &panels, hkl.map(|t| t.inner.clone()), &masks).map_err(to_py)?;
    setups
        .into_iter()
        .map(|p| {
            let view = Py::new(py, views::setup_view(py, &p.setup)?)?;
            Ok((Simulation { setup: Arc::new(p.setup), view }, p.turned))
        })
        .collect()
}

/// The core's writers into the command's output set where there is one, else a set of their own.
fn write_into(
    setup: &core::Setup,
    image: &[f32],
    omega_sum: f64,
    files: &core::Outputs,
    set: Option<&Py<outputs::Outputs>>,
) -> core::Result<core::Written> {
    match set {
        Some(set) => core::writers::stage_outputs(setup, image, omega_sum, files, &set.get().inner),
        None => core::write_outputs(setup, image, omega_sum, files),
    }
}

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("NanoBraggError", m.py().get_type::<NanoBraggError>())?;
    m.add("ConfigError", m.py().get_type::<ConfigError>())?;
    m.add("InputFileError", m.py().get_type::<InputFileError>())?;
    m.add("ResourceError", m.py().get_type::<ResourceError>())?;
    m.add_class::<Simulation>()?;
    m.add_class::<HklTable>()?;
    m.add_class::<HklEntries>()?;
    m.add_class::<FileOutputs>()?;
    nonbragg::register(m)?;
    m.add_class::<outputs::Outputs>()?;
    m.add_function(wrap_pyfunction!(outputs::temporary_name, m)?)?;
    m.add_function(wrap_pyfunction!(outputs::temporary_of, m)?)?;
    m.add_function(wrap_pyfunction!(read_hkl, m)?)?;
    m.add_function(wrap_pyfunction!(validate_config, m)?)?;
    m.add_function(wrap_pyfunction!(default_config, m)?)?;
    m.add_function(wrap_pyfunction!(supported_isas, m)?)?;
    m.add_function(wrap_pyfunction!(int_pixels, m)?)?;
    m.add_function(wrap_pyfunction!(noise_pixels, m)?)?;
    m.add_function(wrap_pyfunction!(pgm_pixels, m)?)?;
    m.add_function(wrap_pyfunction!(count_pixels, m)?)?;
    m.add_function(wrap_pyfunction!(panel_simulations, m)?)?;
    views::add_classes(m)?;
    response::register(m)?;
    Ok(())
}
