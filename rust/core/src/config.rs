//! The simulation's configuration: plain, serialisable data in the units users think in
//! (the unit is part of each name), validated before use. `None` means "not given": the
//! reference's defaulting rules then decide, exactly as nanoBragg.c does for a missing flag.

use crate::detector::{Convention, Pivot};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Everything that determines a rendered image, except the structure-factor table and the
/// pixel mask, which are passed beside it as data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub crystal: CrystalConfig,
    pub beam: BeamConfig,
    pub detector: DetectorConfig,
    pub sampling: SamplingConfig,
    /// Correct the reference's known defects instead of reproducing them (docs/quirks.md).
    pub fix_quirks: bool,
}

/// Shape of the crystal, which sets the lattice transform.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// Parallelepiped: sin(Nx)/sin(x) per axis.
    #[default]
    Square,
    /// Ellipsoid: the sphere transform in fractional-index space.
    Round,
    /// Gaussian spots without side maxima.
    Gauss,
    /// Flat-topped spots of the same height and volume as the square shape's.
    Tophat,
}

/// The crystal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrystalConfig {
    /// Unit cell a, b, c (Å) and α, β, γ (degrees).
    pub cell: Option<[f64; 6]>,
    /// A MOSFLM orientation matrix (λ-scaled reciprocal vectors), nine numbers in file order:
    /// a*x b*x c*x, a*y b*y c*y, a*z b*z c*z. With `cell` too, the cell sets the lengths.
    pub mosflm_matrix: Option<[f64; 9]>,
    /// Missetting rotations about x, then y, then z (degrees), applied to the reciprocal vectors.
    pub misset_deg: Option<[f64; 3]>,
    /// A random orientation drawn from `misset_seed` (overrides `misset_deg`).
    pub misset_random: bool,
    /// Seed of the random orientation; `None` takes the clock, as the reference does.
    pub misset_seed: Option<i64>,
    /// Unit cells along a, b, c (0 and 1 both mean one cell).
    pub n_cells: [i64; 3],
    /// Crystal size along x, y, z (mm); where given it sets the number of cells on that axis.
    pub size_mm: [Option<f64>; 3],
    pub shape: Shape,
    /// Scale of the spot radius for the round, gauss and tophat shapes.
    pub fudge: f64,
    /// Amplitude of every reflection not in the structure-factor table.
    #[serde(rename = "default_F")]
    pub default_f: f64,
    /// Tricubic interpolation of structure factors; `None` chooses it when any N <= 2.
    pub interpolate: Option<bool>,
    /// Isotropic mosaic spread (degrees).
    pub mosaic_spread_deg: Option<f64>,
    /// Number of mosaic domains (10 when only a spread is given).
    pub mosaic_domains: Option<i64>,
    pub mosaic_seed: i64,
    /// Thickness of water around the crystal, for a flat background (µm).
    pub water_um: f64,
}

impl Default for CrystalConfig {
    fn default() -> Self {
        CrystalConfig {
            cell: None,
            mosflm_matrix: None,
            misset_deg: None,
            misset_random: false,
            misset_seed: None,
            n_cells: [1, 1, 1],
            size_mm: [None; 3],
            shape: Shape::Square,
            fudge: 1.0,
            default_f: 0.0,
            interpolate: None,
            mosaic_spread_deg: None,
            mosaic_domains: None,
            mosaic_seed: 12345678,
            water_um: 0.0,
        }
    }
}

