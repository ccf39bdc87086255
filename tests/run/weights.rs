//! Weights round-trip through safetensors by module path; mismatches are named.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use locomamba::run::weights;

#[derive(Module, Debug)]
struct Net {
    first: Linear,
    second: Linear,
}

fn device() -> Device {
    burn::backend::FlexDevice.into()
}

fn net(out: usize) -> Net {
    let d = device();
    Net {
        first: LinearConfig::new(3, 4).init(&d),
        second: LinearConfig::new(4, out).init(&d),
    }
}

fn forward(n: &Net) -> Vec<f32> {
    let x = Tensor::<2>::from_data([[0.5f32, -1.0, 2.0]], &device());
    n.second
        .forward(n.first.forward(x))
        .into_data()
        .convert::<f32>()
        .as_slice::<f32>()
        .unwrap()
        .to_vec()
}

#[test]
fn round_trip_restores_outputs_and_names_tensors_by_path() {
    let a = net(2);
    let names: Vec<String> = weights::named_tensors(&a)
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    assert!(
        names.contains(&"first.weight".to_string()) && names.contains(&"second.bias".to_string()),
        "{names:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    weights::save(&a, &path).unwrap();
    let b = weights::load(net(2), &path).unwrap();
    assert_ne!(
        forward(&net(2)),
        forward(&a),
        "fresh nets differ (random init)"
    );
    assert_eq!(forward(&b), forward(&a));
    assert_eq!(
        b.first.weight.id, a.first.weight.id,
        "parameter ids are restored"
    );
    assert_eq!(
        b.second.bias.as_ref().unwrap().id,
        a.second.bias.as_ref().unwrap().id
    );
}

#[test]
fn shape_mismatch_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    weights::save(&net(2), &path).unwrap();
    let err = weights::load(net(5), &path).unwrap_err().to_string();
    assert!(
        err.contains("w.safetensors") && err.contains("second.weight") && err.contains("shape"),
        "{err}"
    );
}
