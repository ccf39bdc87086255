//! The selective scan's contract: wrong slice lengths are named (and panic where the caller broke
//! it), and empty sequences give the zero state and zero gradients.

use locomamba::kernels::selective_scan::{
    ScanData, ScanError, scan_backward, scan_forward, validate,
};

use super::selective_scan::{dims, run_forward};

#[test]
fn validate_names_the_wrong_argument() {
    let dm = dims(2, 3, 4, 8);
    let data = ScanData::random(&dm, 1);
    let mut x = data.inputs();
    assert_eq!(validate(&dm, &x), Ok(()));
    x.delta = &data.delta[1..];
    let err = validate(&dm, &x).unwrap_err();
    assert_eq!(
        err,
        ScanError::WrongLength {
            name: "delta",
            expected: 24,
            got: 23,
            shape: "[batch, len, channels]",
        }
    );
    assert_eq!(
        err.to_string(),
        "selective scan: `delta` has 23 elements, expected 24 ([batch, len, channels])"
    );
}

#[test]
#[should_panic(expected = "scan_forward: selective scan: `a` has 31 elements, expected 32")]
fn forward_panics_on_wrong_a() {
    let dm = dims(2, 3, 4, 8);
    let data = ScanData::random(&dm, 1);
    let mut x = data.inputs();
    x.a = &data.a[..31];
    run_forward(&dm, &x, false);
}

#[test]
#[should_panic(
    expected = "scan_forward: selective scan: `last_state` has 63 elements, expected 64"
)]
fn forward_panics_on_wrong_last_state() {
    let dm = dims(2, 3, 4, 8);
    let data = ScanData::random(&dm, 1);
    let mut y = vec![0.0; 24];
    let mut last = vec![0.0; 63];
    scan_forward(&dm, &data.inputs(), &mut y, &mut last);
}

#[test]
#[should_panic(
    expected = "scan_backward: selective scan: `d_last_state` has 1 elements, expected 64"
)]
fn backward_panics_on_wrong_d_last_state() {
    let dm = dims(2, 3, 4, 8);
    let data = ScanData::random(&dm, 1);
    scan_backward(&dm, &data.inputs(), &data.u, Some(&[0.0]));
}

#[test]
#[should_panic(expected = "scan_backward: selective scan: `dy` has 23 elements, expected 24")]
fn backward_panics_on_wrong_dy() {
    let dm = dims(2, 3, 4, 8);
    let data = ScanData::random(&dm, 1);
    scan_backward(&dm, &data.inputs(), &data.u[1..], None);
}

#[test]
fn empty_sequences_give_zero_state_and_gradients() {
    let dm = dims(2, 0, 3, 4);
    let data = ScanData::random(&dm, 1);
    let (y, last) = run_forward(&dm, &data.inputs(), false);
    assert!(y.is_empty());
    // With no steps the final state is the initial zero state (the buffers start as NaN).
    let (_, last_naive) = run_forward(&dm, &data.inputs(), true);
    assert_eq!(last_naive, vec![0.0; 24]);
    assert_eq!(last, last_naive);
    let dlast = vec![1.0f32; 24];
    let g = scan_backward(&dm, &data.inputs(), &[], Some(&dlast));
    assert!(g.da.iter().all(|&v| v == 0.0) && g.dd.iter().all(|&v| v == 0.0));
}