/// The incident beam.
#[allow(non_snake_case)] // units as written: Å, eV
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BeamConfig {
    pub wavelength_A: f64,
    /// Photon energy (eV); when given it sets the wavelength as 12398.42/E Å.
    pub energy_eV: Option<f64>,
    /// Photons per m² in the exposure; the default makes r_e² · fluence = 1.
    pub fluence_ph_per_m2: Option<f64>,
    /// Photons per second; when nonzero, fluence = flux · exposure / beamsize².
    pub flux_ph_per_s: f64,
    pub exposure_s: f64,
    /// Side of the square beam (mm); also clips the crystal's y and z size.
    pub beamsize_mm: f64,
    /// Full width of the spectrum, Δλ/λ (percent).
    pub dispersion_pct: f64,
    pub dispsteps: Option<i64>,
    pub hdivrange_mrad: Option<f64>,
    pub vdivrange_mrad: Option<f64>,
    pub hdivstep_mrad: Option<f64>,
    pub vdivstep_mrad: Option<f64>,
    pub hdivsteps: Option<i64>,
    pub vdivsteps: Option<i64>,
    /// Keep only the divergence points inside an ellipse (else the full rectangle).
    pub round_div: bool,
    /// Explicit sources, one row each: X Y Z (direction from the sample), weight, wavelength
    /// (m); trailing columns may be missing. Replaces divergence and dispersion.
    pub sources: Option<Vec<Vec<f64>>>,
    /// Kahn polarization factor (0 = unpolarized, 1 = fully polarized along `polar_vector`).
    pub polarization: f64,
    /// Turn the polarization factor off (it is then 1).
    pub nopolar: bool,
    /// Beam direction (custom convention only).
    pub beam_vector: Option<[f64; 3]>,
    /// Direction of the E vector (custom convention only).
    pub polar_vector: Option<[f64; 3]>,
}

impl Default for BeamConfig {
    fn default() -> Self {
        BeamConfig {
            wavelength_A: 1.0,
            energy_eV: None,
            fluence_ph_per_m2: None,
            flux_ph_per_s: 0.0,
            exposure_s: 1.0,
            beamsize_mm: 0.1,
            dispersion_pct: 0.0,
            dispsteps: None,
            hdivrange_mrad: None,
            vdivrange_mrad: None,
            hdivstep_mrad: None,
            vdivstep_mrad: None,
            hdivsteps: None,
            vdivsteps: None,
            round_div: true,
            sources: None,
            polarization: 0.0,
            nopolar: false,
            beam_vector: None,
            polar_vector: None,
        }
    }
}

/// The detector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    pub convention: Convention,
    /// Which point stays fixed when the detector rotates (honoured in the custom convention;
    /// the others set their own).
    pub pivot: Pivot,
    pub distance_mm: f64,
    /// Sample to detector plane along its normal; overrides `distance_mm` when given.
    pub close_distance_mm: Option<f64>,
    pub pixel_size_mm: f64,
    pub detpixels_f: Option<i64>,
    pub detpixels_s: Option<i64>,
    pub detsize_f_mm: f64,
    pub detsize_s_mm: f64,
    /// Direct-beam position in the convention's X and Y (mm).
    pub xbeam_mm: Option<f64>,
    pub ybeam_mm: Option<f64>,
    pub xclose_mm: Option<f64>,
    pub yclose_mm: Option<f64>,
    /// XDS ORGX/ORGY (pixels).
    pub orgx_px: Option<f64>,
    pub orgy_px: Option<f64>,
    pub fdet_vector: Option<[f64; 3]>,
    pub sdet_vector: Option<[f64; 3]>,
    pub odet_vector: Option<[f64; 3]>,
    pub twotheta_axis: Option<[f64; 3]>,
    /// Origin of pixel (0, 0) (m). The reference ignores it (notes Q16); honoured with fix_quirks.
    pub pix0_vector_m: Option<[f64; 3]>,
    pub twotheta_deg: f64,
    pub rotx_deg: f64,
    pub roty_deg: f64,
    pub rotz_deg: f64,
    /// Every pixel at the same distance from the sample.
    pub curved: bool,
    /// Solid angle as 1/R² (no pixel area or obliquity).
    pub point_pixel: bool,
    pub thickness_um: f64,
    /// Attenuation depth of the sensor (µm); infinity or 0 mean no absorption model.
    pub attenuation_depth_um: Option<f64>,
    pub thicksteps: Option<i64>,
    /// Rendered window: fast min, fast max, slow min, slow max (pixel indices, inclusive).
    pub roi: Option<[i64; 4]>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            convention: Convention::Mosflm,
            pivot: Pivot::Beam,
            distance_mm: 100.0,
            close_distance_mm: None,
            pixel_size_mm: 0.1,
            detpixels_f: None,
            detpixels_s: None,
            detsize_f_mm: 102.4,
            detsize_s_mm: 102.4,
            xbeam_mm: None,
            ybeam_mm: None,
            xclose_mm: None,
            yclose_mm: None,
            orgx_px: None,
            orgy_px: None,
            fdet_vector: None,
            sdet_vector: None,
            odet_vector: None,
            twotheta_axis: None,
            pix0_vector_m: None,
            twotheta_deg: 0.0,
            rotx_deg: 0.0,
            roty_deg: 0.0,
            rotz_deg: 0.0,
            curved: false,
            point_pixel: false,
            thickness_um: 0.0,
            attenuation_depth_um: None,
            thicksteps: None,
            roi: None,
        }
    }
}

