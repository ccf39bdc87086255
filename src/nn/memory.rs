//! The recurrent state of a fusion stack across control steps, one row per sequence (env), kept
//! as host values: the one place where a state is made, reset at an episode start, gathered for
//! training segments, and stored in rollouts and checkpoints.
//!
//! What the buffers hold depends on the stack (see [`Fusion::zero_memory`](super::Fusion)):
//! - Mamba: per block, the causal convolution's last inputs `[conv_history, d_inner]` and the SSM
//!   state `[d_inner, d_state]`;
//! - Transformer: per layer, the layer's inputs over the last `context_steps - 1` control steps
//!   `[(context_steps - 1) x tokens, d_model]`, oldest first, then one buffer of flags
//!   `[context_steps - 1]` saying which of those steps hold a step of the current episode (1) or
//!   nothing (0); no buffers at all when `context_steps` is 1 (a step sees only itself).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// One piece of recurrent state for every sequence: `values` `[batch, shape...]`, row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryBuffer {
    /// The shape of one sequence's part.
    pub shape: Vec<usize>,
    /// `batch x product(shape)` values.
    pub values: Vec<f32>,
}

impl MemoryBuffer {
    /// Zeros for `batch` sequences.
    pub fn zeros(batch: usize, shape: Vec<usize>) -> Self {
        let n = batch * shape.iter().product::<usize>();
        Self {
            shape,
            values: vec![0.0; n],
        }
    }

    /// Values per sequence.
    pub fn row_len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The recurrent state of one fusion stack for `batch` sequences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Sequences (envs).
    pub batch: usize,
    /// The pieces of state, in the stack's order.
    pub buffers: Vec<MemoryBuffer>,
}

impl Memory {
    /// A zero state of buffers of these per-sequence shapes for `batch` sequences.
    pub fn zeros(batch: usize, shapes: Vec<Vec<usize>>) -> Self {
        Self {
            batch,
            buffers: shapes
                .into_iter()
                .map(|s| MemoryBuffer::zeros(batch, s))
                .collect(),
        }
    }

    /// Zeroes the state of every sequence whose flag is set (an episode starts there: nothing
    /// before it is remembered).
    ///
    /// # Panics
    /// If `rows` does not have one flag per sequence.
    pub fn reset_rows(&mut self, rows: &[bool]) {
        assert_eq!(rows.len(), self.batch, "one reset flag per sequence");
        for buffer in &mut self.buffers {
            let n = buffer.row_len();
            for (row, &reset) in buffer.values.chunks_exact_mut(n.max(1)).zip(rows) {
                if reset {
                    row.fill(0.0);
                }
            }
        }
    }

    /// The states of sequences `rows`, in that order.
    pub fn gather(&self, rows: &[usize]) -> Memory {
        Memory {
            batch: rows.len(),
            buffers: self
                .buffers
                .iter()
                .map(|b| {
                    let n = b.row_len();
                    let mut values = Vec::with_capacity(rows.len() * n);
                    for &r in rows {
                        values.extend_from_slice(&b.values[r * n..(r + 1) * n]);
                    }
                    MemoryBuffer {
                        shape: b.shape.clone(),
                        values,
                    }
                })
                .collect(),
        }
    }

    /// Buffer `i` as a `[batch, shape[0], shape[1]]` tensor on `device`.
    ///
    /// # Panics
    /// If the buffer's rows are not 2-D.
    pub fn tensor3(&self, i: usize, device: &Device) -> Tensor<3> {
        let b = &self.buffers[i];
        let [r, c] = b.shape[..] else {
            panic!(
                "memory buffer {i} has shape {:?}, expected 2-D rows",
                b.shape
            )
        };
        Tensor::from_data(
            TensorData::new(b.values.clone(), [self.batch, r, c]),
            device,
        )
    }

    /// The rows of several memories of the same stack, one after the other.
    ///
    /// # Panics
    /// If `parts` is empty or their buffers differ in shape.
    pub fn stack(parts: &[Memory]) -> Memory {
        let first = parts.first().expect("at least one memory");
        Memory {
            batch: parts.iter().map(|p| p.batch).sum(),
            buffers: (0..first.buffers.len())
                .map(|i| MemoryBuffer {
                    shape: first.buffers[i].shape.clone(),
                    values: parts
                        .iter()
                        .flat_map(|p| {
                            assert_eq!(p.buffers[i].shape, first.buffers[i].shape);
                            p.buffers[i].values.iter().copied()
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Floats of state per sequence.
    pub fn row_len(&self) -> usize {
        self.buffers.iter().map(MemoryBuffer::row_len).sum()
    }
}

/// The host values of a tensor (detached).
pub(crate) fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 values")
}

/// The recurrent states of an actor-critic's two fusion stacks, one row per env.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchMemories {
    /// The policy branch's.
    pub policy: Memory,
    /// The value branch's.
    pub value: Memory,
}

impl BranchMemories {
    /// Zeroes both states of every env whose flag is set.
    pub fn reset_rows(&mut self, rows: &[bool]) {
        self.policy.reset_rows(rows);
        self.value.reset_rows(rows);
    }

    /// Both states of envs `rows`, in that order.
    pub fn gather(&self, rows: &[usize]) -> BranchMemories {
        BranchMemories {
            policy: self.policy.gather(rows),
            value: self.value.gather(rows),
        }
    }

    /// The rows of several, one after the other (see [`Memory::stack`]).
    pub fn stack(parts: &[BranchMemories]) -> BranchMemories {
        let (policy, value): (Vec<Memory>, Vec<Memory>) = parts
            .iter()
            .map(|p| (p.policy.clone(), p.value.clone()))
            .unzip();
        BranchMemories {
            policy: Memory::stack(&policy),
            value: Memory::stack(&value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting(batch: usize) -> Memory {
        let mut m = Memory::zeros(batch, vec![vec![2, 3], vec![4]]);
        for b in &mut m.buffers {
            for (i, v) in b.values.iter_mut().enumerate() {
                *v = i as f32 + 1.0;
            }
        }
        m
    }

    #[test]
    fn reset_zeroes_only_the_flagged_rows() {
        let mut m = counting(3);
        m.reset_rows(&[false, true, false]);
        assert_eq!(&m.buffers[0].values[0..6], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(m.buffers[0].values[6..12].iter().all(|&v| v == 0.0));
        assert_eq!(m.buffers[0].values[12], 13.0);
        assert!(m.buffers[1].values[4..8].iter().all(|&v| v == 0.0));
        assert_eq!(m.buffers[1].values[8], 9.0);
    }

    #[test]
    fn gather_takes_rows_in_order() {
        let m = counting(3).gather(&[2, 0]);
        assert_eq!(m.batch, 2);
        assert_eq!(
            m.buffers[1].values,
            vec![9.0, 10.0, 11.0, 12.0, 1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(m.row_len(), 10);
    }
}
