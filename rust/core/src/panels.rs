//! Multi-panel detectors: a list of flat panels rendered one after another, each exactly as
//! the reference renders that panel alone as a custom detector.
//!
//! The reference keeps serial state through a run (the phi carry-over, the interpolation
//! shutdown, the random streams), so a panel is not a window of one big detector: each panel
//! is resolved into its own single-panel [`Setup`] (the custom-convention run
//! `-fdet_vector f -sdet_vector s -odet_vector o -Xbeam (-P.f) -Ybeam (-P.s)
//! -close_distance (P.o) -pivot sample`, numbers as doubles) and rendered with the ordinary
//! kernel, which is parallel across its rows.

use crate::config::{Config, DetectorConfig};
use crate::detector::{Convention, Pivot};
use crate::error::{Error, Result};
use crate::hkl::HklTable;
use crate::kernel::{render_with, Image, RenderControl};
use crate::setup::Setup;
use crate::simd::Isa;
use crate::vec3::{cross, dot, unitize, V3};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One flat panel in the lab frame (millimetres).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// Unique within a detector; names the panel's outputs.
    pub name: String,
    /// Direction of increasing fast pixel index (normalised on use).
    pub fast_axis: V3,
    /// Direction of increasing slow pixel index (normalised on use).
    pub slow_axis: V3,
    /// Outer corner of pixel (0, 0), the reference's pix0 (mm).
    pub origin_mm: V3,
    pub fast_pixels: usize,
    pub slow_pixels: usize,
    /// Side of the square pixels (mm).
    pub pixel_mm: f64,
    /// Sensor thickness of this panel (µm); `None` takes the detector's.
    #[serde(default)]
    pub thickness_um: Option<f64>,
    /// Attenuation depth of this panel's sensor (µm); `None` takes the detector's.
    #[serde(default)]
    pub attenuation_depth_um: Option<f64>,
}

impl Panel {
    /// Check what a render cannot use; the error names the panel.
    pub fn validate(&self) -> Result<()> {
        let field = format!("detector.panels[{}]", self.name);
        let bad = |msg: String| Err(Error::config(&field, msg));
        let finite = |v: &V3| v.iter().all(|x| x.is_finite());
        if !(finite(&self.fast_axis) && finite(&self.slow_axis) && finite(&self.origin_mm)) {
            return bad("axes and origin must be finite numbers".into());
        }
        if !(self.pixel_mm.is_finite() && self.pixel_mm > 0.0) {
            return bad(format!("pixel size must be positive, not {}", crate::fmt::g(self.pixel_mm)));
        }
        if self.fast_pixels == 0 || self.slow_pixels == 0 || self.fast_pixels > 1 << 20 || self.slow_pixels > 1 << 20 {
            return bad(format!("{}x{} pixels is not a panel size this program supports", self.fast_pixels, self.slow_pixels));
        }
        let (f, lf) = unitize(self.fast_axis);
        let (s, ls) = unitize(self.slow_axis);
        if lf == 0.0 || ls == 0.0 {
            return bad("fast and slow axes must not be zero vectors".into());
        }
        let n = cross(f, s);
        if dot(n, n) < 1e-12 {
            return bad("fast and slow axes are parallel".into());
        }
        if dot(self.origin_mm, unitize(n).0) == 0.0 {
            return bad("the panel's plane contains the sample".into());
        }
        for (what, x) in [("thickness_um", self.thickness_um), ("attenuation_depth_um", self.attenuation_depth_um)] {
            if let Some(x) = x {
                if x.is_nan() || x < 0.0 {
                    return bad(format!("{what} must not be negative"));
                }
            }
        }
        Ok(())
    }

    /// Whether fast x slow points toward the sample (the reference cannot render such a panel
    /// as given; it is rendered turned, see [`Panel::turned`]).
    pub fn faces_sample(&self) -> bool {
        let n = cross(unitize(self.fast_axis).0, unitize(self.slow_axis).0);
        dot(self.origin_mm, n) < 0.0
    }

