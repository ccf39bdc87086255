//! A run's acting memory (the recurrent state of both fusion stacks for every env, with
//! `[memory]` on) as `memory.safetensors` beside a checkpoint's weights, so a resumed run
//! continues its episodes exactly as the uninterrupted run would.

use std::collections::BTreeMap;

use safetensors::tensor::{Dtype, TensorView};

use crate::nn::memory::MemoryBuffer;
use crate::nn::{BranchMemories, Memory};

/// Tensor names: `policy.<i>` and `value.<i>`, each `[envs, shape...]`; the env count is also
/// in the header's metadata (`envs`), for a memory without buffers (a Transformer without
/// context).
fn name(branch: &str, i: usize) -> String {
    format!("{branch}.{i}")
}

/// The memories as safetensors bytes.
pub fn to_safetensors(m: &BranchMemories) -> Vec<u8> {
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (branch, memory) in [("policy", &m.policy), ("value", &m.value)] {
        for (i, b) in memory.buffers.iter().enumerate() {
            let mut shape = vec![memory.batch];
            shape.extend(&b.shape);
            let bytes = b.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            owned.push((name(branch, i), shape, bytes));
        }
    }
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, shape, bytes)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), bytes).expect("shape matches");
            (n.clone(), view)
        })
        .collect();
    let info = [("envs".to_string(), m.policy.batch.to_string())].into();
    safetensors::serialize(views, Some(info)).expect("memory tensors serialise")
}

/// The memories back from [`to_safetensors`]' bytes.
pub fn from_safetensors(bytes: &[u8]) -> Result<BranchMemories, String> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let envs = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("envs"))
        .and_then(|v| v.parse::<usize>().ok());
    let mut found: BTreeMap<(String, usize), (Vec<usize>, Vec<f32>)> = BTreeMap::new();
    for (n, view) in st.tensors() {
        let parsed = n
            .split_once('.')
            .and_then(|(branch, i)| Some((branch.to_string(), i.parse::<usize>().ok()?)));
        let Some(key) = parsed.filter(|(b, _)| b == "policy" || b == "value") else {
            return Err(format!("unexpected tensor {n}"));
        };
        if view.dtype() != Dtype::F32 || view.shape().is_empty() {
            return Err(format!("tensor {n} is not an f32 [envs, ...] tensor"));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        found.insert(key, (view.shape().to_vec(), values));
    }
    let branch = |which: &str| -> Result<Memory, String> {
        let parts: Vec<_> = found.iter().filter(|((b, _), _)| b == which).collect();
        let mut buffers = Vec::new();
        let mut batch = None;
        for (k, ((_, i), (shape, values))) in parts.into_iter().enumerate() {
            if *i != k {
                return Err(format!("{which}.{k} is missing"));
            }
            if batch.is_some_and(|b| b != shape[0]) {
                return Err(format!("{which}.{i} has {} envs, not {batch:?}", shape[0]));
            }
            batch = Some(shape[0]);
            buffers.push(MemoryBuffer {
                shape: shape[1..].to_vec(),
                values: values.clone(),
            });
        }
        Ok(Memory {
            batch: batch.or(envs).ok_or_else(|| format!("no {which} memory"))?,
            buffers,
        })
    };
    Ok(BranchMemories {
        policy: branch("policy")?,
        value: branch("value")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memories_round_trip() {
        let mut policy = Memory::zeros(3, vec![vec![2, 4], vec![5]]);
        policy.buffers[0].values[7] = 1.5;
        let mut value = Memory::zeros(3, vec![vec![1, 2]]);
        value.buffers[0].values[5] = -2.0;
        let m = BranchMemories { policy, value };
        assert_eq!(from_safetensors(&to_safetensors(&m)).unwrap(), m);
        let empty = BranchMemories {
            policy: Memory::zeros(4, Vec::new()),
            value: Memory::zeros(4, Vec::new()),
        };
        assert_eq!(from_safetensors(&to_safetensors(&empty)).unwrap(), empty);
        assert!(from_safetensors(b"nonsense").is_err());
    }
}
