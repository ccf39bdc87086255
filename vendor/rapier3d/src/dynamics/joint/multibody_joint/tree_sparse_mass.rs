//! locomamba patch (not in upstream rapier 0.36.1): the augmented mass matrix's per-link products
//! restricted to the generalized coordinates a link's body jacobian can depend on.
//!
//! A link's body jacobian is non-zero only in the columns of its own joint and its ancestors'
//! joints (its "support"), and so are the columns of its coriolis terms. Upstream forms
//! `Jᵀ·M·J`, `Jᵀ·(I·C·dt)` and the coriolis products over all `ndofs` columns of every link; for a
//! quadruped (a 6-dof floating base and four 3-dof legs, 18 dofs) a foot's support is 9 columns
//! and the trunk's 6, so most of those products are sums of zeros.
//!
//! Here the coriolis products run over the support's column ranges only, and the two mass-matrix
//! products gather the support columns, form the small product and add it into the full matrix.
//! For supports of up to [`LANES`] columns (all of a quadruped's) the product is written out with
//! the operations of the nalgebra routines upstream calls (`quadform_with_workspace`, `gemm_tr`)
//! in their order (see `add_block_from_rows`), a row of entries at a time: calling nalgebra on
//! views of the compact buffers spent most of the products' time in its generic dynamic-size
//! loops. Longer supports call those routines on the views. Either way every entry is the same
//! dot product over the same rows in the same order as upstream's, so the result is bit-for-bit
//! upstream's; the entries outside support × support, to which upstream adds exact zeros, are
//! left as they are.

use crate::alloc_prelude::*;
use crate::math::{Jacobian, JacobianView, Real, SPATIAL_DIM};
use na::{DMatrix, DMatrixViewMut, SMatrix, SVector};

use super::multibody_link::MultibodyLinkVec;

/// Per link, the generalized coordinates its body jacobian depends on (its joint's and its
/// ancestors'), as a list and as contiguous column ranges.
#[derive(Clone, Debug, Default)]
pub(crate) struct TreeSupport {
    /// All links' supports, concatenated.
    dofs: Vec<usize>,
    /// `dofs[dof_spans[i].0..dof_spans[i].1]` is link `i`'s support.
    dof_spans: Vec<(usize, usize)>,
    /// All links' supports as `(first column, count)` ranges, concatenated.
    ranges: Vec<(usize, usize)>,
    /// `ranges[range_spans[i].0..range_spans[i].1]` are link `i`'s ranges.
    range_spans: Vec<(usize, usize)>,
}

impl TreeSupport {
    /// Recomputes every link's support from the tree (links are stored parent first). With
    /// `dense`, every link's column range is all `ndofs` columns, upstream's products.
    pub(crate) fn rebuild(&mut self, links: &MultibodyLinkVec, ndofs: usize, dense: bool) {
        self.dofs.clear();
        self.dof_spans.clear();
        self.ranges.clear();
        self.range_spans.clear();
        for (i, link) in links.iter().enumerate() {
            let start = self.dofs.len();
            if i != 0 {
                let (ps, pe) = self.dof_spans[link.parent_internal_id];
                self.dofs.extend_from_within(ps..pe);
            }
            self.dofs
                .extend(link.assembly_id..link.assembly_id + link.joint.ndofs());
            self.dof_spans.push((start, self.dofs.len()));

            let range_start = self.ranges.len();
            if dense {
                self.ranges.push((0, ndofs));
            } else {
                for &d in &self.dofs[start..] {
                    let last = self
                        .ranges
                        .len()
                        .checked_sub(1)
                        .filter(|&l| l >= range_start);
                    match last {
                        Some(l) if self.ranges[l].0 + self.ranges[l].1 == d => {
                            self.ranges[l].1 += 1
                        }
                        _ => self.ranges.push((d, 1)),
                    }
                }
            }
            self.range_spans.push((range_start, self.ranges.len()));
        }
    }

    /// Link `i`'s support.
    pub(crate) fn support(&self, i: usize) -> &[usize] {
        let (s, e) = self.dof_spans[i];
        &self.dofs[s..e]
    }

