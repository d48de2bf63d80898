//! Detector geometry: pixel counts, beam-centre conventions, pivots, rotations and the origin
//! of the pixel grid (nanoBragg.c L1118-1272 and L1709-1776).

use crate::config::{Config, DetectorConfig};
use crate::error::{Error, Result};
use crate::setup::RTD;
use crate::vec3::{cross, dot, rotate_axis, rotate_xyz, unitize, V3};
use std::sync::Arc;
use serde::{Deserialize, Serialize};

/// Beam-centre and axis conventions of the programs nanoBragg writes images for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Convention {
    #[default]
    Mosflm,
    Xds,
    Adxv,
    Denzo,
    Dials,
    /// User-given vectors; unspecified ones take the reference's declared defaults.
    Custom,
}

/// The point that stays fixed when the detector is rotated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pivot {
    /// The direct-beam spot stays at (Fbeam, Sbeam).
    #[default]
    Beam,
    /// The point of closest approach stays at (Fclose, Sclose).
    Sample,
}

/// Detector inputs in SI units (metres, radians), as the reference holds them after parsing.
#[derive(Clone, Debug, Default)]
pub struct DetectorInput {
    pub convention: Convention,
    pub pivot: Pivot,
    pub pixel_size: f64,
    pub fpixels: Option<usize>,
    pub spixels: Option<usize>,
    pub detsize_f: f64,
    pub detsize_s: f64,
    pub distance: f64,
    pub close_distance: Option<f64>,
    pub xbeam: Option<f64>,
    pub ybeam: Option<f64>,
    pub xclose: Option<f64>,
    pub yclose: Option<f64>,
    pub orgx: Option<f64>,
    pub orgy: Option<f64>,
    pub beam_vector: Option<V3>,
    pub fdet_vector: Option<V3>,
    pub sdet_vector: Option<V3>,
    pub odet_vector: Option<V3>,
    pub polar_vector: Option<V3>,
    pub spindle_axis: Option<V3>,
    pub twotheta_axis: Option<V3>,
    pub pix0_vector: Option<V3>,
    pub twotheta: f64,
    pub rotx: f64,
    pub roty: f64,
    pub rotz: f64,
    /// Honour `pix0_vector` and report the true beam intercept under twotheta (Q16, Q17).
    pub fixed: bool,
}

/// The detector as the pixel loop and the image header see it (SI units).
#[derive(Clone, Debug, Serialize)]
pub struct Geometry {
    pub convention: Convention,
    pub pivot: Pivot,
    pub fpixels: usize,
    pub spixels: usize,
    pub pixel_size: f64,
    pub detsize_f: f64,
    pub detsize_s: f64,
    /// Unit vectors of increasing fast and slow pixel index, and the detector normal.
    pub fdet: V3,
    pub sdet: V3,
    pub odet: V3,
    /// Outer corner of pixel (0, 0) seen from the sample.
    pub pix0: V3,
    pub beam: V3,
    pub polar: V3,
    pub spindle: V3,
    /// unit(beam x polar): the axis of horizontal divergence.
    pub vert: V3,
    pub twotheta_axis: V3,
    pub twotheta: f64,
    pub distance: f64,
    pub close_distance: f64,
    pub xbeam: f64,
    pub ybeam: f64,
    pub fbeam: f64,
    pub sbeam: f64,
    pub xclose: f64,
    pub yclose: f64,
    pub fclose: f64,
    pub sclose: f64,
    pub orgx: f64,
    pub orgy: f64,
    /// pix0 in the DIALS frame (mm).
    pub dials_origin: V3,
    pub messages: Vec<String>,
}

/// Number of pixels along an axis: the reference's `ceil(size/px - 0.5)`.
pub fn pixel_count(detsize: f64, pixel_size: f64) -> usize {
    let n = (detsize / pixel_size - 0.5).ceil();
    if n > 0.0 {
        n as usize
    } else {
        0
    }
}

