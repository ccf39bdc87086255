use super::oracle::softplus;
use super::*;

#[test]
fn plan_covers_all_work_once() {
    for &(batch, channels) in &[(1, 1), (1, 512), (3, 7), (8, 512), (1024, 512), (65, 33)] {
        let dims = ScanDims {
            batch,
            len: 3,
            channels,
            state: 4,
        };
        let plan = Plan::new(&dims);
        let mut seen = vec![0u32; batch * channels];
        for task in 0..plan.nchunks * plan.nblocks {
            let (br, kr) = plan.ranges(&dims, task);
            for b in br {
                for k in kr.clone() {
                    seen[b * channels + k] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&n| n == 1), "{dims:?} {plan:?}");
    }
}

#[test]
fn softplus_matches_definition() {
    for &z in &[-30.0f32, -2.0, 0.0, 0.5, 19.0, 25.0] {
        let sp = (z as f64).exp().ln_1p();
        assert!(
            (softplus(z) as f64 - sp).abs() <= 1e-6 * sp.max(1e-30),
            "{z}"
        );
    }
}