    /// Link `i`'s support as `(first column, count)` ranges (with `dense`: all columns).
    pub(crate) fn column_ranges(&self, i: usize) -> &[(usize, usize)] {
        let (s, e) = self.range_spans[i];
        &self.ranges[s..e]
    }
}

/// One link's body jacobian restricted to its support, and the scratch of the compact products.
///
/// The operands live in flat column-major buffers that keep their capacity from link to link
/// (a support has 6 to 9 columns), viewed as matrices of the link's size: resizing owned
/// nalgebra matrices reallocated and copied them three times per link and physics step.
#[derive(Clone, Debug, Default)]
pub(crate) struct CompactProducts {
    /// The link's support (see [`TreeSupport::support`]).
    support: Vec<usize>,
    /// The link's body jacobian, its support columns only (`SPATIAL_DIM x support`; supports of
    /// more than [`LANES`] columns, which take nalgebra's routines).
    jacobian: Vec<Real>,
    /// The second operand's support columns (`gemm_tr`), `SPATIAL_DIM x support` (the same).
    rhs: Vec<Real>,
    /// The compact product, `support x support` (supports of more than [`LANES`] columns).
    block: Vec<Real>,
    /// The compact jacobian transposed, `SPATIAL_DIM` rows of the support's values (zero past
    /// them), when the support has at most [`LANES`] columns: the products then run on whole rows.
    rows: [Row; SPATIAL_DIM],
}

/// Support columns the row-wise products handle (a quadruped's longest support is 9); longer
/// supports take the column-by-column loops.
const LANES: usize = 12;

/// One row of [`LANES`] values.
type Row = [Real; LANES];

impl CompactProducts {
    /// Copies the `support` columns of `full` into `compact`, one after the other.
    fn gather(compact: &mut Vec<Real>, full: &Jacobian<Real>, support: &[usize]) {
        let columns = full.as_slice();
        compact.clear();
        for &d in support {
            compact.extend_from_slice(&columns[d * SPATIAL_DIM..(d + 1) * SPATIAL_DIM]);
        }
    }

