//! Host side: upload, launch, read-back, timing and bandwidth (clients and the device check are
//! in [`super::client`]).

use std::time::Instant;

use burn::cubecl;
use cubecl::prelude::*;
use cubecl::server::Handle;

use super::CubeScanError;
use super::backward::{scan_backward_kernel, sum_partials_kernel};
use super::client::{check_device, check_state, gpu_client, plane_layout};
use super::forward::scan_forward_kernel;
use crate::kernels::selective_scan::{
    ScanData, ScanDims, ScanGrads, ScanInputs, validate, validate_backward,
};

/// Units per cube for every kernel: a multiple of every plane (warp, subgroup) size the kernels
/// accept (32 on NVIDIA, 64 on some AMD GPUs, 8 on lavapipe).
pub(super) const CUBE_UNITS: u32 = super::backward::CUBE_UNITS as u32;
/// Floats of the backward's per-unit recompute buffer, `(chunk + 1) * state`, aimed at.
const RECOMPUTE_FLOATS: usize = 512;

/// Steps per backward chunk for `state`: 64 for 8, 32 for 16, 16 for 32.
fn chunk_for(state: usize) -> usize {
    (RECOMPUTE_FLOATS / state).max(1)
}

/// A device buffer and its length in floats.
#[derive(Clone)]
pub(crate) struct Buf {
    /// The device memory (possibly a byte range of a larger allocation).
    pub(crate) handle: Handle,
    /// Length in floats.
    pub(crate) len: usize,
}

impl Buf {
    fn upload(client: &Client, data: &[f32]) -> Self {
        Buf {
            handle: client.create_from_slice(f32::as_bytes(data)),
            len: data.len(),
        }
    }

    pub(crate) fn zeros(client: &Client, len: usize) -> Self {
        Buf::upload(client, &vec![0.0f32; len])
    }

    /// Uninitialised device memory, for outputs the kernels overwrite completely.
    pub(crate) fn empty(client: &Client, len: usize) -> Self {
        Buf {
            handle: client.empty(len * size_of::<f32>()),
            len,
        }
    }

    fn arg(&self) -> BufferArg {
        // SAFETY: `len` is the number of f32 the handle was created with.
        unsafe { BufferArg::from_raw_parts(self.handle.clone(), self.len) }
    }

    fn read(&self, client: &Client) -> Result<Vec<f32>, CubeScanError> {
        let bytes = client
            .read_one(self.handle.clone())
            .map_err(|e| CubeScanError::Device(e.to_string()))?;
        Ok(f32::from_bytes(&bytes)[..self.len].to_vec())
    }
}

/// The scan inputs on the device.
pub(crate) struct DeviceInputs {
    pub(crate) u: Buf,
    pub(crate) delta: Buf,
    pub(crate) a: Buf,
    pub(crate) b: Buf,
    pub(crate) c: Buf,
    pub(crate) d: Buf,
    pub(crate) delta_bias: Buf,
    pub(crate) h0: Buf,
    pub(crate) reset: Buf,
}

impl DeviceInputs {
    fn upload(client: &Client, dims: &ScanDims, x: &ScanInputs) -> Self {
        let or_zeros = |v: Option<&[f32]>, n: usize| match v {
            Some(v) => Buf::upload(client, v),
            None => Buf::zeros(client, n),
        };
        DeviceInputs {
            u: Buf::upload(client, x.u),
            delta: Buf::upload(client, x.delta),
            a: Buf::upload(client, x.a),
            b: Buf::upload(client, x.b),
            c: Buf::upload(client, x.c),
            d: Buf::upload(client, x.d),
            delta_bias: Buf::upload(client, x.delta_bias),
            h0: or_zeros(x.h0, dims.batch * dims.channels * dims.state),
            reset: or_zeros(x.reset, dims.batch * dims.len),
        }
    }
}

/// Outputs of one backward launch: the final gradients of every input.
pub(crate) struct DeviceGrads {
    pub(crate) du: Buf,
    pub(crate) ddelta: Buf,
    pub(crate) da: Buf,
    pub(crate) db: Buf,
    pub(crate) dc: Buf,
    pub(crate) dd: Buf,
    pub(crate) ddelta_bias: Buf,
    pub(crate) dh0: Buf,
}

/// One unit per (batch, channel) in 1-D cubes of [`CUBE_UNITS`].
fn grid_1d(units: usize) -> (CubeCount, CubeDim) {
    let cubes = units.div_ceil(CUBE_UNITS as usize).max(1) as u32;
    (CubeCount::Static(cubes, 1, 1), CubeDim::new_1d(CUBE_UNITS))
}

