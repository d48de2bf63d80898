//! Typed, frozen views of a resolved set-up for Python, one class per core stage: Python code
//! reads attributes (checked by the stubs), never a dictionary of internals.

use nanobragg_core as core;
use pyo3::prelude::*;

type T3 = (f64, f64, f64);
type T6 = (f64, f64, f64, f64, f64, f64);

fn t3(v: [f64; 3]) -> T3 {
    (v[0], v[1], v[2])
}

fn t6(v: [f64; 6]) -> T6 {
    (v[0], v[1], v[2], v[3], v[4], v[5])
}

/// The lowercase name serde gives a core enum (the names the configuration uses).
fn name_of<T: serde::Serialize>(py: Python<'_>, v: &T) -> PyResult<String> {
    pythonize::pythonize(py, v)?.extract()
}

/// A range sampled in steps (range, step size, count).
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct Steps {
    range: f64,
    step: f64,
    count: usize,
}

impl From<&core::sources::Steps> for Steps {
    fn from(s: &core::sources::Steps) -> Self {
        Steps { range: s.range, step: s.step, count: s.count }
    }
}

/// One source: direction towards it, wavelength, weight, and the position as given.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct Source {
    direction: T3,
    wavelength_m: f64,
    weight: f64,
    position: T3,
}

/// The beam stage.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct Beam {
    wavelength_m: f64,
    fluence_ph_per_m2: f64,
    sources: Vec<Source>,
    hdiv: Steps,
    vdiv: Steps,
    disp: Steps,
    divergence_points: i64,
    polarization: f64,
    nopolar: bool,
}

/// Cell vectors (Å), reciprocal vectors (Å⁻¹), volume and cell constants as printed.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
#[allow(non_snake_case)]
pub struct Lattice {
    a: T3,
    b: T3,
    c: T3,
    a_star: T3,
    b_star: T3,
    c_star: T3,
    volume_A3: f64,
    cell: T6,
    reciprocal_cell: T6,
}

/// The crystal stage.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
#[allow(non_snake_case)]
pub struct Crystal {
    lattice: Lattice,
    a0_m: T3,
    b0_m: T3,
    c0_m: T3,
    n_cells: T3,
    size_m: T3,
    shape: String,
    fudge: f64,
    default_F: f64,
    interpolate: bool,
    hkl_count: usize,
    mosaic_spread_rad: f64,
    mosaic_domains: usize,
    misset_random_rad: Option<T3>,
}

/// One flat panel's geometry (metres, radians; unit vectors in the lab frame).
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct Geometry {
    convention: String,
    pivot: String,
    fpixels: usize,
    spixels: usize,
    pixel_size: f64,
    detsize_f: f64,
    detsize_s: f64,
    fdet: T3,
    sdet: T3,
    odet: T3,
    pix0: T3,
    beam: T3,
    polar: T3,
    spindle: T3,
    vert: T3,
    twotheta_axis: T3,
    twotheta: f64,
    distance: f64,
    close_distance: f64,
    xbeam: f64,
    ybeam: f64,
    fbeam: f64,
    sbeam: f64,
    xclose: f64,
    yclose: f64,
    fclose: f64,
    sclose: f64,
    orgx: f64,
    orgy: f64,
    dials_origin: T3,
}

/// One flat panel: geometry, sampling switches, rendered window.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct Panel {
    geometry: Geometry,
    curved: bool,
    point_pixel: bool,
    roi: (usize, usize, usize, usize),
    roi_printed: (i64, i64, i64, i64),
}

/// Beam, polarization and spindle directions every panel shares.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct LabFrame {
    beam: T3,
    polar: T3,
    vert: T3,
    spindle: T3,
}

/// The detector stage: the lab frame and its panels (one today).
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct Detector {
    lab: LabFrame,
    panels: Vec<Panel>,
}

/// Spindle steps (radians).
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct PhiSteps {
    phi0: f64,
    osc: f64,
    step: f64,
    count: usize,
}

/// Sensor layers (m, 1/m).
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct Thickness {
    thickness: f64,
    step: f64,
    layers: usize,
    mu: f64,
}