    /// The same pixels with the slow axis reversed: slow row j becomes row slow_pixels-1-j.
    pub fn turned(&self) -> Panel {
        let s = unitize(self.slow_axis).0;
        let run = self.slow_pixels as f64 * self.pixel_mm;
        let o = self.origin_mm;
        Panel {
            slow_axis: [-s[0], -s[1], -s[2]],
            origin_mm: [o[0] + run * s[0], o[1] + run * s[1], o[2] + run * s[2]],
            ..self.clone()
        }
    }
}

/// The single-panel configuration of `panel` (which must face away from the sample): `base`
/// with its detector replaced by the reference's custom-convention description of the panel.
/// Sensor settings (thickness, absorption, layers, point pixel) come from `base` unless the
/// panel has its own.
pub fn panel_config(base: &Config, panel: &Panel) -> Config {
    let f = unitize(panel.fast_axis).0;
    let s = unitize(panel.slow_axis).0;
    let o = unitize(cross(f, s)).0;
    let p = panel.origin_mm;
    let b = &base.detector;
    let mut config = base.clone();
    config.detector = DetectorConfig {
        convention: Convention::Custom,
        pivot: Pivot::Sample,
        fdet_vector: Some(f),
        sdet_vector: Some(s),
        odet_vector: Some(o),
        xbeam_mm: Some(-dot(p, f)),
        ybeam_mm: Some(-dot(p, s)),
        close_distance_mm: Some(dot(p, o)),
        detpixels_f: Some(panel.fast_pixels as i64),
        detpixels_s: Some(panel.slow_pixels as i64),
        pixel_size_mm: panel.pixel_mm,
        thickness_um: panel.thickness_um.unwrap_or(b.thickness_um),
        attenuation_depth_um: panel.attenuation_depth_um.or(b.attenuation_depth_um),
        thicksteps: b.thicksteps,
        point_pixel: b.point_pixel,
        curved: b.curved,
        ..DetectorConfig::default()
    };
    config
}

/// Reverse the row order of a `rows x width` image in place.
pub fn reverse_rows<T>(data: &mut [T], width: usize) {
    if width == 0 {
        return;
    }
    let rows = data.len() / width;
    for j in 0..rows / 2 {
        let (top, bottom) = data.split_at_mut((rows - 1 - j) * width);
        top[j * width..(j + 1) * width].swap_with_slice(&mut bottom[..width]);
    }
}

/// One panel resolved for rendering.
#[derive(Clone, Debug)]
pub struct PanelSetup {
    pub panel: Panel,
    /// Rendered as [`Panel::turned`]; its rows are put back in the panel's own order.
    pub turned: bool,
    pub setup: Setup,
}

/// Resolve every panel of a detector. `masks[k]`, where given, is panel k's mask in the
/// panel's own pixel order (0 skips a pixel).
pub fn setup_panels(
    base: &Config,
    panels: &[Panel],
    hkl: Option<Arc<HklTable>>,
    masks: &[Option<Arc<[u16]>>],
) -> Result<Vec<PanelSetup>> {
    if panels.is_empty() {
        return Err(Error::config("detector.panels", "the panel list is empty"));
    }
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(panels.len());
    for (k, panel) in panels.iter().enumerate() {
        panel.validate()?;
        if !names.insert(panel.name.as_str()) {
            return Err(Error::config("detector.panels", format!("two panels are named '{}'", panel.name)));
        }
        let turned = panel.faces_sample();
        let drawn = if turned { panel.turned() } else { panel.clone() };
        let mask = match masks.get(k).cloned().flatten() {
            Some(m) if turned => {
                let mut m = m.to_vec();
                reverse_rows(&mut m, panel.fast_pixels);
                Some(Arc::from(m))
            }
            m => m,
        };
        let mut setup = Setup::new(&panel_config(base, &drawn), hkl.clone(), mask)?;
        // The odet given is the unit normal; a length off 1.0 by an ulp only re-derives it.
        setup.messages.retain(|m| !m.contains("auto-generating odet_vector"));
        out.push(PanelSetup { panel: panel.clone(), turned, setup });
    }
    Ok(out)
}

