//! locomamba patch (not in upstream rapier 0.36.1): the solves `M⁻¹·e_k` of the unit vectors of
//! a factorization's joint dofs, in one pass.
//!
//! A joint axis's limit, motor and friction rows have a unit jacobian, and upstream solves
//! `M⁻¹·e_k` for each with `LU::solve_mut`: a chain of dependent operations per solve (each
//! substitution step waits for the one before), about 6% of the simulator for a quadruped's 12
//! motors. Here the unit vectors of every dof after the root's are solved together, 16 at a time
//! in the lanes of one register, so the chains run side by side. Every lane goes through
//! `LU::solve_mut`'s operations in its order (the row swaps; `b[j] = (-(b[i] / 1))·L[j,i] + b[j]`;
//! `b[i] = b[i] / U[i,i]`, `b[j] = (-b[i])·U[j,i] + b[j]`), so each column is that solve's result
//! bit for bit. `Multibody::set_upstream_reference` solves row by row instead, and
//! `tests/sim/determinism.rs` compares the two.

use crate::alloc_prelude::*;
use crate::math::Real;
use na::{DMatrix, DVector, Dyn, LU};

/// How many unit vectors one pass solves side by side (one AVX-512 register of `f32`).
const LANES: usize = 16;

/// `out` <- `M⁻¹·e_k` for `k` in `first..n` (column `k - first`; what `lu.solve_mut` leaves in
/// `e_k`), for an `n x n` factorization. `false`, and `out` left unusable, where a pivot is zero
/// (upstream's solve stops early there, with a partial result).
pub(crate) fn unit_solves(lu: &LU<Real, Dyn, Dyn>, first: usize, out: &mut DMatrix<Real>) -> bool {
    let packed = lu.lu_internal();
    let n = packed.nrows();
    if n == 0 || first >= n || packed.ncols() != n || (0..n).any(|i| packed[(i, i)] == 0.0) {
        return false;
    }
    let count = n - first;
    if out.nrows() != n || out.ncols() != count {
        *out = DMatrix::zeros(n, count);
    }
    // Where each row of a vector ends up after the factorization's row swaps.
    let mut origin = DVector::from_fn(n, |i, _| i as Real);
    lu.p().permute_rows(&mut origin);
    let lu = packed.as_slice();
    let mut rows = vec![[0.0 as Real; LANES]; n];
    for c0 in (first..n).step_by(LANES) {
        let width = LANES.min(n - c0);
        // Rows of the unit vectors e_{c0..c0 + width}, swapped as `permute_rows` swaps them.
        for (row, &from) in rows.iter_mut().zip(origin.iter()) {
            *row = [0.0; LANES];
            let k = from as usize;
            if (c0..c0 + width).contains(&k) {
                row[k - c0] = 1.0;
            }
        }
        // Forward substitution with L's unit diagonal (`solve_lower_triangular_with_diag_mut`
        // divides by it, exactly), then back substitution with U from the last row up.
        for i in 0..n - 1 {
            let coeff = rows[i].map(|v| v / 1.0);
            for j in i + 1..n {
                let x = lu[i * n + j];
                for (y, c) in rows[j].iter_mut().zip(coeff) {
                    *y = -c * x + *y;
                }
            }
        }
        for i in (0..n).rev() {
            let diag = lu[i * n + i];
            let coeff = rows[i].map(|v| v / diag);
            rows[i] = coeff;
            for j in 0..i {
                let x = lu[i * n + j];
                for (y, c) in rows[j].iter_mut().zip(coeff) {
                    *y = -c * x + *y;
                }
            }
        }
        for (c, col) in out
            .as_mut_slice()
            .chunks_exact_mut(n)
            .skip(c0 - first)
            .take(width)
            .enumerate()
        {
            for (v, row) in col.iter_mut().zip(&rows) {
                *v = row[c];
            }
        }
    }
    true
}