/// Resolve the detector geometry.
pub fn build_geometry(d: &DetectorInput) -> Geometry {
    let px = d.pixel_size;
    let mut messages = Vec::new();
    let detsize_f = d.fpixels.map_or(d.detsize_f, |n| px * n as f64);
    let detsize_s = d.spixels.map_or(d.detsize_s, |n| px * n as f64);
    let fpixels = pixel_count(detsize_f, px);
    let spixels = pixel_count(detsize_s, px);

    let mut fclose = d.orgx.map(|o| (o - 0.5) * px).unwrap_or(detsize_f / 2.0);
    let mut sclose = d.orgy.map(|o| (o - 0.5) * px).unwrap_or(detsize_s / 2.0);
    let xclose = d.xclose.unwrap_or(fclose);
    let yclose = d.yclose.unwrap_or(sclose);

    // Declared defaults, which CUSTOM keeps for every vector the user did not give.
    let mut beam: V3 = [1.0, 0.0, 0.0];
    let mut fdet: V3 = [0.0, 0.0, 1.0];
    let mut sdet: V3 = [0.0, -1.0, 0.0];
    let mut odet: V3 = [1.0, 0.0, 0.0];
    let mut tt_axis: V3 = [0.0, 1.0, 0.0];
    let mut polar: V3 = [0.0, 0.0, 1.0];
    let mut spindle: V3 = [0.0, 0.0, 1.0];
    let xbeam;
    let ybeam;
    let (fbeam, sbeam);
    let mut pivot = d.pivot;
    match d.convention {
        Convention::Adxv => {
            xbeam = d.xbeam.unwrap_or((detsize_f + px) / 2.0);
            ybeam = d.ybeam.unwrap_or((detsize_s - px) / 2.0);
            (beam, fdet, sdet, odet) = ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]);
            (tt_axis, polar, spindle) = ([-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]);
            fbeam = xbeam;
            sbeam = detsize_s - ybeam;
            pivot = Pivot::Beam;
        }
        Convention::Mosflm | Convention::Denzo => {
            xbeam = d.xbeam.unwrap_or((detsize_s + px) / 2.0);
            ybeam = d.ybeam.unwrap_or((detsize_f + px) / 2.0);
            (beam, odet, fdet, sdet) = ([1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]);
            (tt_axis, polar, spindle) = ([0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]);
            // MOSFLM puts the first pixel centre at half a pixel; DENZO does not.
            let shift = if d.convention == Convention::Mosflm { 0.5 } else { 0.0 };
            fbeam = ybeam + shift * px;
            sbeam = xbeam + shift * px;
            pivot = Pivot::Beam;
        }
        Convention::Xds | Convention::Dials => {
            xbeam = d.xbeam.unwrap_or(xclose);
            ybeam = d.ybeam.unwrap_or(yclose);
            (beam, fdet, sdet, odet) = ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]);
            if d.convention == Convention::Xds {
                (tt_axis, polar, spindle) = ([1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]);
            } else {
                (tt_axis, polar, spindle) = ([0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]);
            }
            fbeam = xbeam;
            sbeam = ybeam;
            pivot = Pivot::Sample;
        }
        Convention::Custom => {
            xbeam = d.xbeam.unwrap_or(xclose);
            ybeam = d.ybeam.unwrap_or(yclose);
            beam = d.beam_vector.unwrap_or(beam);
            fdet = d.fdet_vector.unwrap_or(fdet);
            sdet = d.sdet_vector.unwrap_or(sdet);
            odet = d.odet_vector.unwrap_or(odet);
            tt_axis = d.twotheta_axis.unwrap_or(tt_axis);
            polar = d.polar_vector.unwrap_or(polar);
            spindle = d.spindle_axis.unwrap_or(spindle);
            fbeam = xbeam;
            sbeam = ybeam;
            fclose = xbeam;
            sclose = ybeam;
        }
    }

    beam = unitize(beam).0;
    fdet = unitize(fdet).0;
    sdet = unitize(sdet).0;
    let (odet_unit, odet_len) = unitize(odet);
    odet = odet_unit;
    if odet_len != 1.0 {
        messages.push("WARNING: auto-generating odet_vector".into());
        odet = unitize(cross(fdet, sdet)).0;
    }
    polar = unitize(polar).0;
    spindle = unitize(spindle).0;
    let vert = unitize(cross(beam, polar)).0;

    // Relationship between the two beam centres; twotheta is left out (notes Q17).
    let mut ratio = dot(beam, rotate_xyz(odet, d.rotx, d.roty, d.rotz));
    if ratio == 0.0 {
        ratio = f64::MIN_POSITIVE;
    }
    let mut close_distance = d.close_distance.unwrap_or((ratio * d.distance).abs());
    let mut distance = close_distance / ratio;

    let mut pix0: V3 = [0.0; 3];
    if pivot == Pivot::Sample {
        messages.push("pivoting detector around sample".into());
        for i in 0..3 {
            pix0[i] = -fclose * fdet[i] - sclose * sdet[i] + close_distance * odet[i];
        }
        pix0 = rotate_xyz(pix0, d.rotx, d.roty, d.rotz);
        pix0 = rotate_axis(pix0, tt_axis, d.twotheta);
    }
    fdet = rotate_xyz(fdet, d.rotx, d.roty, d.rotz);
    sdet = rotate_xyz(sdet, d.rotx, d.roty, d.rotz);
    odet = rotate_xyz(odet, d.rotx, d.roty, d.rotz);
    fdet = rotate_axis(fdet, tt_axis, d.twotheta);
    sdet = rotate_axis(sdet, tt_axis, d.twotheta);
    odet = rotate_axis(odet, tt_axis, d.twotheta);
    if pivot == Pivot::Beam {
        messages.push("pivoting detector around direct beam spot".into());
        for i in 0..3 {
            pix0[i] = -fbeam * fdet[i] - sbeam * sdet[i] + distance * beam[i];
        }
    }
    if d.fixed {
        if let Some(p) = d.pix0_vector {
            pix0 = p;
        }
        // Report where the direct beam really meets the rotated detector plane.
        ratio = dot(beam, odet);
        if ratio == 0.0 {
            ratio = f64::MIN_POSITIVE;
        }
    }

    let fclose = -dot(pix0, fdet);
    let sclose = -dot(pix0, sdet);
    close_distance = dot(pix0, odet);
    let mut v: V3 = [0.0; 3];
    for i in 0..3 {
        v[i] = close_distance / ratio * beam[i] - pix0[i];
    }
    let fbeam = dot(fdet, v);
    let sbeam = dot(sdet, v);
    distance = close_distance / ratio;
    let (xbeam, ybeam) = if d.fixed {
        // The header's beam centre, in this convention's terms, where the beam really hits.
        match d.convention {
            Convention::Mosflm => (sbeam - 0.5 * px, fbeam - 0.5 * px),
            Convention::Denzo => (sbeam, fbeam),
            Convention::Adxv => (fbeam, detsize_s - sbeam),
            _ => (fbeam, sbeam),
        }
    } else {
        (xbeam, ybeam)
    };

    let orgx = fclose / px + 0.5;
    let orgy = sclose / px + 0.5;
    let dials_origin = [
        1000.0 * dot(pix0, [0.0, 0.0, 1.0]),
        1000.0 * dot(pix0, [0.0, 1.0, 0.0]),
        1000.0 * dot(pix0, [-1.0, 0.0, 0.0]),
    ];

    Geometry {
        convention: d.convention,
        pivot,
        fpixels,
        spixels,
        pixel_size: px,
        detsize_f,
        detsize_s,
        fdet,
        sdet,
        odet,
        pix0,
        beam,
        polar,
        spindle,
        vert,
        twotheta_axis: tt_axis,
        twotheta: d.twotheta,
        distance,
        close_distance,
        xbeam,
        ybeam,
        fbeam,
        sbeam,
        xclose,
        yclose,
        fclose,
        sclose,
        orgx,
        orgy,
        dials_origin,
        messages,
    }
}

