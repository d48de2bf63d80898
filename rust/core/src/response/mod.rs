//! The detector response: what a detector makes of the photons that reach it.
//!
//! `psf` spreads photons over neighbouring pixels (noisify.c's Gaussian and fiber kernels);
//! `counting` draws the calibration, flicker and Poisson noise and turns photons into ADU
//! (gain, offset, read-out noise, 16- or 32-bit pixels, the 8-bit preview).

pub mod counting;
pub mod psf;
