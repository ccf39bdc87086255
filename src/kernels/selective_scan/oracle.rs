//! The plain sequential reference scan, the test oracle.

use super::*;

/// `ln(1 + e^z)`, stable for large `z`.
#[inline]
pub(super) fn softplus(z: f32) -> f32 {
    if z > 20.0 { z } else { z.exp().ln_1p() }
}

/// Plain sequential reference implementation (std `exp`, no blocking, no threads): the test oracle.
///
/// Same contract as [`scan_forward`], including panics on wrong slice lengths.
#[allow(clippy::needless_range_loop)] // indices mirror the formula
pub fn scan_forward_naive(dims: &ScanDims, x: &ScanInputs, y: &mut [f32], last_state: &mut [f32]) {
    if let Err(e) = validate_forward(dims, x, y, last_state) {
        panic!("scan_forward_naive: {e}");
    }
    let ScanDims {
        batch,
        len,
        channels,
        state,
    } = *dims;
    let mut h = vec![0.0f32; state];
    for bi in 0..batch {
        for k in 0..channels {
            match x.h0 {
                Some(h0) => h.copy_from_slice(&h0[(bi * channels + k) * state..][..state]),
                None => h.iter_mut().for_each(|v| *v = 0.0),
            }
            for t in 0..len {
                if x.reset.is_some_and(|r| r[bi * len + t] != 0.0) {
                    h.iter_mut().for_each(|v| *v = 0.0);
                }
                let i = (bi * len + t) * channels + k;
                let row = (bi * len + t) * state;
                let dt = softplus(x.delta[i] + x.delta_bias[k]);
                let mut acc = 0.0f32;
                for n in 0..state {
                    h[n] = (dt * x.a[k * state + n]).exp() * h[n] + dt * x.b[row + n] * x.u[i];
                    acc += x.c[row + n] * h[n];
                }
                y[i] = acc + x.d[k] * x.u[i];
            }
            last_state[(bi * channels + k) * state..][..state].copy_from_slice(&h);
        }
    }
}
