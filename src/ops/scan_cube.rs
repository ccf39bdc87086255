//! The CubeCL selective scan on burn's CubeCL tensors, device-resident: no upload or read-back,
//! the kernels read the tensors' buffers and write new ones. This is the CubeCL backend's
//! implementation of [`super::scan::SelectiveScanOps`], so the Mamba block runs these
//! kernels whenever its tensors live on a GPU (CUDA or wgpu), in training (autodiff calls the backward) and
//! in inference.
//!
//! Inputs are made contiguous first; the kernels compute in f32.

use burn::backend::Cube;
use burn::backend::TensorMetadata;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, Shape};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;

use super::scan::{SCAN_INPUTS, ScanTensors, SelectiveScanOps, is_stateless, scan_dims};
use crate::kernels::cube::client::{check_device, check_state};
use crate::kernels::cube::host::{Buf, DeviceInputs, is_empty, launch_backward, launch_forward};
use crate::kernels::selective_scan::ScanDims;

/// A contiguous f32 tensor's buffer as a kernel argument.
fn buffer(t: &CubeTensor) -> Buf {
    Buf {
        handle: t.handle.clone(),
        len: t.shape().num_elements(),
    }
}

/// Makes `t` contiguous and checks it is f32 (the kernels' element type).
fn prepared(t: CubeTensor, what: &str) -> CubeTensor {
    assert!(
        t.dtype == DType::F32,
        "selective scan (GPU): `{what}` is {:?}; the kernels compute in f32",
        t.dtype
    );
    into_contiguous(t)
}

/// The nine inputs, contiguous, with their scan sizes; panics with the kernels' message when the
/// state size or the device does not suit them.
fn prepare(x: ScanTensors<Cube>) -> ([CubeTensor; SCAN_INPUTS], ScanDims) {
    let names = [
        "u",
        "delta",
        "a",
        "b",
        "c",
        "d",
        "delta_bias",
        "h0",
        "reset",
    ];
    let mut k = 0;
    let inputs = x.into_array().map(|t| {
        let t = prepared(t, names[k]);
        k += 1;
        t
    });
    let dims = scan_dims(&inputs[0].shape(), &inputs[2].shape());
    if let Err(e) = check_state(&dims).and_then(|()| check_device(&inputs[0].client, &dims)) {
        panic!("{e}");
    }
    (inputs, dims)
}

fn device_inputs(x: &[CubeTensor; SCAN_INPUTS]) -> DeviceInputs {
    DeviceInputs {
        u: buffer(&x[0]),
        delta: buffer(&x[1]),
        a: buffer(&x[2]),
        b: buffer(&x[3]),
        c: buffer(&x[4]),
        d: buffer(&x[5]),
        delta_bias: buffer(&x[6]),
        h0: buffer(&x[7]),
        reset: buffer(&x[8]),
    }
}

/// The byte range `[start, start + len)` floats of `buf`.
fn sub_buffer(buf: &Buf, start: usize, len: usize) -> Buf {
    let f = size_of::<f32>() as u64;
    let tail = (buf.len - start - len) as u64 * f;
    Buf {
        handle: buf
            .handle
            .clone()
            .offset_start(start as u64 * f)
            .offset_end(tail),
        len,
    }
}

/// A new contiguous f32 tensor on `like`'s device from a kernel output buffer.
fn tensor(like: &CubeTensor, buf: Buf, shape: Shape) -> CubeTensor {
    CubeTensor::new_contiguous(
        like.client.clone(),
        like.device.clone(),
        shape,
        buf.handle,
        DType::F32,
    )
}

/// The kernels' inputs, with a zero initial state for a scan without state.
fn device_inputs_of(x: &[CubeTensor; SCAN_INPUTS], dims: &ScanDims) -> DeviceInputs {
    let mut inputs = device_inputs(x);
    if is_stateless(&x[7].shape()) {
        inputs.h0 = Buf::zeros(&x[0].client, state_len(dims));
    }
    inputs
}

/// Values of a state `[B, C, N]`.
fn state_len(dims: &ScanDims) -> usize {
    dims.batch * dims.channels * dims.state
}