/// The sampling stage.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct Sampling {
    phi: PhiSteps,
    oversample: usize,
    recommended_oversample: i64,
    oversample_thick: bool,
    oversample_polar: bool,
    oversample_omega: bool,
    thickness: Thickness,
    dmin_m: f64,
    steps: usize,
}

/// The numbers of the reference's SMV header (mm, Å, degrees).
#[pyclass(module = "nanobragg_rs._core", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct Header {
    inner: core::setup::HeaderValues,
}

#[pymethods]
#[allow(non_snake_case)] // units as written: Å
impl Header {
    /// The values by SMV header key, as the SMV writer takes them.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, &self.inner)?)
    }

    #[getter]
    fn distance_mm(&self) -> f64 {
        self.inner.DISTANCE
    }

    #[getter]
    fn wavelength_A(&self) -> f64 {
        self.inner.WAVELENGTH
    }

    #[getter]
    fn dials_origin_mm(&self) -> T3 {
        t3(self.inner.DIALS_ORIGIN)
    }
}

/// Everything resolved from a configuration, one part per stage.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct Setup {
    beam: Beam,
    crystal: Crystal,
    detector: Detector,
    sampling: Sampling,
    water_size_m: f64,
    i_bg: f64,
    fix_quirks: bool,
    messages: Vec<String>,
    header: Header,
}

fn geometry(py: Python<'_>, g: &core::detector::Geometry) -> PyResult<Geometry> {
    Ok(Geometry {
        convention: name_of(py, &g.convention)?,
        pivot: name_of(py, &g.pivot)?,
        fpixels: g.fpixels,
        spixels: g.spixels,
        pixel_size: g.pixel_size,
        detsize_f: g.detsize_f,
        detsize_s: g.detsize_s,
        fdet: t3(g.fdet),
        sdet: t3(g.sdet),
        odet: t3(g.odet),
        pix0: t3(g.pix0),
        beam: t3(g.beam),
        polar: t3(g.polar),
        spindle: t3(g.spindle),
        vert: t3(g.vert),
        twotheta_axis: t3(g.twotheta_axis),
        twotheta: g.twotheta,
        distance: g.distance,
        close_distance: g.close_distance,
        xbeam: g.xbeam,
        ybeam: g.ybeam,
        fbeam: g.fbeam,
        sbeam: g.sbeam,
        xclose: g.xclose,
        yclose: g.yclose,
        fclose: g.fclose,
        sclose: g.sclose,
        orgx: g.orgx,
        orgy: g.orgy,
        dials_origin: t3(g.dials_origin),
    })
}

