//! The files a plain run writes, straight from the rendered image: the raw float image, the
//! SMV integer image, the PGM preview and the SMV noise image, converted as the reference
//! converts them (`output`) and staged together in one output set (`io::Outputs`), put in
//! place all or nothing.
//!
//! After the render the work is shared out with `rayon::join`: the serial statistics (whose
//! order sets the PGM scale) and then the PGM, the float file, the integer image (which needs
//! only max_I), and the noise image (serial deviates) run side by side.

use crate::error::Result;
use crate::fmt::g;
use crate::io::{self, stage_shared};
use crate::noise::noise_image;
use crate::response::{int_pixels_into, noise_pixels_into, pgm_pixels_into};
use crate::setup::{header_values, Setup};
use crate::stats::{image_stats_with_max, max_pixel, Stats};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// What to write; `None` leaves a file out.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    pub floatfile: Option<PathBuf>,
    pub intfile: Option<PathBuf>,
    pub pgmfile: Option<PathBuf>,
    pub noisefile: Option<PathBuf>,
    /// The reference's `-seed` for the noise image.
    pub seed: i64,
    /// Integer-image scale; 0 or less chooses 55000/max_I.
    pub int_scale: f64,
    /// PGM scale; 0 or less chooses 250/(5·rmsd).
    pub pgm_scale: f64,
    /// ADC offset of the integer and noise images.
    pub adc: f64,
}

/// What the writers found on the way, for the closing lines the reference prints.
#[derive(Clone, Debug, Default)]
pub struct Written {
    pub stats: Stats,
    pub int_scale: f64,
    /// The PGM scale, if a PGM was written.
    pub pgm_scale: Option<f64>,
    /// Total photons and overloads of the noise image, if one was written.
    pub noise_total: Option<f64>,
    pub overloads: usize,
}

/// The SMV header block nanoBragg writes (a valid one: every line ends with `;`), padded
/// with spaces to a multiple of 512 bytes.
pub fn smv_header(setup: &Setup) -> Vec<u8> {
    let h = header_values(setup);
    let order = if cfg!(target_endian = "little") { "little_endian" } else { "big_endian" };
    let o = h.DIALS_ORIGIN;
    let numbers = [
        ("PIXEL_SIZE", h.PIXEL_SIZE),
        ("DISTANCE", h.DISTANCE),
        ("WAVELENGTH", h.WAVELENGTH),
        ("BEAM_CENTER_X", h.BEAM_CENTER_X),
        ("BEAM_CENTER_Y", h.BEAM_CENTER_Y),
        ("ADXV_CENTER_X", h.ADXV_CENTER_X),
        ("ADXV_CENTER_Y", h.ADXV_CENTER_Y),
        ("MOSFLM_CENTER_X", h.MOSFLM_CENTER_X),
        ("MOSFLM_CENTER_Y", h.MOSFLM_CENTER_Y),
        ("DENZO_X_BEAM", h.DENZO_X_BEAM),
        ("DENZO_Y_BEAM", h.DENZO_Y_BEAM),
    ];
    let mut body = format!("DIM=2;\nBYTE_ORDER={order};\nTYPE=unsigned_short;\nSIZE1={};\nSIZE2={};\n", h.SIZE1, h.SIZE2);
    for (key, v) in numbers {
        body += &format!("{key}={};\n", g(v));
    }
    body += &format!("DIALS_ORIGIN={},{},{};\n", g(o[0]), g(o[1]), g(o[2]));
    for (key, v) in [
        ("XDS_ORGX", h.XDS_ORGX),
        ("XDS_ORGY", h.XDS_ORGY),
        ("CLOSE_DISTANCE", h.CLOSE_DISTANCE),
        ("PHI", h.PHI),
        ("OSC_START", h.OSC_START),
        ("OSC_RANGE", h.OSC_RANGE),
        ("TWOTHETA", h.TWOTHETA),
    ] {
        body += &format!("{key}={};\n", g(v));
    }
    body += "DETECTOR_SN=000;\nBEAMLINE=fake;\n}\x0c";
    let mut size = 512;
    loop {
        let head = format!("{{\nHEADER_BYTES={size};\n{body}");
        if head.len() <= size {
            let mut bytes = head.into_bytes();
            bytes.resize(size, b' ');
            return bytes;
        }
        size += 512;
    }
}

/// The PGM (P5) header with nanoBragg's comment line.
pub fn pgm_header(fpixels: usize, spixels: usize, scale: f64) -> Vec<u8> {
    format!("P5\n{fpixels} {spixels}\n# pixels scaled by {}\n255\n", g(scale)).into_bytes()
}

/// Rows converted and written at a time, so the integer, PGM and noise images are never
/// whole in memory beside the float image.
const BLOCK_ROWS: usize = 128;

