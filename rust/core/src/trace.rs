//! Per-pixel tracing: the kernel reports each named factor of a pixel's intensity chain to a
//! [`Tracer`] (docs/trace.md). A normal render uses [`NoTrace`], whose `ON = false` removes
//! every trace statement at compile time.

use crate::simd::Lanes;

/// Receives the named factors of one pixel's intensity chain (see docs/trace.md).
pub trait Tracer {
    /// False for the no-op tracer, so that no trace work is done in a normal render.
    const ON: bool;
    /// Record `values`, one vector per value, of the traced lane.
    fn record<L: Lanes>(&mut self, name: &str, values: &[L::F]);
}

/// The tracer of a normal render: does nothing, costs nothing.
pub struct NoTrace;

impl Tracer for NoTrace {
    const ON: bool = false;
    #[inline(always)]
    fn record<L: Lanes>(&mut self, _: &str, _: &[L::F]) {}
}

/// A tracer that keeps `TRACE <name> <values>` lines for one lane.
pub struct TextTrace {
    pub lane: usize,
    pub lines: Vec<String>,
}

impl Tracer for TextTrace {
    const ON: bool = true;
    fn record<L: Lanes>(&mut self, name: &str, values: &[L::F]) {
        let mut line = format!("TRACE {name}");
        for v in values {
            line.push(' ');
            line.push_str(&crate::fmt::g_prec(L::lane(*v, self.lane), 17));
        }
        self.lines.push(line);
    }
}