/// The typed view of `s`.
pub fn setup_view(py: Python<'_>, s: &core::Setup) -> PyResult<Setup> {
    let (b, c, d, sa) = (&s.beam, &s.crystal, &s.detector, &s.sampling);
    let l = &c.lattice;
    let panels = d
        .panels
        .iter()
        .map(|p| {
            let [r0, r1, r2, r3] = p.roi;
            let [q0, q1, q2, q3] = p.roi_printed;
            Ok(Panel {
                geometry: geometry(py, &p.geometry)?,
                curved: p.curved,
                point_pixel: p.point_pixel,
                roi: (r0, r1, r2, r3),
                roi_printed: (q0, q1, q2, q3),
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Setup {
        beam: Beam {
            wavelength_m: b.lambda0,
            fluence_ph_per_m2: b.fluence,
            sources: b
                .sources
                .iter()
                .map(|s| Source { direction: t3(s.direction), wavelength_m: s.wavelength_m, weight: s.weight, position: t3(s.position) })
                .collect(),
            hdiv: (&b.hdiv).into(),
            vdiv: (&b.vdiv).into(),
            disp: (&b.disp).into(),
            divergence_points: b.divergence_points,
            polarization: b.polarization,
            nopolar: b.nopolar,
        },
        crystal: Crystal {
            lattice: Lattice {
                a: t3(l.a),
                b: t3(l.b),
                c: t3(l.c),
                a_star: t3(l.a_star),
                b_star: t3(l.b_star),
                c_star: t3(l.c_star),
                volume_A3: l.volume_A3,
                cell: t6(l.cell),
                reciprocal_cell: t6(l.reciprocal_cell),
            },
            a0_m: t3(c.a0),
            b0_m: t3(c.b0),
            c0_m: t3(c.c0),
            n_cells: t3(c.n_cells),
            size_m: t3(c.crystal_size_m),
            shape: name_of(py, &c.shape)?,
            fudge: c.fudge,
            default_F: c.default_f,
            interpolate: c.interpolate,
            hkl_count: c.hkl_count,
            mosaic_spread_rad: c.mosaic_spread,
            mosaic_domains: c.mosaic_umats.len(),
            misset_random_rad: c.misset_random_rad.map(t3),
        },
        detector: Detector {
            lab: LabFrame { beam: t3(d.lab.beam), polar: t3(d.lab.polar), vert: t3(d.lab.vert), spindle: t3(d.lab.spindle) },
            panels,
        },
        sampling: Sampling {
            phi: PhiSteps { phi0: sa.phi.phi0, osc: sa.phi.osc, step: sa.phi.step, count: sa.phi.count },
            oversample: sa.oversample,
            recommended_oversample: sa.recommended_oversample,
            oversample_thick: sa.oversample_thick,
            oversample_polar: sa.oversample_polar,
            oversample_omega: sa.oversample_omega,
            thickness: Thickness {
                thickness: sa.thickness.thickness,
                step: sa.thickness.step,
                layers: sa.thickness.layers,
                mu: sa.thickness.mu,
            },
            dmin_m: sa.dmin,
            steps: sa.steps,
        },
        water_size_m: s.water.size_m,
        i_bg: s.water.i_bg,
        fix_quirks: s.fix_quirks,
        messages: s.messages.clone(),
        header: Header { inner: core::setup::header_values(s) },
    })
}

/// The statistics the reference prints after rendering.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct ImageStats {
    pub(crate) max_i: f64,
    pub(crate) max_i_x_m: f64,
    pub(crate) max_i_y_m: f64,
    pub(crate) mean: f64,
    pub(crate) rms: f64,
    pub(crate) rmsd: f64,
    pub(crate) count: usize,
    pub(crate) solid_angle_sr: f64,
}

impl From<&core::stats::Stats> for ImageStats {
    fn from(s: &core::stats::Stats) -> Self {
        ImageStats {
            max_i: s.max_i,
            max_i_x_m: s.max_i_x,
            max_i_y_m: s.max_i_y,
            mean: s.mean,
            rms: s.rms,
            rmsd: s.rmsd,
            count: s.count,
            solid_angle_sr: s.solid_angle_sr,
        }
    }
}

/// What writing a render's files found: the statistics and the scales the reference prints.
#[pyclass(module = "nanobragg_rs._core", frozen, get_all, skip_from_py_object)]
#[derive(Clone)]
pub struct WrittenFiles {
    stats: ImageStats,
    int_scale: f64,
    pgm_scale: Option<f64>,
    noise_total: Option<f64>,
    overloads: usize,
}

impl From<&core::Written> for WrittenFiles {
    fn from(w: &core::Written) -> Self {
        WrittenFiles {
            stats: (&w.stats).into(),
            int_scale: w.int_scale,
            pgm_scale: w.pgm_scale,
            noise_total: w.noise_total,
            overloads: w.overloads,
        }
    }
}

/// Register the view classes.
pub fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Setup>()?;
    m.add_class::<Beam>()?;
    m.add_class::<Source>()?;
    m.add_class::<Steps>()?;
    m.add_class::<Crystal>()?;
    m.add_class::<Lattice>()?;
    m.add_class::<Detector>()?;
    m.add_class::<LabFrame>()?;
    m.add_class::<Panel>()?;
    m.add_class::<Geometry>()?;
    m.add_class::<Sampling>()?;
    m.add_class::<PhiSteps>()?;
    m.add_class::<Thickness>()?;
    m.add_class::<Header>()?;
    m.add_class::<ImageStats>()?;
    m.add_class::<WrittenFiles>()?;
    Ok(())
}