/// The lab frame every panel shares: beam, polarization and spindle directions.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LabFrame {
    /// Unit vector of the incident beam.
    pub beam: V3,
    pub polar: V3,
    /// unit(beam x polar): the axis of horizontal divergence.
    pub vert: V3,
    pub spindle: V3,
}

/// One flat panel: its geometry, how its pixels are sampled, the rendered window and mask.
#[derive(Clone, Debug, Serialize)]
pub struct Panel {
    pub geometry: Geometry,
    /// Every pixel at the same distance from the sample.
    pub curved: bool,
    /// Solid angle as 1/R².
    pub point_pixel: bool,
    /// Rendered window, inclusive pixel indices: fast min, fast max, slow min, slow max.
    pub roi: [usize; 4],
    /// The reference's ROI numbers as it prints them (xmax defaults to fpixels).
    pub roi_printed: [i64; 4],
    #[serde(skip)]
    pub mask: Option<Arc<[u16]>>,
}

impl Panel {
    /// Whether pixel (fast, slow) is rendered: inside the window and not masked.
    #[inline]
    pub fn renders(&self, fpixel: usize, spixel: usize) -> bool {
        if !self.in_roi(fpixel, spixel) {
            return false;
        }
        match &self.mask {
            Some(m) => m[spixel * self.geometry.fpixels + fpixel] != 0,
            None => true,
        }
    }

