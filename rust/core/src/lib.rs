//! nanobragg-core: absolute-scale X-ray diffraction images of small crystals.
//!
//! A pure-Rust reimplementation of James Holton's nanoBragg (nanoBragg.c, MIT licence) that
//! renders the reference's images exactly, quirks included, or with them corrected on request.
//!
//! ```no_run
//! use nanobragg_core::{Config, Setup, render, RenderControl};
//! let mut config = Config::default();
//! config.crystal.cell = Some([50.0, 50.0, 50.0, 90.0, 90.0, 90.0]);
//! config.crystal.default_f = 100.0;
//! let setup = Setup::new(&config, None, None).unwrap();
//! let image = render(&setup, &RenderControl::default()).unwrap();
//! println!("{} pixels", image.data.len());
//! ```

pub mod beam;
pub mod config;
pub mod background;
pub mod crystal;
pub mod detector;
pub mod error;
pub mod fmt;
pub mod hkl;
pub mod io;
pub mod kernel;
pub mod lattice;
pub mod noise;
pub mod nonbragg;
pub mod panels;
pub mod resources;
pub mod response;
pub mod rng;
pub mod sampling;
pub mod setup;
pub mod simd;
pub mod sources;
pub mod stats;
pub mod trace;
pub mod vec3;
pub mod writers;

pub use config::{BeamConfig, Config, CrystalConfig, DetectorConfig, SamplingConfig, Shape};
pub use beam::Beam;
pub use crystal::Crystal;
pub use detector::{Convention, Detector, LabFrame, Panel, Pivot};
pub use error::{Error, Result};
pub use hkl::{HklEntries, HklTable};
pub use kernel::{render, render_with, Image, Plan, RenderControl};
pub use simd::Isa;
pub use noise::{noise_image, Noise};
pub use panels::PanelSetup;
pub use sampling::Sampling;
pub use setup::{Setup, Water};
pub use stats::{image_stats, max_pixel, Stats};
pub use writers::{write_outputs, Outputs, Written};
