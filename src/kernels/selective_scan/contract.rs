//! The scan's contract: sizes, borrowed inputs, gradients, and the length checks.

use super::*;

/// Sizes of one scan call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanDims {
    /// Number of independent sequences.
    pub batch: usize,
    /// Sequence length (scan steps).
    pub len: usize,
    /// Number of channels (`d_inner`), each with its own recurrence.
    pub channels: usize,
    /// SSM state size per channel (`d_state`).
    pub state: usize,
}

/// Alignment (in f32 values: 256 bytes, the largest storage-buffer offset alignment wgpu
/// devices ask for) of the last state in the packed forward output.
pub const PACKED_ALIGN: usize = 64;

impl ScanDims {
    /// Values of the packed forward output ([`scan_forward_packed`]): `y` `[batch, len,
    /// channels]`, unused values up to [`last_offset`](Self::last_offset), then the last state
    /// `[batch, channels, state]`.
    pub fn packed_len(&self) -> usize {
        self.last_offset() + self.batch * self.channels * self.state
    }

    /// Where the last state starts in the packed output: `y`'s length rounded up to
    /// [`PACKED_ALIGN`] values, so that a GPU binds each part at an aligned offset.
    pub fn last_offset(&self) -> usize {
        (self.batch * self.len * self.channels).next_multiple_of(PACKED_ALIGN)
    }
}

/// Borrowed inputs, row-major: u, delta: [batch, len, channels]; a: [channels, state];
/// b, c: [batch, len, state]; d, delta_bias: [channels]; and where a sequence continues from an
/// earlier one (memory across control steps), its initial state h0: [batch, channels, state] and
/// per-token resets: [batch, len].
#[derive(Debug, Clone, Copy)]
pub struct ScanInputs<'a> {
    /// Input sequence `[batch, len, channels]`.
    pub u: &'a [f32],
    /// Step sizes before softplus `[batch, len, channels]`.
    pub delta: &'a [f32],
    /// State matrix (usually negative) `[channels, state]`.
    pub a: &'a [f32],
    /// Input projection `[batch, len, state]`.
    pub b: &'a [f32],
    /// Output projection `[batch, len, state]`.
    pub c: &'a [f32],
    /// Skip connection `[channels]`.
    pub d: &'a [f32],
    /// Bias added to `delta` before softplus `[channels]`.
    pub delta_bias: &'a [f32],
    /// The state before the first token `[batch, channels, state]`; `None`: zero.
    pub h0: Option<&'a [f32]>,
    /// `[batch, len]`: a non-zero value at token `t` zeroes the state before the token's update
    /// (an episode starts there, so nothing before it is remembered); `None`: no resets.
    pub reset: Option<&'a [f32]>,
}

/// Gradients, same layouts as the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanGrads {
    /// Gradient of `u`, `[batch, len, channels]`.
    pub du: Vec<f32>,
    /// Gradient of `delta`, `[batch, len, channels]`.
    pub ddelta: Vec<f32>,
    /// Gradient of `a`, `[channels, state]`.
    pub da: Vec<f32>,
    /// Gradient of `b`, `[batch, len, state]`.
    pub db: Vec<f32>,
    /// Gradient of `c`, `[batch, len, state]`.
    pub dc: Vec<f32>,
    /// Gradient of `d`, `[channels]`.
    pub dd: Vec<f32>,
    /// Gradient of `delta_bias`, `[channels]`.
    pub ddelta_bias: Vec<f32>,
    /// Gradient of the initial state `h0` (of a zero one when none was given),
    /// `[batch, channels, state]`; empty from [`scan_backward_without_dh0`](super::scan_backward_without_dh0).
    pub dh0: Vec<f32>,
}

/// A slice passed to a scan kernel does not match [`ScanDims`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScanError {
    /// The named argument has the wrong number of elements.
    #[error("selective scan: `{name}` has {got} elements, expected {expected} ({shape})")]
    WrongLength {
        /// Argument name, e.g. `delta` or `last_state`.
        name: &'static str,
        /// Expected element count.
        expected: usize,
        /// Actual element count.
        got: usize,
        /// Expected shape in words, e.g. `[batch, len, channels]`.
        shape: &'static str,
    },
}

fn check_len(
    name: &'static str,
    got: usize,
    expected: usize,
    shape: &'static str,
) -> Result<(), ScanError> {
    if got == expected {
        Ok(())
    } else {
        Err(ScanError::WrongLength {
            name,
            expected,
            got,
            shape,
        })
    }
}

/// Checks the lengths of all inputs against `dims`.
pub fn validate(dims: &ScanDims, x: &ScanInputs) -> Result<(), ScanError> {
    let blc = dims.batch * dims.len * dims.channels;
    let bls = dims.batch * dims.len * dims.state;
    check_len("u", x.u.len(), blc, "[batch, len, channels]")?;
    check_len("delta", x.delta.len(), blc, "[batch, len, channels]")?;
    check_len(
        "a",
        x.a.len(),
        dims.channels * dims.state,
        "[channels, state]",
    )?;
    check_len("b", x.b.len(), bls, "[batch, len, state]")?;
    check_len("c", x.c.len(), bls, "[batch, len, state]")?;
    check_len("d", x.d.len(), dims.channels, "[channels]")?;
    check_len(
        "delta_bias",
        x.delta_bias.len(),
        dims.channels,
        "[channels]",
    )?;
    if let Some(h0) = x.h0 {
        check_len(
            "h0",
            h0.len(),
            dims.batch * dims.channels * dims.state,
            "[batch, channels, state]",
        )?;
    }
    if let Some(reset) = x.reset {
        check_len("reset", reset.len(), dims.batch * dims.len, "[batch, len]")?;
    }
    Ok(())
}

/// Checks the output buffers of [`scan_forward`] (and the inputs) against `dims`.
pub fn validate_forward(
    dims: &ScanDims,
    x: &ScanInputs,
    y: &[f32],
    last_state: &[f32],
) -> Result<(), ScanError> {
    validate(dims, x)?;
    check_len(
        "y",
        y.len(),
        dims.batch * dims.len * dims.channels,
        "[batch, len, channels]",
    )?;
    check_len(
        "last_state",
        last_state.len(),
        dims.batch * dims.channels * dims.state,
        "[batch, channels, state]",
    )
}

/// Checks the upstream gradients of [`scan_backward`] (and the inputs) against `dims`.
pub fn validate_backward(
    dims: &ScanDims,
    x: &ScanInputs,
    dy: &[f32],
    d_last_state: Option<&[f32]>,
) -> Result<(), ScanError> {
    validate(dims, x)?;
    check_len(
        "dy",
        dy.len(),
        dims.batch * dims.len * dims.channels,
        "[batch, len, channels]",
    )?;
    if let Some(s) = d_last_state {
        check_len(
            "d_last_state",
            s.len(),
            dims.batch * dims.channels * dims.state,
            "[batch, channels, state]",
        )?;
    }
    Ok(())
}