    /// A `SPATIAL_DIM x support` buffer as a matrix.
    fn view(compact: &[Real]) -> JacobianView<'_, Real> {
        JacobianView::from_slice(compact, compact.len() / SPATIAL_DIM)
    }

    /// The block buffer as a `support x support` matrix.
    fn block_mut(block: &mut [Real], k: usize) -> DMatrixViewMut<'_, Real> {
        DMatrixViewMut::from_slice(block, k, k)
    }

    /// Adds `self.block`, the product over the support, into `target`.
    fn scatter_add_block(&self, target: &mut DMatrix<Real>) {
        let k = self.support.len();
        for (cj, &j) in self.support.iter().enumerate() {
            for (ci, &i) in self.support.iter().enumerate() {
                target[(i, j)] += self.block[cj * k + ci];
            }
        }
    }

    /// Takes a link's body jacobian, non-zero only in the `support` columns: the products below
    /// use it until the next call.
    pub(crate) fn set_link(&mut self, jacobian: &Jacobian<Real>, support: &[usize]) {
        self.support.clear();
        self.support.extend_from_slice(support);
        let k = support.len();
        if k <= LANES {
            gather_rows(&mut self.rows, jacobian, support);
        } else {
            Self::gather(&mut self.jacobian, jacobian, support);
            self.block.clear();
            self.block.resize(k * k, 0.0);
        }
    }

    /// Adds the support block `Σ_r J[r, i] · other[r][c]` into `target` at `(support[i],
    /// support[c])`: for each `i`, every column `c` at once, each entry a running sum from zero
    /// over `r` in order. That is nalgebra's `dot` of two columns of `SPATIAL_DIM` rows (fewer
    /// than its 8-way unrolling, and none of its special cases for 2, 3 or 4 rows), which
    /// `gemv_tr` and `gemm_tr` (alpha 1, beta 0: exact factors) take for each entry.
    fn add_block_from_rows(&self, target: &mut DMatrix<Real>, other: &[Row; SPATIAL_DIM]) {
        // The order above holds for these row counts only.
        const { assert!(SPATIAL_DIM > 4 && SPATIAL_DIM < 8) };
        let n = target.nrows();
        let t = target.as_mut_slice();
        for (i, &ti) in self.support.iter().enumerate() {
            let mut sum = [0.0; LANES];
            for (row, other_row) in self.rows.iter().zip(other) {
                let s = row[i];
                for (acc, &o) in sum.iter_mut().zip(other_row) {
                    *acc += s * o;
                }
            }
            for (&tc, &v) in self.support.iter().zip(&sum) {
                t[tc * n + ti] += v;
            }
        }
    }

    /// `target += Jᵀ · mid · J` for the link's body jacobian `J`: upstream's
    /// `target.quadform(1.0, mid, J, 1.0)`, each entry of the support block as nalgebra's
    /// `quadform_with_workspace` computes it.
    pub(crate) fn add_quadform(
        &mut self,
        target: &mut DMatrix<Real>,
        mid: &SMatrix<Real, SPATIAL_DIM, SPATIAL_DIM>,
    ) {
        let k = self.support.len();
        if k <= LANES {
            let work = mid_times_rows(mid, &self.rows);
            self.add_block_from_rows(target, &work);
            return;
        }
        let mut work = SVector::<Real, SPATIAL_DIM>::zeros();
        Self::block_mut(&mut self.block, k).quadform_with_workspace(
            &mut work,
            1.0,
            mid,
            &Self::view(&self.jacobian),
            0.0,
        );
        self.scatter_add_block(target);
    }

    /// `target += Jᵀ · rhs` for the link's body jacobian `J` and an `rhs` non-zero only in the
    /// link's support columns: upstream's `target.gemm_tr(1.0, J, rhs, 1.0)`, each entry of the
    /// support block as nalgebra's `gemm_tr` computes it.
    pub(crate) fn add_gemm_tr(&mut self, target: &mut DMatrix<Real>, rhs: &Jacobian<Real>) {
        let k = self.support.len();
        if k <= LANES {
            let mut rhs_rows = [[0.0; LANES]; SPATIAL_DIM];
            gather_rows(&mut rhs_rows, rhs, &self.support);
            self.add_block_from_rows(target, &rhs_rows);
            return;
        }
        Self::gather(&mut self.rhs, rhs, &self.support);
        Self::block_mut(&mut self.block, k).gemm_tr(
            1.0,
            &Self::view(&self.jacobian),
            &Self::view(&self.rhs),
            0.0,
        );
        self.scatter_add_block(target);
    }
}

/// `mid · J` for the rows of `J`, every column at once, each column as nalgebra's `gemv` (alpha
/// 1, beta 0) computes it for a statically sized `mid`: the first column of `mid` times the
/// column's first value, then each further column times its value added in turn (the factors of
/// 1 are exact and left out).
#[inline(always)]
fn mid_times_rows(
    mid: &SMatrix<Real, SPATIAL_DIM, SPATIAL_DIM>,
    rows: &[Row; SPATIAL_DIM],
) -> [Row; SPATIAL_DIM] {
    let m = mid.as_slice();
    let mut w = [[0.0; LANES]; SPATIAL_DIM];
    for (wr, &mr) in w.iter_mut().zip(&m[..SPATIAL_DIM]) {
        for (v, &x) in wr.iter_mut().zip(&rows[0]) {
            *v = mr * x;
        }
    }
    for (mc, xc) in m.chunks_exact(SPATIAL_DIM).zip(rows).skip(1) {
        for (wr, &mr) in w.iter_mut().zip(mc) {
            for (v, &x) in wr.iter_mut().zip(xc) {
                *v = mr * x + *v;
            }
        }
    }
    w
}

/// `rows` (zeroed first) from the `support` columns of `full`, at most [`LANES`] of them: row `r`
/// holds row `r` of each support column in turn.
fn gather_rows(rows: &mut [Row; SPATIAL_DIM], full: &Jacobian<Real>, support: &[usize]) {
    *rows = [[0.0; LANES]; SPATIAL_DIM];
    let columns = full.as_slice();
    for (c, &d) in support.iter().enumerate() {
        let column = &columns[d * SPATIAL_DIM..(d + 1) * SPATIAL_DIM];
        for (row, &v) in rows.iter_mut().zip(column) {
            row[c] = v;
        }
    }
}