/// Queues the forward kernel writing `y` `[batch, len, channels]` and `last` `[batch, channels,
/// state]` (buffers of at least those lengths, overwritten completely).
pub(crate) fn launch_forward(
    client: &Client,
    dims: &ScanDims,
    x: &DeviceInputs,
    y: &Buf,
    last: &Buf,
) {
    let (count, dim) = grid_1d(dims.batch * dims.channels);
    // SAFETY: every index the kernel forms is below the lengths checked by `validate`.
    unsafe {
        scan_forward_kernel::launch_unchecked(
            client,
            count,
            dim,
            x.u.arg(),
            x.delta.arg(),
            x.a.arg(),
            x.b.arg(),
            x.c.arg(),
            x.d.arg(),
            x.delta_bias.arg(),
            x.h0.arg(),
            x.reset.arg(),
            y.arg(),
            last.arg(),
            dims.batch,
            dims.len,
            dims.channels,
            dims.state,
        )
    };
}

/// Allocates `(y, last_state)` and queues the forward kernel into them.
fn forward_into_new(client: &Client, dims: &ScanDims, x: &DeviceInputs) -> (Buf, Buf) {
    let y = Buf::empty(client, dims.batch * dims.len * dims.channels);
    let last = Buf::empty(client, dims.batch * dims.channels * dims.state);
    launch_forward(client, dims, x, &y, &last);
    (y, last)
}

/// Queues `out = sum of the count rows of parts`.
fn launch_sum(client: &Client, parts: &Buf, n: usize, count: usize) -> Buf {
    let out = Buf::empty(client, n);
    let (cubes, dim) = grid_1d(n);
    // SAFETY: `parts` holds `count * n` floats and `out` holds `n`.
    unsafe {
        sum_partials_kernel::launch_unchecked(client, cubes, dim, parts.arg(), out.arg(), n, count)
    };
    out
}

/// Queues the backward kernel and the partial-sum kernels.
pub(crate) fn launch_backward(
    client: &Client,
    dims: &ScanDims,
    x: &DeviceInputs,
    dy: &Buf,
    d_last: &Buf,
) -> DeviceGrads {
    let ScanDims {
        batch,
        len,
        channels,
        state,
    } = *dims;
    let chunk = chunk_for(state);
    let nchunks = len.div_ceil(chunk);
    let (plane, plane_ops) = plane_layout(client);
    let nplanes = channels.div_ceil(plane);
    let blc = batch * len * channels;
    let bls = batch * len * state;
    let ckpt = Buf::empty(client, batch * channels * nchunks * state);
    let du = Buf::empty(client, blc);
    let ddelta = Buf::empty(client, blc);
    let db_part = Buf::empty(client, nplanes * bls);
    let dc_part = Buf::empty(client, nplanes * bls);
    let da_part = Buf::empty(client, batch * channels * state);
    let dd_part = Buf::empty(client, batch * channels);
    let dbias_part = Buf::empty(client, batch * channels);
    let dh0 = Buf::empty(client, batch * channels * state);
    let cubes_x = channels.div_ceil(CUBE_UNITS as usize) as u32;
    // SAFETY: indices stay below the buffer lengths: reads use the clamped channel, and writes are
    // guarded by the channel test or, for the partial rows, by the partial buffer length.
    unsafe {
        scan_backward_kernel::launch_unchecked(
            client,
            CubeCount::Static(cubes_x, batch as u32, 1),
            CubeDim::new_1d(CUBE_UNITS),
            x.u.arg(),
            x.delta.arg(),
            x.a.arg(),
            x.b.arg(),
            x.c.arg(),
            x.d.arg(),
            x.delta_bias.arg(),
            x.h0.arg(),
            x.reset.arg(),
            dy.arg(),
            d_last.arg(),
            ckpt.arg(),
            du.arg(),
            ddelta.arg(),
            db_part.arg(),
            dc_part.arg(),
            da_part.arg(),
            dd_part.arg(),
            dbias_part.arg(),
            dh0.arg(),
            batch,
            len,
            channels,
            state,
            chunk,
            plane,
            plane_ops,
        )
    };
    DeviceGrads {
        du,
        ddelta,
        da: launch_sum(client, &da_part, channels * state, batch),
        db: launch_sum(client, &db_part, bls, nplanes),
        dc: launch_sum(client, &dc_part, bls, nplanes),
        dd: launch_sum(client, &dd_part, channels, batch),
        ddelta_bias: launch_sum(client, &dbias_part, channels, batch),
        dh0,
    }
}

/// Whether the scan has no work at all (the kernels are then not launched).
pub(crate) fn is_empty(dims: &ScanDims) -> bool {
    dims.batch == 0 || dims.channels == 0 || dims.len == 0
}