    /// Whether pixel (fast, slow) is inside the window (the integer images' and rmsd's test).
    #[inline]
    pub fn in_roi(&self, fpixel: usize, spixel: usize) -> bool {
        let [x0, x1, y0, y1] = self.roi;
        fpixel >= x0 && fpixel <= x1 && spixel >= y0 && spixel <= y1
    }
}

/// The detector: the lab frame and a list of flat panels (one today).
#[derive(Clone, Debug, Serialize)]
pub struct Detector {
    pub lab: LabFrame,
    pub panels: Vec<Panel>,
}

impl Detector {
    /// The panel a render draws (the first; a detector today has one).
    #[inline]
    pub fn panel(&self) -> &Panel {
        &self.panels[0]
    }
}

/// Resolve the detector of `config` (mm and degrees in, m and radians out) with an optional
/// pixel mask (one value per pixel, row-major; 0 skips the pixel).
/// The image's memory need, charged to the setting that sized it.
pub fn image_need(dc: &DetectorConfig, fpixels: usize, spixels: usize) -> crate::resources::Need {
    let field = match (dc.detpixels_f, dc.detpixels_s) {
        (Some(_), _) => "detector.detpixels_f",
        (None, Some(_)) => "detector.detpixels_s",
        _ => "detector.detsize_f_mm",
    };
    crate::resources::image(field, fpixels, spixels)
}

pub fn resolve(config: &Config, mask: Option<Arc<[u16]>>) -> Result<Detector> {
    let (bc, dc, sc) = (&config.beam, &config.detector, &config.sampling);
    let custom = dc.convention == Convention::Custom;
    let geometry = build_geometry(&DetectorInput {
        convention: dc.convention,
        pivot: dc.pivot,
        pixel_size: dc.pixel_size_mm / 1000.0,
        fpixels: dc.detpixels_f.map(|n| n as usize),
        spixels: dc.detpixels_s.map(|n| n as usize),
        detsize_f: dc.detsize_f_mm / 1000.0,
        detsize_s: dc.detsize_s_mm / 1000.0,
        distance: dc.distance_mm / 1000.0,
        close_distance: dc.close_distance_mm.map(|x| x / 1000.0),
        xbeam: dc.xbeam_mm.map(|x| x / 1000.0),
        ybeam: dc.ybeam_mm.map(|x| x / 1000.0),
        xclose: dc.xclose_mm.map(|x| x / 1000.0),
        yclose: dc.yclose_mm.map(|x| x / 1000.0),
        orgx: dc.orgx_px,
        orgy: dc.orgy_px,
        beam_vector: bc.beam_vector.filter(|_| custom),
        fdet_vector: dc.fdet_vector.filter(|_| custom),
        sdet_vector: dc.sdet_vector.filter(|_| custom),
        odet_vector: dc.odet_vector.filter(|_| custom),
        polar_vector: bc.polar_vector.filter(|_| custom),
        spindle_axis: sc.spindle_axis.filter(|_| custom),
        twotheta_axis: dc.twotheta_axis.filter(|_| custom),
        pix0_vector: dc.pix0_vector_m.filter(|_| custom),
        twotheta: dc.twotheta_deg / RTD,
        rotx: dc.rotx_deg / RTD,
        roty: dc.roty_deg / RTD,
        rotz: dc.rotz_deg / RTD,
        fixed: config.fix_quirks,
    });
    let (fpixels, spixels) = (geometry.fpixels, geometry.spixels);
    if fpixels == 0 || spixels == 0 {
        return Err(Error::config("detector.detsize_f_mm", "the detector has no pixels"));
    }
    // The image is estimated before anything of its size is allocated (resources.rs).
    crate::resources::check(&[image_need(dc, fpixels, spixels)])?;
    if let Some(m) = &mask {
        if m.len() < fpixels * spixels {
            return Err(Error::Input(format!(
                "the mask has {} values but the detector has {}x{} = {} pixels",
                m.len(),
                fpixels,
                spixels,
                fpixels * spixels
            )));
        }
    }
    let roi_printed = match dc.roi {
        Some([a, b, c, d]) => [a, b, c, d],
        None => [0, fpixels as i64, 0, spixels as i64],
    };
    let clamp = |v: i64, n: usize| (v.max(0) as usize).min(n - 1);
    let roi = [
        clamp(roi_printed[0], fpixels),
        clamp(roi_printed[1], fpixels),
        clamp(roi_printed[2], spixels),
        clamp(roi_printed[3], spixels),
    ];
    let lab = LabFrame { beam: geometry.beam, polar: geometry.polar, vert: geometry.vert, spindle: geometry.spindle };
    let panel = Panel { geometry, curved: dc.curved, point_pixel: dc.point_pixel, roi, roi_printed, mask };
    Ok(Detector { lab, panels: vec![panel] })
}

