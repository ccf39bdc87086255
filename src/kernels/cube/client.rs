//! Clients on any CubeCL runtime this build links (CUDA, wgpu), and the checks that a device and
//! a problem suit the scan kernels.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::cubecl;
use cubecl::prelude::*;

use super::host::CUBE_UNITS;
use super::{CubeScanError, MAX_STATE};
use crate::kernels::selective_scan::ScanDims;

/// The plane emulated in shared memory where the device has no plane operations.
const EMULATED_PLANE: usize = 32;
/// Buffers bound by the backward kernel.
const BACKWARD_BINDINGS: u32 = 20;

/// A client of `device`, or why none could be made (not linked, no driver, no device, a panic
/// while the runtime starts).
fn client_of(
    what: &str,
    device: impl FnOnce() -> Result<cubecl::Device, cubecl::device::DeviceUnavailable>,
) -> Result<Client, CubeScanError> {
    let made = catch_unwind(AssertUnwindSafe(|| device().map(|device| device.client())));
    match made {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(CubeScanError::NoDevice(format!("{what}: {e}"))),
        Err(panic) => Err(CubeScanError::NoDevice(format!(
            "{what}: {}",
            panic_message(panic.as_ref())
        ))),
    }
}

/// A client of CUDA device 0 (the `cuda` feature), or why none could be made.
pub fn cuda_client() -> Result<Client, CubeScanError> {
    client_of("CUDA", || cubecl::Device::cuda(0))
}

/// A client of the default wgpu adapter (the `wgpu` feature: Vulkan, Metal or DirectX 12, a
/// software Vulkan device such as lavapipe included), or why none could be made.
pub fn wgpu_client() -> Result<Client, CubeScanError> {
    client_of("wgpu", || {
        cubecl::Device::wgpu(cubecl::device::WgpuDeviceKind::default())
    })
}

/// A client of the first GPU this build reaches: CUDA device 0, else the default wgpu adapter;
/// or every reason why not.
pub fn gpu_client() -> Result<Client, CubeScanError> {
    let mut reasons = Vec::new();
    for make in [cuda_client, wgpu_client] {
        match make() {
            Ok(client) => return Ok(client),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    Err(CubeScanError::NoDevice(reasons.join("; ")))
}

/// The text of a caught panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the GPU runtime panicked while starting".to_string()
    }
}

/// Checks that the kernels support `dims.state`.
pub(crate) fn check_state(dims: &ScanDims) -> Result<(), CubeScanError> {
    if dims.state == 0 || dims.state > MAX_STATE {
        return Err(CubeScanError::UnsupportedState(dims.state));
    }
    Ok(())
}

/// The plane (warp, subgroup) width the backward's partial `db`/`dc` rows are laid out for, and
/// whether the device has plane operations: its own plane size, or [`EMULATED_PLANE`] units summed
/// through shared memory where the runtime offers no plane operations (cubecl turns them off on
/// CPU-type adapters such as lavapipe).
pub(crate) fn plane_layout(client: &Client) -> (usize, bool) {
    let props = client.properties();
    if props
        .features
        .plane
        .contains(cubecl::ir::features::Plane::Ops)
    {
        (props.hardware.plane_size_max as usize, true)
    } else {
        (EMULATED_PLANE, false)
    }
}

/// Checks that the device suits the kernels' layout and grid: a fixed plane size that divides the
/// cube, enough bindings, a grid within its limits.
pub(crate) fn check_device(client: &Client, dims: &ScanDims) -> Result<(), CubeScanError> {
    let hw = &client.properties().hardware;
    let plane = hw.plane_size_max;
    if plane_layout(client).1
        && (hw.plane_size_min != plane || plane == 0 || !CUBE_UNITS.is_multiple_of(plane))
    {
        return Err(CubeScanError::Device(format!(
            "plane size {}..{}: the kernels need one fixed size dividing {CUBE_UNITS}",
            hw.plane_size_min, hw.plane_size_max
        )));
    }
    if hw.max_bindings < BACKWARD_BINDINGS {
        return Err(CubeScanError::Device(format!(
            "{} bindings per kernel, {BACKWARD_BINDINGS} needed",
            hw.max_bindings
        )));
    }
    let cubes_x = dims.channels.div_ceil(CUBE_UNITS as usize);
    let (max_x, max_y, _) = hw.max_cube_count;
    if cubes_x > max_x as usize || dims.batch > max_y as usize {
        return Err(CubeScanError::Device(format!(
            "grid {cubes_x} x {} exceeds the device's {max_x} x {max_y}",
            dims.batch
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_payloads_become_messages() {
        let text = catch_unwind(|| panic!("no driver")).unwrap_err();
        assert_eq!(panic_message(text.as_ref()), "no driver");
        let owned = catch_unwind(|| panic!("{} {}", "code", 100)).unwrap_err();
        assert_eq!(panic_message(owned.as_ref()), "code 100");
        let other = catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(
            panic_message(other.as_ref()),
            "the GPU runtime panicked while starting"
        );
    }

    #[test]
    fn state_limits() {
        let dims = |state| ScanDims {
            batch: 1,
            len: 1,
            channels: 1,
            state,
        };
        assert_eq!(
            check_state(&dims(0)),
            Err(CubeScanError::UnsupportedState(0))
        );
        assert_eq!(check_state(&dims(1)), Ok(()));
        assert_eq!(check_state(&dims(MAX_STATE)), Ok(()));
        assert_eq!(
            check_state(&dims(MAX_STATE + 1)),
            Err(CubeScanError::UnsupportedState(MAX_STATE + 1))
        );
    }
}