/// Runs the forward scan on the first GPU ([`gpu_client`]). Returns `(y, last_state)`, `y` `[batch, len,
/// channels]` and `last_state` `[batch, channels, state]`, same math and layouts as
/// `selective_scan::scan_forward`.
pub fn scan_forward_gpu(
    dims: &ScanDims,
    inputs: &ScanInputs,
) -> Result<(Vec<f32>, Vec<f32>), CubeScanError> {
    validate(dims, inputs)?;
    check_state(dims)?;
    let client = gpu_client()?;
    check_device(&client, dims)?;
    if is_empty(dims) {
        return Ok((
            vec![0.0; dims.batch * dims.len * dims.channels],
            vec![0.0; dims.batch * dims.channels * dims.state],
        ));
    }
    let x = DeviceInputs::upload(&client, dims, inputs);
    let (y, last) = forward_into_new(&client, dims, &x);
    Ok((y.read(&client)?, last.read(&client)?))
}

/// Runs the backward scan on the first GPU ([`gpu_client`]): gradients of every input given `dy` `[batch,
/// len, channels]` and optionally `d_last_state` `[batch, channels, state]`; same contract as
/// `selective_scan::scan_backward`.
pub fn scan_backward_gpu(
    dims: &ScanDims,
    inputs: &ScanInputs,
    dy: &[f32],
    d_last_state: Option<&[f32]>,
) -> Result<ScanGrads, CubeScanError> {
    validate_backward(dims, inputs, dy, d_last_state)?;
    check_state(dims)?;
    let client = gpu_client()?;
    check_device(&client, dims)?;
    let ScanDims {
        batch,
        len,
        channels,
        state,
    } = *dims;
    if is_empty(dims) {
        return Ok(ScanGrads {
            du: vec![0.0; batch * len * channels],
            ddelta: vec![0.0; batch * len * channels],
            da: vec![0.0; channels * state],
            db: vec![0.0; batch * len * state],
            dc: vec![0.0; batch * len * state],
            dd: vec![0.0; channels],
            ddelta_bias: vec![0.0; channels],
            dh0: vec![0.0; batch * channels * state],
        });
    }
    let x = DeviceInputs::upload(&client, dims, inputs);
    let dy = Buf::upload(&client, dy);
    let d_last = match d_last_state {
        Some(s) => Buf::upload(&client, s),
        None => Buf::zeros(&client, batch * channels * state),
    };
    let g = launch_backward(&client, dims, &x, &dy, &d_last);
    Ok(ScanGrads {
        du: g.du.read(&client)?,
        ddelta: g.ddelta.read(&client)?,
        da: g.da.read(&client)?,
        db: g.db.read(&client)?,
        dc: g.dc.read(&client)?,
        dd: g.dd.read(&client)?,
        ddelta_bias: g.ddelta_bias.read(&client)?,
        dh0: g.dh0.read(&client)?,
    })
}

/// Waits for every queued launch of `client`.
fn sync(client: &Client) -> Result<(), CubeScanError> {
    cubecl::future::block_on(client.sync()).map_err(|e| CubeScanError::Device(e.to_string()))
}

/// Times the GPU forward and backward (with `d_last_state`) on random inputs already on the device:
/// one warm-up launch each (compiles the kernels), then the mean over `reps` launches of the time from
/// queueing to completion. Returns `(fwd_ms, bwd_ms)`; uploads and read-backs are not timed, the
/// backward time includes its partial-sum kernels.
pub fn bench_gpu(dims: &ScanDims, reps: usize) -> Result<(f64, f64), CubeScanError> {
    check_state(dims)?;
    let client = gpu_client()?;
    check_device(&client, dims)?;
    if is_empty(dims) {
        return Ok((0.0, 0.0));
    }
    let data = ScanData::random(dims, 7);
    let x = DeviceInputs::upload(&client, dims, &data.inputs());
    let dy = Buf::upload(&client, &ScanData::random(dims, 8).u);
    let d_last_host: Vec<f32> = (0..dims.batch * dims.channels * dims.state)
        .map(|i| ((i % 7) as f32 - 3.0) * 0.1)
        .collect();
    let d_last = Buf::upload(&client, &d_last_host);
    let reps = reps.max(1);
    let time = |run: &dyn Fn()| -> Result<f64, CubeScanError> {
        run();
        sync(&client)?;
        let start = Instant::now();
        for _ in 0..reps {
            run();
        }
        sync(&client)?;
        Ok(start.elapsed().as_secs_f64() * 1e3 / reps as f64)
    };
    let fwd_ms = time(&|| {
        forward_into_new(&client, dims, &x);
    })?;
    let bwd_ms = time(&|| {
        launch_backward(&client, dims, &x, &dy, &d_last);
    })?;
    Ok((fwd_ms, bwd_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cube::MAX_STATE;

    #[test]
    fn chunk_keeps_recompute_buffer_small() {
        assert_eq!(chunk_for(8), 64);
        assert_eq!(chunk_for(16), 32);
        assert_eq!(chunk_for(32), 16);
        for state in 1..=MAX_STATE {
            let chunk = chunk_for(state);
            assert!(chunk >= 1);
            assert!(
                (chunk + 1) * state <= RECOMPUTE_FLOATS + MAX_STATE,
                "{state}"
            );
        }
    }
}
