//! The all-or-nothing output protocol (`nanobragg_core::io::Outputs`) for Python writers, and
//! the NumPy API made ready before a Ctrl-C can interfere with it.

use nanobragg_core as core;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The outputs of one command, written all or nothing: `stage(target)` gives the temporary to
/// write instead of `target`; `commit()` puts every staged output in place, `discard()` removes
/// every temporary (so does dropping the set uncommitted).
#[pyclass(module = "nanobragg_rs._core", frozen)]
pub struct Outputs {
    pub(crate) inner: Mutex<core::io::Outputs>,
}

#[pymethods]
impl Outputs {
    #[new]
    fn new() -> Self {
        Outputs { inner: Mutex::new(core::io::Outputs::new()) }
    }

    /// Create the temporary file for `target` and return its path, a `str` (a `PathBuf` would
    /// become a `pathlib.Path`, whose import, with `re`, costs a command 18 ms).
    fn stage(&self, target: PathBuf) -> PyResult<OsString> {
        self.inner.lock().expect("outputs").stage(&target).map(PathBuf::into_os_string).map_err(super::to_py)
    }

    /// Put every staged output in place; the error names the user's file.
    fn commit(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.lock().expect("outputs").commit()).map_err(super::to_py)
    }

    /// Remove every staged temporary.
    fn discard(&self) {
        self.inner.lock().expect("outputs").discard();
    }

    fn __len__(&self) -> usize {
        self.inner.lock().expect("outputs").len()
    }
}

/// The name `nanobragg_core::io` gives the temporary of a file named `name` (tag: 8 characters).
#[pyfunction]
pub fn temporary_name(name: &str, tag: &str) -> PyResult<String> {
    if tag.len() != 8 {
        return Err(pyo3::exceptions::PyValueError::new_err("tag: 8 characters"));
    }
    Ok(core::io::temporary_name(name, tag))
}

/// The kept part of the user's name if `entry` is a temporary name of the protocol, else None.
#[pyfunction]
pub fn temporary_of(entry: &str) -> Option<String> {
    core::io::temporary_of(entry).map(str::to_string)
}

static NUMPY_READY: AtomicBool = AtomicBool::new(false);

/// Make rust-numpy's API tables ready before any long call. They are filled on first use by
/// running Python code (numpy's version check); a Ctrl-C arriving just then raises inside that
/// code and rust-numpy panics ("Failed to access NumPy array API capsule") instead of
/// returning the KeyboardInterrupt. Done here, once, where a signal already pending is raised
/// as itself and one arriving during the fill becomes an ordinary KeyboardInterrupt.
pub fn numpy_ready(py: Python<'_>) -> PyResult<()> {
    if NUMPY_READY.load(Ordering::Acquire) {
        return Ok(());
    }
    py.check_signals()?;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let filled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        use numpy::{PyArray1, PyArrayMethods};
        let a = PyArray1::<f32>::zeros(py, 1, false);
        drop(a.readonly());
    }));
    std::panic::set_hook(hook);
    match filled {
        Ok(()) => {
            NUMPY_READY.store(true, Ordering::Release);
            Ok(())
        }
        // The only Python code run is numpy's own; what raised in it was a signal's handler.
        Err(_) => Err(PyKeyboardInterrupt::new_err("interrupted")),
    }
}
