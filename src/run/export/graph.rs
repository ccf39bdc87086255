//! A small builder of ONNX graphs: constants, nodes with fresh value names, graph inputs and
//! outputs with a dynamic batch dimension, and the standard operators the exported networks use
//! (opset [`OPSET`]). Values are referred to by name.

use super::onnx::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto, attribute_type, data_type,
};

/// The `ai.onnx` operator set version the graph is written for (`LayerNormalization` needs 17).
pub const OPSET: i64 = 17;
/// The IR version that goes with [`OPSET`].
pub const IR_VERSION: i64 = 8;
/// The name of the dynamic batch dimension of every input and output.
pub const BATCH: &str = "batch";

/// A dimension of a graph input or output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// The dynamic batch dimension.
    Batch,
    /// A fixed size.
    Fixed(usize),
}

/// A named attribute value.
#[derive(Debug, Clone)]
pub enum Attr {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f32),
    /// A list of integers.
    Ints(Vec<i64>),
}

/// A graph under construction.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    counter: usize,
}

fn value_info(name: &str, dims: &[Dim], doc: &str) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Dim::Batch => Dimension {
                dim_value: None,
                dim_param: Some(BATCH.into()),
            },
            Dim::Fixed(n) => Dimension {
                dim_value: Some(*n as i64),
                dim_param: None,
            },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        doc_string: doc.into(),
    }
}

impl Graph {
    /// A fresh value name starting with `hint`.
    fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("{hint}_{}", self.counter)
    }

    /// A float constant of shape `dims` (row-major `values`).
    ///
    /// # Panics
    /// If the value count does not match the shape.
    pub fn constant(&mut self, hint: &str, dims: &[usize], values: &[f32]) -> String {
        assert_eq!(
            dims.iter().product::<usize>(),
            values.len(),
            "constant {hint}: {dims:?} does not hold {} values",
            values.len()
        );
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type::FLOAT,
            name: name.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }

    /// A float scalar constant.
    pub fn scalar(&mut self, value: f32) -> String {
        self.constant("scalar", &[], &[value])
    }

    /// A 1-D int64 constant (shapes, axes, indices).
    pub fn ints(&mut self, hint: &str, values: &[i64]) -> String {
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            dims: vec![values.len() as i64],
            data_type: data_type::INT64,
            name: name.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }

    /// A node of `op` with `outputs` fresh outputs.
    pub fn op_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: &[(&str, Attr)],
        outputs: usize,
    ) -> Vec<String> {
        let hint = op.to_lowercase();
        let outs: Vec<String> = (0..outputs).map(|_| self.fresh(&hint)).collect();
        let attribute = attrs
            .iter()
            .map(|(name, value)| {
                let mut a = AttributeProto {
                    name: (*name).into(),
                    ..Default::default()
                };
                match value {
                    Attr::Int(i) => (a.i, a.r#type) = (*i, attribute_type::INT),
                    Attr::Float(f) => (a.f, a.r#type) = (*f, attribute_type::FLOAT),
                    Attr::Ints(v) => (a.ints, a.r#type) = (v.clone(), attribute_type::INTS),
                }
                a
            })
            .collect();
        let name = format!("{op}_{}", self.nodes.len());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outs.clone(),
            name,
            op_type: op.into(),
            attribute,
            domain: String::new(),
        });
        outs
    }

    /// A node of `op` with one output.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)]) -> String {
        self.op_n(op, inputs, attrs, 1).remove(0)
    }

    /// Declares a graph input.
    pub fn input(&mut self, name: &str, dims: &[Dim], doc: &str) -> String {
        self.inputs.push(value_info(name, dims, doc));
        name.into()
    }

    /// Declares `value` as the graph output `name` (through an `Identity`).
    pub fn output(&mut self, value: &str, name: &str, dims: &[Dim], doc: &str) {
        self.nodes.push(NodeProto {
            input: vec![value.into()],
            output: vec![name.into()],
            name: format!("output_{name}"),
            op_type: "Identity".into(),
            ..Default::default()
        });
        self.outputs.push(value_info(name, dims, doc));
    }

    /// Nodes so far.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The finished model, with `metadata` as its `metadata_props`.
    pub fn into_model(self, name: &str, doc: &str, metadata: Vec<(String, String)>) -> ModelProto {
        ModelProto {
            ir_version: IR_VERSION,
            producer_name: "locomamba".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            domain: "locomamba".into(),
            model_version: 1,
            doc_string: doc.into(),
            graph: Some(GraphProto {
                node: self.nodes,
                name: name.into(),
                initializer: self.initializers,
                doc_string: doc.into(),
                input: self.inputs,
                output: self.outputs,
            }),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            metadata_props: metadata
                .into_iter()
                .map(|(key, value)| StringStringEntryProto { key, value })
                .collect(),
        }
    }
}