/// How each pixel is sampled: sub-pixels, spindle rotation, resolution cut.
#[allow(non_snake_case)] // unit as written: Å
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Sub-pixels per pixel edge; `None` chooses it from crystal size and geometry.
    pub oversample: Option<i64>,
    pub oversample_thick: bool,
    pub oversample_polar: bool,
    pub oversample_omega: bool,
    /// Spindle angle at the start (degrees).
    pub phi_deg: f64,
    /// Rotation range (degrees).
    pub osc_deg: Option<f64>,
    pub phistep_deg: Option<f64>,
    pub phisteps: Option<i64>,
    /// Spindle axis (custom convention only).
    pub spindle_axis: Option<[f64; 3]>,
    /// Resolution limit (Å); 0 renders everything.
    pub dmin_A: f64,
}

fn finite(field: &str, x: f64) -> Result<()> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(Error::config(field, format!("must be a finite number, not {x}")))
    }
}

fn positive(field: &str, x: f64) -> Result<()> {
    finite(field, x)?;
    if x > 0.0 {
        Ok(())
    } else {
        Err(Error::config(field, format!("must be positive, not {}", crate::fmt::g(x))))
    }
}

fn non_negative(field: &str, x: f64) -> Result<()> {
    finite(field, x)?;
    if x >= 0.0 {
        Ok(())
    } else {
        Err(Error::config(field, format!("must not be negative, not {}", crate::fmt::g(x))))
    }
}

fn vector(field: &str, v: Option<[f64; 3]>) -> Result<()> {
    if let Some(v) = v {
        for x in v {
            finite(field, x)?;
        }
        if v == [0.0; 3] {
            return Err(Error::config(field, "must not be the zero vector"));
        }
    }
    Ok(())
}

fn count(field: &str, n: Option<i64>) -> Result<()> {
    match n {
        Some(n) if n < 0 => Err(Error::config(field, format!("must not be negative, not {n}"))),
        _ => Ok(()),
    }
}

impl Config {
    /// Check every value for what the simulation cannot use; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let c = &self.crystal;
        match (c.cell, c.mosflm_matrix) {
            (None, None) => {
                return Err(Error::config("crystal.cell", "give a unit cell or a MOSFLM orientation matrix"))
            }
            (Some(cell), _) => {
                for (i, x) in cell.iter().enumerate() {
                    if i < 3 {
                        positive("crystal.cell", *x)?;
                    } else if !(x.is_finite() && *x > 0.0 && *x < 180.0) {
                        return Err(Error::config(
                            "crystal.cell",
                            format!("angles must be between 0 and 180 degrees, not {}", crate::fmt::g(*x)),
                        ));
                    }
                }
            }
            _ => {}
        }
        if let Some(m) = c.mosflm_matrix {
            for x in m {
                finite("crystal.mosflm_matrix", x)?;
            }
        }
        if let Some(m) = c.misset_deg {
            for x in m {
                finite("crystal.misset_deg", x)?;
            }
        }
        for n in c.n_cells {
            if n < 0 {
                return Err(Error::config("crystal.n_cells", format!("must not be negative, not {n}")));
            }
        }
        for s in c.size_mm.iter().flatten() {
            non_negative("crystal.size_mm", *s)?;
        }
        positive("crystal.fudge", c.fudge)?;
        finite("crystal.default_F", c.default_f)?;
        if let Some(m) = c.mosaic_spread_deg {
            non_negative("crystal.mosaic_spread_deg", m)?;
        }
        count("crystal.mosaic_domains", c.mosaic_domains)?;
        non_negative("crystal.water_um", c.water_um)?;

