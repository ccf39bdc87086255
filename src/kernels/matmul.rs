//! Row-major `f32` matrix products for the linear layers, forward and backward, through the `gemm`
//! crate (the one burn's Flex backend calls), writing straight into fresh output buffers.
//!
//! Why not burn's `matmul`: burn-flex 0.22 makes every output with `FlexTensor::empty`, which
//! zero-fills a byte vector and then copies it into a 16-byte-aligned buffer, so each product
//! pays a memset and a memcpy of its output on top of the multiplication. Here the product writes each output once, and the bias is added
//! by the same `gemm` call (`dst = dst + x w` over rows pre-filled with the bias).

use std::mem::MaybeUninit;

use gemm::{Parallelism, gemm};

use super::filled_vec;

/// Products with at least this many multiply-adds run on rayon's threads (burn-flex uses the
/// same threshold).
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    }
}

/// One strided matrix operand: element `(i, j)` at `ptr + i * row_stride + j * col_stride`.
#[derive(Clone, Copy)]
pub(crate) struct Operand {
    ptr: *const f32,
    row_stride: isize,
    col_stride: isize,
}

impl Operand {
    /// `rows x cols` row-major `values`.
    pub(crate) fn rows(values: &[f32], cols: usize) -> Self {
        Operand {
            ptr: values.as_ptr(),
            row_stride: cols as isize,
            col_stride: 1,
        }
    }

    /// The transpose of the `rows x cols` row-major `values`.
    pub(crate) fn transposed(values: &[f32], cols: usize) -> Self {
        Operand {
            ptr: values.as_ptr(),
            row_stride: 1,
            col_stride: cols as isize,
        }
    }

    /// Element `(i, j)` at `values[i * row_stride + j * col_stride]`; rows may overlap (a
    /// sliding window). The caller checks that every element it uses lies inside `values`.
    pub(crate) fn strided(values: &[f32], row_stride: isize, col_stride: isize) -> Self {
        Operand {
            ptr: values.as_ptr(),
            row_stride,
            col_stride,
        }
    }