/// Operators by name, so that lowering code reads like the forward it mirrors.
impl Graph {
    /// `a + b` (broadcasting).
    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.op("Add", &[a, b], &[])
    }

    /// `a - b`.
    pub fn sub(&mut self, a: &str, b: &str) -> String {
        self.op("Sub", &[a, b], &[])
    }

    /// `a * b`.
    pub fn mul(&mut self, a: &str, b: &str) -> String {
        self.op("Mul", &[a, b], &[])
    }

    /// `a / b`.
    pub fn div(&mut self, a: &str, b: &str) -> String {
        self.op("Div", &[a, b], &[])
    }

    /// An elementwise unary operator (`Relu`, `Exp`, `Tanh`, ...).
    pub fn unary(&mut self, op: &str, x: &str) -> String {
        self.op(op, &[x], &[])
    }

    /// `x * sigmoid(x)`.
    pub fn silu(&mut self, x: &str) -> String {
        let s = self.unary("Sigmoid", x);
        self.mul(x, &s)
    }

    /// Batched matrix product.
    pub fn matmul(&mut self, a: &str, b: &str) -> String {
        self.op("MatMul", &[a, b], &[])
    }

    /// `x W (+ b)` with `W` `[d_in, d_out]` row-major (burn's layout).
    pub fn linear(&mut self, x: &str, weight: (&[usize], &[f32]), bias: Option<&[f32]>) -> String {
        let w = self.constant("weight", weight.0, weight.1);
        let y = self.matmul(x, &w);
        match bias {
            Some(b) => {
                let b = self.constant("bias", &[b.len()], b);
                self.add(&y, &b)
            }
            None => y,
        }
    }

    /// Reshape to `shape` (0 copies the input's dimension, -1 is inferred).
    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let s = self.ints("shape", shape);
        self.op("Reshape", &[x, &s], &[])
    }

    /// Permutes the axes.
    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.op("Transpose", &[x], &[("perm", Attr::Ints(perm.to_vec()))])
    }

    /// Concatenation along `axis`.
    pub fn concat(&mut self, xs: &[&str], axis: i64) -> String {
        self.op("Concat", xs, &[("axis", Attr::Int(axis))])
    }

    /// `x[start..end]` along `axis`.
    pub fn slice(&mut self, x: &str, axis: i64, start: i64, end: i64) -> String {
        let (s, e, a) = (
            self.ints("starts", &[start]),
            self.ints("ends", &[end]),
            self.ints("axes", &[axis]),
        );
        self.op("Slice", &[x, &s, &e, &a], &[])
    }

    /// Splits `x` along `axis` into `parts` equal pieces of `size` each.
    pub fn split(&mut self, x: &str, axis: i64, parts: usize, size: usize) -> Vec<String> {
        let sizes = self.ints("split", &vec![size as i64; parts]);
        self.op_n("Split", &[x, &sizes], &[("axis", Attr::Int(axis))], parts)
    }

    /// Elements of `x` at `indices` along `axis`.
    pub fn gather(&mut self, x: &str, axis: i64, indices: &[i64]) -> String {
        let i = self.ints("indices", indices);
        self.op("Gather", &[x, &i], &[("axis", Attr::Int(axis))])
    }

    /// Inserts a size-1 axis at each of `axes`.
    pub fn unsqueeze(&mut self, x: &str, axes: &[i64]) -> String {
        let a = self.ints("axes", axes);
        self.op("Unsqueeze", &[x, &a], &[])
    }

    /// Mean over `axes` (kept as size-1 axes when `keep`).
    pub fn reduce_mean(&mut self, x: &str, axes: &[i64], keep: bool) -> String {
        self.op(
            "ReduceMean",
            &[x],
            &[
                ("axes", Attr::Ints(axes.to_vec())),
                ("keepdims", Attr::Int(i64::from(keep))),
            ],
        )
    }

    /// Sum over `axes` (kept as size-1 axes when `keep`).
    pub fn reduce_sum(&mut self, x: &str, axes: &[i64], keep: bool) -> String {
        let a = self.ints("axes", axes);
        self.op(
            "ReduceSum",
            &[x, &a],
            &[("keepdims", Attr::Int(i64::from(keep)))],
        )
    }

    /// Layer normalisation over the last axis with scale `gamma` and shift `beta`.
    pub fn layer_norm(&mut self, x: &str, gamma: &[f32], beta: Option<&[f32]>, eps: f32) -> String {
        let width = gamma.len();
        let g = self.constant("ln_scale", &[width], gamma);
        let zeros = vec![0.0; width];
        let b = self.constant("ln_bias", &[width], beta.unwrap_or(&zeros));
        self.op(
            "LayerNormalization",
            &[x, &g, &b],
            &[("axis", Attr::Int(-1)), ("epsilon", Attr::Float(eps))],
        )
    }

    /// Pads the last axis of `x` with `before` and `after` copies of `value`.
    pub fn pad_last(
        &mut self,
        x: &str,
        rank: usize,
        before: i64,
        after: i64,
        value: f32,
    ) -> String {
        let mut pads = vec![0i64; 2 * rank];
        pads[rank - 1] = before;
        pads[2 * rank - 1] = after;
        let p = self.ints("pads", &pads);
        let v = self.scalar(value);
        self.op("Pad", &[x, &p, &v], &[])
    }
}