        let b = &self.beam;
        match b.energy_eV {
            Some(e) => positive("beam.energy_eV", e)?,
            None => positive("beam.wavelength_A", b.wavelength_A)?,
        }
        if let Some(f) = b.fluence_ph_per_m2 {
            non_negative("beam.fluence_ph_per_m2", f)?;
        }
        non_negative("beam.flux_ph_per_s", b.flux_ph_per_s)?;
        non_negative("beam.exposure_s", b.exposure_s)?;
        if b.flux_ph_per_s != 0.0 {
            positive("beam.beamsize_mm", b.beamsize_mm)?;
        } else {
            non_negative("beam.beamsize_mm", b.beamsize_mm)?;
        }
        non_negative("beam.dispersion_pct", b.dispersion_pct)?;
        count("beam.dispsteps", b.dispsteps)?;
        for (name, v) in [
            ("beam.hdivrange_mrad", b.hdivrange_mrad),
            ("beam.vdivrange_mrad", b.vdivrange_mrad),
            ("beam.hdivstep_mrad", b.hdivstep_mrad),
            ("beam.vdivstep_mrad", b.vdivstep_mrad),
        ] {
            if let Some(v) = v {
                non_negative(name, v)?;
            }
        }
        count("beam.hdivsteps", b.hdivsteps)?;
        count("beam.vdivsteps", b.vdivsteps)?;
        if let Some(rows) = &b.sources {
            if rows.is_empty() {
                return Err(Error::config("beam.sources", "the source list is empty"));
            }
            for (i, row) in rows.iter().enumerate() {
                if row.is_empty() || row.len() > 5 {
                    return Err(Error::config(
                        "beam.sources",
                        format!("row {} has {} values; give 1 to 5 (X Y Z weight wavelength_m)", i + 1, row.len()),
                    ));
                }
                for x in row {
                    finite("beam.sources", *x)?;
                }
                if let Some(&l) = row.get(4) {
                    positive("beam.sources", l)?;
                }
            }
        }
        finite("beam.polarization", b.polarization)?;
        vector("beam.beam_vector", b.beam_vector)?;
        vector("beam.polar_vector", b.polar_vector)?;

        let d = &self.detector;
        positive("detector.distance_mm", d.distance_mm)?;
        if let Some(x) = d.close_distance_mm {
            positive("detector.close_distance_mm", x)?;
        }
        positive("detector.pixel_size_mm", d.pixel_size_mm)?;
        for (name, n) in [("detector.detpixels_f", d.detpixels_f), ("detector.detpixels_s", d.detpixels_s)] {
            if let Some(n) = n {
                if n <= 0 {
                    return Err(Error::config(name, format!("must be a positive pixel count, not {n}")));
                }
                if n > 1 << 20 {
                    return Err(Error::config(name, format!("{n} pixels is more than this program supports")));
                }
            }
        }
        positive("detector.detsize_f_mm", d.detsize_f_mm)?;
        positive("detector.detsize_s_mm", d.detsize_s_mm)?;
        for (name, v) in [
            ("detector.xbeam_mm", d.xbeam_mm),
            ("detector.ybeam_mm", d.ybeam_mm),
            ("detector.xclose_mm", d.xclose_mm),
            ("detector.yclose_mm", d.yclose_mm),
            ("detector.orgx_px", d.orgx_px),
            ("detector.orgy_px", d.orgy_px),
        ] {
            if let Some(v) = v {
                finite(name, v)?;
            }
        }
        for (name, v) in [
            ("detector.fdet_vector", d.fdet_vector),
            ("detector.sdet_vector", d.sdet_vector),
            ("detector.odet_vector", d.odet_vector),
            ("detector.twotheta_axis", d.twotheta_axis),
        ] {
            vector(name, v)?;
        }
        if let Some(p) = d.pix0_vector_m {
            for x in p {
                finite("detector.pix0_vector_m", x)?;
            }
        }
        for (name, x) in [
            ("detector.twotheta_deg", d.twotheta_deg),
            ("detector.rotx_deg", d.rotx_deg),
            ("detector.roty_deg", d.roty_deg),
            ("detector.rotz_deg", d.rotz_deg),
        ] {
            finite(name, x)?;
        }
        non_negative("detector.thickness_um", d.thickness_um)?;
        if let Some(a) = d.attenuation_depth_um {
            if !(a >= 0.0) {
                return Err(Error::config("detector.attenuation_depth_um", "must be positive, 0 or infinity"));
            }
        }
        count("detector.thicksteps", d.thicksteps)?;
        if let Some([x0, x1, y0, y1]) = d.roi {
            if x0 < 0 || y0 < 0 || x1 < x0 || y1 < y0 {
                return Err(Error::config(
                    "detector.roi",
                    format!("need 0 <= xmin <= xmax and 0 <= ymin <= ymax, not {x0} {x1} {y0} {y1}"),
                ));
            }
        }