/// Forward: `y` then the last state, packed (see [`SelectiveScanOps::selective_scan_packed`]);
/// `y` alone for a scan without state (its last state goes to a scratch buffer: the kernels
/// always write one).
pub fn forward_packed(inputs: ScanTensors<Cube>) -> CubeTensor {
    let (x, dims) = prepare(inputs);
    let client = &x[0].client;
    let blc = dims.batch * dims.len * dims.channels;
    if is_stateless(&x[7].shape()) {
        if is_empty(&dims) {
            return tensor(&x[0], Buf::zeros(client, blc), Shape::new([blc]));
        }
        let y = Buf::empty(client, blc);
        let scratch = Buf::empty(client, state_len(&dims));
        launch_forward(client, &dims, &device_inputs_of(&x, &dims), &y, &scratch);
        return tensor(&x[0], y, Shape::new([blc]));
    }
    let n = dims.packed_len();
    if is_empty(&dims) {
        return tensor(&x[0], Buf::zeros(client, n), Shape::new([n]));
    }
    let packed = Buf::empty(client, n);
    let blc = dims.batch * dims.len * dims.channels;
    let y = sub_buffer(&packed, 0, blc);
    let last = sub_buffer(&packed, dims.last_offset(), n - dims.last_offset());
    launch_forward(client, &dims, &device_inputs(&x), &y, &last);
    tensor(&x[0], packed, Shape::new([n]))
}

/// Backward: gradients of the nine inputs given the packed output's gradient (zeros for
/// `reset`).
pub fn backward_packed(inputs: ScanTensors<Cube>, grad: CubeTensor) -> ScanTensors<Cube> {
    let (x, dims) = prepare(inputs);
    let shapes = x.each_ref().map(|t| t.shape());
    let client = &x[0].client;
    let grad = prepared(grad, "packed gradient");
    let blc = dims.batch * dims.len * dims.channels;
    let stateless = is_stateless(&shapes[7]);
    let g = if is_empty(&dims) {
        let zeros = |s: &Shape| Buf::zeros(client, s.num_elements());
        let [su, sdelta, sa, sb, sc, sd, sbias, sh0, _] = &shapes;
        crate::kernels::cube::host::DeviceGrads {
            du: zeros(su),
            ddelta: zeros(sdelta),
            da: zeros(sa),
            db: zeros(sb),
            dc: zeros(sc),
            dd: zeros(sd),
            ddelta_bias: zeros(sbias),
            dh0: zeros(sh0),
        }
    } else if stateless {
        let d_last = Buf::zeros(client, state_len(&dims));
        launch_backward(
            client,
            &dims,
            &device_inputs_of(&x, &dims),
            &buffer(&grad),
            &d_last,
        )
    } else {
        let packed = buffer(&grad);
        let dy = sub_buffer(&packed, 0, blc);
        let d_last = sub_buffer(&packed, dims.last_offset(), packed.len - dims.last_offset());
        launch_backward(client, &dims, &device_inputs(&x), &dy, &d_last)
    };
    let [su, sdelta, sa, sb, sc, sd, sbias, sh0, sreset] = shapes;
    let like = &x[0];
    let dreset = Buf::zeros(client, sreset.num_elements());
    ScanTensors {
        u: tensor(like, g.du, su),
        delta: tensor(like, g.ddelta, sdelta),
        a: tensor(like, g.da, sa),
        b: tensor(like, g.db, sb),
        c: tensor(like, g.dc, sc),
        d: tensor(like, g.dd, sd),
        delta_bias: tensor(like, g.ddelta_bias, sbias),
        h0: tensor(like, g.dh0, sh0),
        reset: tensor(like, dreset, sreset),
    }
}

impl SelectiveScanOps for Cube {
    fn selective_scan_packed(x: ScanTensors<Self>) -> FloatTensor<Self> {
        forward_packed(x)
    }

    fn selective_scan_packed_backward(
        x: ScanTensors<Self>,
        grad: FloatTensor<Self>,
    ) -> ScanTensors<Self> {
        backward_packed(x, grad)
    }
}