/// The window check the reference makes after everything else is set up.
pub fn check_roi(config: &Config, d: &Detector) -> Result<()> {
    let p = d.panel();
    let (fpixels, spixels) = (p.geometry.fpixels, p.geometry.spixels);
    if config.detector.roi.is_some() && (p.roi_printed[0] as usize >= fpixels || p.roi_printed[2] as usize >= spixels) {
        return Err(Error::config("detector.roi", format!("the window starts outside the {fpixels}x{spixels} detector")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> DetectorInput {
        DetectorInput {
            pixel_size: 0.1e-3,
            detsize_f: 102.4e-3,
            detsize_s: 102.4e-3,
            distance: 100e-3,
            fpixels: Some(64),
            spixels: Some(64),
            ..Default::default()
        }
    }

    #[test]
    fn mosflm_defaults_put_the_beam_one_pixel_off_centre() {
        // Notes §6.3: 64x64 defaults give ADXV 3.3/3.1, DENZO 3.3/3.3, XDS_ORG 33.5, DIALS -3.3,3.3,-100.
        let g = build_geometry(&base());
        assert!((g.fbeam - 3.3e-3).abs() < 1e-15 && (g.sbeam - 3.3e-3).abs() < 1e-15);
        assert!((g.orgx - 33.5).abs() < 1e-9 && (g.orgy - 33.5).abs() < 1e-9);
        assert!((g.dials_origin[0] + 3.3).abs() < 1e-9);
        assert!((g.dials_origin[1] - 3.3).abs() < 1e-9);
        assert!((g.dials_origin[2] + 100.0).abs() < 1e-9);
        assert!((g.close_distance - 0.1).abs() < 1e-15);
    }

    #[test]
    fn detsize_is_not_snapped_to_pixels() {
        // Notes §2.1: -detsize 10 -pixel 0.3 -xds gives 33 pixels and ORGX 17.1667.
        let g = build_geometry(&DetectorInput {
            convention: Convention::Xds,
            pixel_size: 0.3e-3,
            detsize_f: 10e-3,
            detsize_s: 10e-3,
            distance: 100e-3,
            ..Default::default()
        });
        assert_eq!(g.fpixels, 33);
        assert!((g.orgx - 17.1667).abs() < 1e-4);
    }

    #[test]
    fn twotheta_header_values() {
        // Notes §2.4: MOSFLM -twotheta 20 reports DISTANCE 93.9693 although the beam hits 3.3 mm.
        let mut d = base();
        d.twotheta = 20f64.to_radians();
        let g = build_geometry(&d);
        assert!((g.distance * 1000.0 - 93.9693).abs() < 1e-4);
        d.fixed = true;
        let g = build_geometry(&d);
        assert!((g.sbeam - 3.3e-3).abs() < 1e-12 && (g.fbeam - 3.3e-3).abs() < 1e-12);
        assert!((g.distance - 0.1).abs() < 1e-12);
    }
}
