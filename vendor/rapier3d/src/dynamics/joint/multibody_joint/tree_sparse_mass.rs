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
//! products gather the support columns, form the small product with the same nalgebra routine
//! upstream calls (`quadform_with_workspace`, `gemm_tr`) and add it into the full matrix entry by
//! entry. Every entry is the same dot product over the same rows in the same order as upstream's,
//! so the result is bit-for-bit upstream's; the entries outside support × support, to which
//! upstream adds exact zeros, are left as they are.

use crate::alloc_prelude::*;
use crate::math::{Jacobian, Real, SPATIAL_DIM};
use na::{DMatrix, SMatrix, SVector};

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
                for k in start..self.dofs.len() {
                    let d = self.dofs[k];
                    let extends_last = self.ranges.len() > range_start
                        && self.ranges.last().is_some_and(|&(s, n)| s + n == d);
                    if extends_last {
                        if let Some(last) = self.ranges.last_mut() {
                            last.1 += 1;
                        }
                    } else {
                        self.ranges.push((d, 1));
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

/// The scratch matrices of the compact products.
#[derive(Clone, Debug, Default)]
pub(crate) struct CompactProducts {
    /// The first operand's support columns.
    lhs: Option<Jacobian<Real>>,
    /// The second operand's support columns (`gemm_tr`).
    rhs: Option<Jacobian<Real>>,
    /// The compact product, `support × support`.
    block: DMatrix<Real>,
}

impl CompactProducts {
    fn gather(
        scratch: &mut Option<Jacobian<Real>>,
        full: &Jacobian<Real>,
        support: &[usize],
    ) -> Jacobian<Real> {
        let mut compact = match scratch.take() {
            Some(m) if m.ncols() == support.len() => m,
            _ => Jacobian::zeros(support.len()),
        };
        for (c, &d) in support.iter().enumerate() {
            compact.column_mut(c).copy_from(&full.column(d));
        }
        compact
    }

    fn scatter_add(target: &mut DMatrix<Real>, block: &DMatrix<Real>, support: &[usize]) {
        for (cj, &j) in support.iter().enumerate() {
            for (ci, &i) in support.iter().enumerate() {
                target[(i, j)] += block[(ci, cj)];
            }
        }
    }

    /// `target += jacobianᵀ · mid · jacobian` for a jacobian non-zero only in the `support`
    /// columns: upstream's `target.quadform(1.0, mid, jacobian, 1.0)`.
    pub(crate) fn add_quadform(
        &mut self,
        target: &mut DMatrix<Real>,
        support: &[usize],
        mid: &SMatrix<Real, SPATIAL_DIM, SPATIAL_DIM>,
        jacobian: &Jacobian<Real>,
    ) {
        let k = support.len();
        let compact = Self::gather(&mut self.lhs, jacobian, support);
        self.block.resize_mut(k, k, 0.0);
        let mut work = SVector::<Real, SPATIAL_DIM>::zeros();
        self.block
            .quadform_with_workspace(&mut work, 1.0, mid, &compact, 0.0);
        Self::scatter_add(target, &self.block, support);
        self.lhs = Some(compact);
    }

    /// `target += lhsᵀ · rhs` where both are non-zero only in the `support` columns: upstream's
    /// `target.gemm_tr(1.0, lhs, rhs, 1.0)`.
    pub(crate) fn add_gemm_tr(
        &mut self,
        target: &mut DMatrix<Real>,
        support: &[usize],
        lhs: &Jacobian<Real>,
        rhs: &Jacobian<Real>,
    ) {
        let k = support.len();
        let a = Self::gather(&mut self.lhs, lhs, support);
        let b = Self::gather(&mut self.rhs, rhs, support);
        self.block.resize_mut(k, k, 0.0);
        self.block.gemm_tr(1.0, &a, &b, 0.0);
        Self::scatter_add(target, &self.block, support);
        self.lhs = Some(a);
        self.rhs = Some(b);
    }
}