/// Write `head`, then `image` converted block by block: `convert(out, block, row0)` fills a
/// zeroed `out` for the rows from `row0` and returns a count (the noise image's overloads),
/// summed over the blocks. Pixels are written in native byte order (the SMV header says which).
fn write_converted<T: Copy + Default>(
    set: &Mutex<io::Outputs>,
    path: &Path,
    head: &[u8],
    image: &[f32],
    width: usize,
    convert: impl Fn(&mut [T], &[f32], usize) -> usize,
) -> Result<usize> {
    let rows = BLOCK_ROWS * width.max(1);
    let mut buf = vec![T::default(); rows.min(image.len())];
    let mut total = 0;
    stage_shared(set, path, |f| {
        f.write_all(head)?;
        for (i, block) in image.chunks(rows).enumerate() {
            let out = &mut buf[..block.len()];
            out.fill(T::default());
            total += convert(out, block, i * BLOCK_ROWS);
            f.write_all(as_bytes(out))?;
        }
        Ok(())
    })?;
    Ok(total)
}

fn as_bytes<T: Copy>(data: &[T]) -> &[u8] {
    // SAFETY: only used for u8, u16 and f32, which have no padding bytes; u8 needs no alignment
    // and the length is the slice's size in bytes.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), size_of_val(data)) }
}

/// The float image's bytes as the float file holds them (little-endian float32).
fn float_bytes(image: &[f32]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        std::borrow::Cow::Borrowed(as_bytes(image))
    } else {
        std::borrow::Cow::Owned(image.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
}

/// Write the requested files for `image` (row-major, as `render` returns it) rendered with
/// `setup`, whose render summed `omega_sum`, all or nothing; returns the statistics and scales
/// used.
pub fn write_outputs(setup: &Setup, image: &[f32], omega_sum: f64, out: &Outputs) -> Result<Written> {
    let set = Mutex::new(io::Outputs::new());
    let written = stage_outputs(setup, image, omega_sum, out, &set)?;
    set.into_inner().unwrap_or_else(PoisonError::into_inner).commit()?;
    Ok(written)
}

/// [`write_outputs`] staged in `set` (a command's output set), left for its owner to commit.
pub fn stage_outputs(setup: &Setup, image: &[f32], omega_sum: f64, out: &Outputs, set: &Mutex<io::Outputs>) -> Result<Written> {
    let panel = setup.panel();
    let (fpixels, spixels) = (panel.geometry.fpixels, panel.geometry.spixels);
    let roi = panel.roi;
    let max = max_pixel(setup, image);
    let max_i = max.0;
    let int_scale = if out.int_scale > 0.0 {
        out.int_scale
    } else if max_i > 0.0 {
        55000.0 / max_i
    } else {
        1.0
    };
    let header = smv_header(setup);

    let stats_then_pgm = || -> Result<(Stats, Option<f64>)> {
        let st = image_stats_with_max(setup, image, omega_sum, max);
        let Some(path) = &out.pgmfile else { return Ok((st, None)) };
        let scale = if out.pgm_scale > 0.0 {
            out.pgm_scale
        } else if st.rmsd > 0.0 {
            250.0 / (5.0 * st.rmsd)
        } else {
            int_scale
        };
        write_converted(set, path, &pgm_header(fpixels, spixels, scale), image, fpixels, |o: &mut [u8], b, row0| {
            pgm_pixels_into(o, b, fpixels, row0, roi, scale);
            0
        })?;
        Ok((st, Some(scale)))
    };
    let float = || -> Result<()> {
        match &out.floatfile {
            Some(path) => stage_shared(set, path, |f| f.write_all(&float_bytes(image))),
            None => Ok(()),
        }
    };
    let int = || -> Result<()> {
        match &out.intfile {
            Some(path) => write_converted(set, path, &header, image, fpixels, |o: &mut [u16], b, row0| {
                int_pixels_into(o, b, fpixels, row0, roi, int_scale, out.adc);
                0
            })
            .map(drop),
            None => Ok(()),
        }
    };
    let noise = || -> Result<Option<(f64, usize)>> {
        let Some(path) = &out.noisefile else { return Ok(None) };
        let n = noise_image(setup, image, out.seed);
        let overloads = write_converted(set, path, &header, &n.photons, fpixels, |o: &mut [u16], b, row0| {
            noise_pixels_into(o, b, fpixels, row0, roi, out.adc)
        })?;
        Ok(Some((n.total, overloads)))
    };

    let ((stats_pgm, float_done), (int_done, noise_done)) = rayon::join(|| rayon::join(stats_then_pgm, float), || rayon::join(int, noise));
    let (stats, pgm_scale) = stats_pgm?;
    float_done?;
    int_done?;
    let noise_done = noise_done?;
    Ok(Written {
        stats,
        int_scale,
        pgm_scale,
        noise_total: noise_done.map(|n| n.0),
        overloads: noise_done.map_or(0, |n| n.1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgm_header_text() {
        assert_eq!(pgm_header(3, 2, 0.5), b"P5\n3 2\n# pixels scaled by 0.5\n255\n".to_vec());
    }

    #[test]
    fn float_bytes_little_endian() {
        let img = [1.0f32, -2.5];
        let b = float_bytes(&img);
        assert_eq!(&b[..4], &1.0f32.to_le_bytes());
        assert_eq!(&b[4..], &(-2.5f32).to_le_bytes());
    }
}