        let s = &self.sampling;
        if d.convention != Convention::Custom {
            for (name, given) in [
                ("beam.beam_vector", b.beam_vector.is_some()),
                ("beam.polar_vector", b.polar_vector.is_some()),
                ("sampling.spindle_axis", s.spindle_axis.is_some()),
                ("detector.fdet_vector", d.fdet_vector.is_some()),
                ("detector.sdet_vector", d.sdet_vector.is_some()),
                ("detector.odet_vector", d.odet_vector.is_some()),
                ("detector.twotheta_axis", d.twotheta_axis.is_some()),
                ("detector.pix0_vector_m", d.pix0_vector_m.is_some()),
            ] {
                if given {
                    return Err(Error::config(
                        name,
                        "is only used with detector.convention = \"custom\" (each other convention sets its own)",
                    ));
                }
            }
        }
        if let Some(n) = s.oversample {
            if n <= 0 {
                return Err(Error::config("sampling.oversample", format!("must be at least 1, not {n}")));
            }
        }
        finite("sampling.phi_deg", s.phi_deg)?;
        if let Some(x) = s.osc_deg {
            non_negative("sampling.osc_deg", x)?;
        }
        if let Some(x) = s.phistep_deg {
            non_negative("sampling.phistep_deg", x)?;
        }
        count("sampling.phisteps", s.phisteps)?;
        vector("sampling.spindle_axis", s.spindle_axis)?;
        non_negative("sampling.dmin_A", s.dmin_A)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Config {
        let mut c = Config::default();
        c.crystal.cell = Some([50.0, 50.0, 50.0, 90.0, 90.0, 90.0]);
        c.crystal.default_f = 100.0;
        c
    }

    #[test]
    fn defaults_validate() {
        minimal().validate().unwrap();
    }

    #[test]
    fn impossible_values_name_their_field() {
        let mut c = minimal();
        c.detector.pixel_size_mm = 0.0;
        assert!(c.validate().unwrap_err().to_string().starts_with("detector.pixel_size_mm"));
        let mut c = minimal();
        c.detector.detpixels_f = Some(-3);
        assert!(c.validate().unwrap_err().to_string().starts_with("detector.detpixels_f"));
        let mut c = minimal();
        c.beam.wavelength_A = -1.0;
        assert!(c.validate().unwrap_err().to_string().starts_with("beam.wavelength_A"));
        let mut c = minimal();
        c.crystal.cell = Some([50.0, 0.0, 50.0, 90.0, 90.0, 90.0]);
        assert!(c.validate().unwrap_err().to_string().starts_with("crystal.cell"));
        let mut c = minimal();
        c.crystal.cell = None;
        assert!(c.validate().is_err());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<Config>(r#"{"detector": {"distanse_mm": 3}}"#).unwrap_err();
        assert!(err.to_string().contains("distanse_mm"));
        let c: Config = serde_json::from_str(r#"{"crystal": {"default_F": 3}}"#).unwrap();
        assert_eq!(c.crystal.default_f, 3.0);
    }
}