/// Render one resolved panel in its own pixel order.
pub fn render_panel(p: &PanelSetup, isa: Isa, ctl: &RenderControl) -> Result<Image> {
    let mut image = render_with(&p.setup, isa, ctl)?;
    if p.turned {
        reverse_rows(&mut image.data, image.fpixels);
    }
    Ok(image)
}

/// Render every panel, one after another (each in parallel across its rows).
pub fn render_panels(panels: &[PanelSetup], isa: Isa, ctl: &RenderControl) -> Result<Vec<Image>> {
    panels.iter().map(|p| render_panel(p, isa, ctl)).collect()
}

/// The integer-image scale of a detector: 55000 / the largest float pixel over all panels.
pub fn detector_scale(max_float: f64) -> f64 {
    if max_float > 0.0 {
        55000.0 / max_float
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel() -> Panel {
        Panel {
            name: "p".into(),
            fast_axis: [0.0, 0.0, 1.0],
            slow_axis: [0.0, -1.0, 0.0],
            origin_mm: [80.0, 3.0, -2.0],
            fast_pixels: 8,
            slow_pixels: 6,
            pixel_mm: 0.1,
            thickness_um: None,
            attenuation_depth_um: None,
        }
    }

    fn base() -> Config {
        let mut c = Config::default();
        c.crystal.cell = Some([50.0, 50.0, 50.0, 90.0, 90.0, 90.0]);
        c.crystal.default_f = 100.0;
        c.crystal.n_cells = [5, 5, 5];
        c.sampling.oversample = Some(1);
        c
    }

    #[test]
    fn the_custom_detector_puts_pix0_at_the_origin() {
        let p = panel();
        let s = Setup::new(&panel_config(&base(), &p), None, None).unwrap();
        for i in 0..3 {
            assert!((s.panel().geometry.pix0[i] - p.origin_mm[i] / 1000.0).abs() < 1e-15);
        }
        assert_eq!((s.panel().geometry.fpixels, s.panel().geometry.spixels), (8, 6));
    }

    #[test]
    fn a_panel_facing_the_sample_renders_as_its_turned_self_rows_reversed() {
        let away = panel();
        assert!(!away.faces_sample());
        // The same pixels described from the other side: the slow axis reversed.
        let toward = away.turned();
        assert!(toward.faces_sample());
        let ctl = RenderControl::default();
        let a = setup_panels(&base(), &[away], None, &[]).unwrap();
        let t = setup_panels(&base(), &[toward], None, &[]).unwrap();
        assert!(t[0].turned && !a[0].turned);
        let ia = render_panels(&a, Isa::Exact, &ctl).unwrap();
        let mut it = render_panels(&t, Isa::Exact, &ctl).unwrap();
        reverse_rows(&mut it[0].data, 8);
        let max = ia[0].data.iter().cloned().fold(0f32, f32::max);
        assert!(max > 0.0);
        for (x, y) in ia[0].data.iter().zip(&it[0].data) {
            assert!((x - y).abs() <= 1e-5 * x.abs() + 1e-7 * max, "{x} {y}");
        }
    }

    #[test]
    fn bad_panels_name_themselves() {
        let mut p = panel();
        p.slow_axis = p.fast_axis;
        let e = setup_panels(&base(), &[p], None, &[]).unwrap_err().to_string();
        assert!(e.contains("detector.panels[p]") && e.contains("parallel"), "{e}");
        let e = setup_panels(&base(), &[panel(), panel()], None, &[]).unwrap_err().to_string();
        assert!(e.contains("two panels"), "{e}");
        let mut p = panel();
        p.origin_mm = [0.0, 3.0, -2.0];
        assert!(setup_panels(&base(), &[p], None, &[]).is_err());
    }

    #[test]
    fn rows_reverse() {
        let mut v = vec![1, 2, 3, 4, 5, 6];
        reverse_rows(&mut v, 2);
        assert_eq!(v, vec![5, 6, 3, 4, 1, 2]);
    }
}