    /// The transpose of this operand: a view, no copy.
    pub(crate) fn transpose(self) -> Self {
        Operand {
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// The same strides from `n` values further into the buffer: for a row-major weight, its
    /// columns from `n` on (or, transposed, its rows from `n` on). A view, no copy.
    fn offset(self, n: usize) -> Self {
        Operand {
            ptr: self.ptr.wrapping_add(n),
            ..self
        }
    }
}

/// `dst = lhs * rhs`, or `dst += lhs * rhs` when `read_dst`, for the `m x n` row-major `dst`.
///
/// # Safety
/// `dst` must address `m * n` writable floats (initialised when `read_dst`), and `lhs` and `rhs`
/// `m x k` and `k x n` readable elements through their strides.
unsafe fn run_gemm(
    dst: *mut f32,
    (m, n, k): (usize, usize, usize),
    lhs: Operand,
    rhs: Operand,
    read_dst: bool,
    parallelism: Parallelism,
) {
    // SAFETY: the caller's contract.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            read_dst,
            lhs.ptr,
            lhs.col_stride,
            lhs.row_stride,
            rhs.ptr,
            rhs.col_stride,
            rhs.row_stride,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `m x n` row-major `lhs * rhs` (`lhs` `m x k`, `rhs` `k x n`), added to `init`'s rows when it
/// is given (`init` has `n` values, one row broadcast to all `m`).
fn product(
    m: usize,
    n: usize,
    k: usize,
    lhs: Operand,
    rhs: Operand,
    init: Option<&[f32]>,
) -> Vec<f32> {
    let fill = |out: &mut [MaybeUninit<f32>]| {
        if let Some(row) = init {
            for dst in out.chunks_exact_mut(n) {
                for (d, &v) in dst.iter_mut().zip(row) {
                    d.write(v);
                }
            }
        }
        // SAFETY: `out` is `m * n` writable floats with row stride `n`; `lhs` and `rhs` address
        // `m x k` and `k x n` elements inside their slices (the callers check the lengths). With
        // `read_dst` false gemm never reads `out` (it stores `lhs * rhs`, zeros when `k == 0`);
        // with `init` it reads the rows written above.
        unsafe {
            run_gemm(
                out.as_mut_ptr().cast::<f32>(),
                (m, n, k),
                lhs,
                rhs,
                init.is_some(),
                parallelism(m, n, k),
            );
        }
    };
    // SAFETY: gemm writes (or, with `init`, updates) every one of the `m * n` values.
    unsafe { filled_vec(m * n, fill) }
}

/// `out = lhs * rhs` (or `out += lhs * rhs` when `accumulate`) for the `m x n` row-major `out`
/// (`lhs` `m x k`, `rhs` `k x n`), on the calling thread: for callers that parallelise over
/// independent products themselves (the convolutions' samples).
///
/// # Panics
/// When `out` does not hold `m * n` values.
pub(crate) fn product_into(
    out: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: Operand,
    rhs: Operand,
    accumulate: bool,
) {
    assert_eq!(
        out.len(),
        m * n,
        "product_into: output of {} values, expected {m} x {n}",
        out.len()
    );
    // SAFETY: `out` is `m * n` initialised floats with row stride `n`; `lhs` and `rhs` address
    // `m x k` and `k x n` elements inside the slices the callers built them from (they check the
    // lengths). Without `accumulate` gemm stores `lhs * rhs` (zeros when `k == 0`).
    unsafe {
        run_gemm(
            out.as_mut_ptr(),
            (m, n, k),
            lhs,
            rhs,
            accumulate,
            Parallelism::None,
        );
    }
}

/// Sizes of one linear layer over rows: `x` `[rows, d_in]`, `weight` `[d_in, weight_width]`
/// (burn's `Linear` layout) of which columns `col_start..col_start + d_out` are used, output
/// `[rows, d_out]`. Using part of the weight this way (Mamba's `in_proj` split into its `x` and
/// `z` halves) reads those columns in place instead of copying them out first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearDims {
    /// Rows of the input (tokens times batch).
    pub rows: usize,
    /// Input features.
    pub d_in: usize,
    /// Output features.
    pub d_out: usize,
    /// Columns of the weight (`d_out` when the whole weight is used).
    pub weight_width: usize,
    /// First weight column used.
    pub col_start: usize,
}

impl LinearDims {
    /// A layer using its whole `[d_in, d_out]` weight.
    pub fn whole(rows: usize, d_in: usize, d_out: usize) -> Self {
        LinearDims {
            rows,
            d_in,
            d_out,
            weight_width: d_out,
            col_start: 0,
        }
    }

    fn check(&self, x: &[f32], weight: &[f32], bias: Option<&[f32]>) {
        check("x", x.len(), self.rows * self.d_in);
        check("weight", weight.len(), self.d_in * self.weight_width);
        assert!(
            self.col_start + self.d_out <= self.weight_width,
            "linear kernel: columns {}..{} of a weight {} wide",
            self.col_start,
            self.col_start + self.d_out,
            self.weight_width
        );
        if let Some(b) = bias {
            check("bias", b.len(), self.d_out);
        }
    }
}

fn check(name: &str, got: usize, want: usize) {
    assert_eq!(
        got, want,
        "linear kernel: `{name}` has {got} values, expected {want}"
    );
}

/// `x weight (+ bias)`: `[rows, d_out]`.
pub fn linear_forward(
    dims: &LinearDims,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    dims.check(x, weight, bias);
    let LinearDims {
        rows, d_in, d_out, ..
    } = *dims;
    product(
        rows,
        d_out,
        d_in,
        Operand::rows(x, d_in),
        Operand::rows(weight, dims.weight_width).offset(dims.col_start),
        bias,
    )
}

/// Gradients of [`linear_forward`]'s inputs.
#[derive(Debug, Clone)]
pub struct LinearGrads {
    /// `dy weight^T`, `[rows, d_in]`.
    pub x: Vec<f32>,
    /// `x^T dy` in the used columns, zeros in the others: `[d_in, weight_width]`.
    pub weight: Vec<f32>,
    /// Column sums of `dy`, `[d_out]` (when the layer has a bias).
    pub bias: Option<Vec<f32>>,
}

/// Gradients of [`linear_forward`] given its output's gradient `dy` `[rows, d_out]`; the bias
/// gradient is computed when `with_bias`.
pub fn linear_backward(
    dims: &LinearDims,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    with_bias: bool,
) -> LinearGrads {
    dims.check(x, weight, None);
    check("dy", dy.len(), dims.rows * dims.d_out);
    let LinearDims {
        rows,
        d_in,
        d_out,
        weight_width,
        col_start,
    } = *dims;
    let dx = product(
        rows,
        d_in,
        d_out,
        Operand::rows(dy, d_out),
        Operand::transposed(weight, weight_width).offset(col_start),
        None,
    );
    let dw = weight_grad(x, dy, (rows, d_in, d_out));
    // The bias gradient as a product too, `1^T dy`: one pass over `dy` in gemm's fixed order.
    let bias = with_bias.then(|| {
        let ones = vec![1.0f32; rows];
        product(
            1,
            d_out,
            rows,
            Operand::rows(&ones, rows),
            Operand::rows(dy, d_out),
            None,
        )
    });
    let weight = if weight_width == d_out {
        dw
    } else {
        let mut full = vec![0.0f32; d_in * weight_width];
        for (dst, src) in full
            .chunks_exact_mut(weight_width)
            .zip(dw.chunks_exact(d_out))
        {
            dst[col_start..col_start + d_out].copy_from_slice(src);
        }
        full
    };
    LinearGrads {
        x: dx,
        weight,
        bias,
    }
}

/// `x^T dy`, `[d_in, d_out]`, for `x` `[rows, d_in]` and `dy` `[rows, d_out]`. When `d_in` is
/// the larger side the product runs transposed (`dy^T x`, then one small transpose), so that the
/// wider side is the output's columns, along which gemm's widest kernels span 64 values: the
/// width-32 train step measured faster so, and slower with the opposite choice.
fn weight_grad(x: &[f32], dy: &[f32], (rows, d_in, d_out): (usize, usize, usize)) -> Vec<f32> {
    if d_in <= d_out {
        return product(
            d_in,
            d_out,
            rows,
            Operand::transposed(x, d_in),
            Operand::rows(dy, d_out),
            None,
        );
    }
    let dw_t = product(
        d_out,
        d_in,
        rows,
        Operand::transposed(dy, d_out),
        Operand::rows(x, d_in),
        None,
    );
    transposed_copy(&dw_t, d_in)
}

/// The transpose of the row-major `values` of `cols` columns: `[cols, rows]`, row-major.
pub(crate) fn transposed_copy(values: &[f32], cols: usize) -> Vec<f32> {
    let rows = values.len() / cols.max(1);
    let mut out = vec![0.0f32; values.len()];
    for (i, row) in values.chunks_exact(cols).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            out[j * rows + i] = v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `values[i] = sin(seed + 0.37 i)`: deterministic inputs of either sign.
    fn wave(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| (seed + 0.37 * i as f32).sin()).collect()
    }

    fn naive_product(
        m: usize,
        n: usize,
        k: usize,
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f64> {
        let mut out = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a(i, p) as f64 * b(p, j) as f64).sum();
            }
        }
        out
    }

    fn assert_close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    #[test]
    fn forward_and_backward_match_a_naive_triple_loop() {
        // Large enough to take gemm's parallel path, and small ones for its serial path; the
        // weight gradient runs transposed where d_in > d_out.
        for dims in [
            LinearDims::whole(300, 70, 130),
            LinearDims::whole(5, 3, 4),
            LinearDims::whole(40, 9, 6),
        ] {
            let LinearDims {
                rows, d_in, d_out, ..
            } = dims;
            let x = wave(rows * d_in, 0.1);
            let w = wave(d_in * d_out, 1.3);
            let b = wave(d_out, 2.9);
            let dy = wave(rows * d_out, 4.2);
            let xw = naive_product(
                rows,
                d_out,
                d_in,
                |i, p| x[i * d_in + p],
                |p, j| w[p * d_out + j],
            );
            assert_close(&linear_forward(&dims, &x, &w, None), &xw, "x w");
            let with_bias: Vec<f64> = xw
                .iter()
                .enumerate()
                .map(|(i, v)| v + b[i % d_out] as f64)
                .collect();
            assert_close(
                &linear_forward(&dims, &x, &w, Some(&b)),
                &with_bias,
                "x w + b",
            );
            let g = linear_backward(&dims, &x, &w, &dy, true);
            let dx = naive_product(
                rows,
                d_in,
                d_out,
                |i, j| dy[i * d_out + j],
                |j, p| w[p * d_out + j],
            );
            let dw = naive_product(
                d_in,
                d_out,
                rows,
                |p, i| x[i * d_in + p],
                |i, j| dy[i * d_out + j],
            );
            let db: Vec<f64> = (0..d_out)
                .map(|j| (0..rows).map(|i| dy[i * d_out + j] as f64).sum())
                .collect();
            assert_close(&g.x, &dx, "dx");
            assert_close(&g.weight, &dw, "dw");
            assert_close(g.bias.as_deref().expect("bias gradient"), &db, "db");
            assert!(linear_backward(&dims, &x, &w, &dy, false).bias.is_none());
        }
    }

    #[test]
    fn a_column_range_of_the_weight_equals_the_whole_product_narrowed() {
        let (rows, d_in, width) = (40, 12, 30);
        let x = wave(rows * d_in, 0.7);
        let w = wave(d_in * width, 1.9);
        let dy_part = wave(rows * 10, 3.1);
        let whole = linear_forward(&LinearDims::whole(rows, d_in, width), &x, &w, None);
        let dims = LinearDims {
            rows,
            d_in,
            d_out: 10,
            weight_width: width,
            col_start: 7,
        };
        let part = linear_forward(&dims, &x, &w, None);
        for (r, row) in part.chunks_exact(10).enumerate() {
            assert_eq!(row, &whole[r * width + 7..r * width + 17], "row {r}");
        }
        // The backward equals the whole layer's with the other columns' gradient zero.
        let mut dy = vec![0.0f32; rows * width];
        for (r, src) in dy_part.chunks_exact(10).enumerate() {
            dy[r * width + 7..r * width + 17].copy_from_slice(src);
        }
        let g = linear_backward(&dims, &x, &w, &dy_part, false);
        let want = linear_backward(&LinearDims::whole(rows, d_in, width), &x, &w, &dy, false);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(p, q)| (p - q).abs() <= 1e-4);
        assert!(close(&g.x, &want.x), "dx");
        assert_eq!(g.weight.len(), d_in * width);
        assert!(close(&g.weight, &want.weight), "dw");
    }

    #[test]
    fn empty_inner_dimension_gives_zeros_or_the_bias() {
        let dims = LinearDims::whole(3, 0, 2);
        assert_eq!(linear_forward(&dims, &[], &[], None), vec![0.0; 6]);
        assert_eq!(
            linear_forward(&dims, &[], &[], Some(&[1.5, -2.0])),
            vec![1.5, -2.0, 1.5, -2.0, 1.5, -2.0]
        );
    }

    #[test]
    #[should_panic(expected = "`weight` has 5 values, expected 6")]
    fn wrong_weight_length_is_named() {
        let dims = LinearDims::whole(1, 2, 3);
        linear_forward(&dims, &[1.0, 2.0], &[0.0; 5], None);
    }
}
