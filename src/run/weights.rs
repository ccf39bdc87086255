//! Module weights as safetensors, named by their path in the module tree (`policy.head.0.weight`),
//! so checkpoints open in other tools (Python `safetensors`, PyTorch). Parameter ids travel in the
//! file's metadata so optimiser state saved beside the weights matches them again on resume.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Tensor, TensorData};
use safetensors::tensor::{Dtype, TensorView};
use thiserror::Error;

/// Why weights could not be saved or loaded.
#[derive(Debug, Error)]
pub enum WeightsError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid safetensors, or a tensor is missing or has another shape.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Default)]
struct Collect {
    path: Vec<String>,
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    ids: HashMap<String, String>,
}

/// Safetensors metadata key holding `{name: param id}` so optimiser state (keyed by parameter id)
/// still matches after a resume.
const PARAM_IDS: &str = "locomamba.param_ids";

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let dims = tensor.dims().to_vec();
        let data = tensor.into_data().convert::<f32>();
        let bytes = data
            .as_slice::<f32>()
            .expect("converted to f32")
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let name = self.path.join(".");
        self.ids.insert(name.clone(), param.id.val().to_string());
        self.tensors.push((name, dims, bytes));
    }
}

/// `(name, shape, f32 values)` of every float parameter, in module order.
pub fn named_tensors<M: Module>(module: &M) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut c = Collect::default();
    module.visit(&mut c);
    c.tensors
        .into_iter()
        .map(|(n, s, b)| {
            let v = b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            (n, s, v)
        })
        .collect()
}

/// Serialises every float parameter of `module` to safetensors bytes.
pub fn to_safetensors<M: Module>(module: &M) -> Result<Vec<u8>, WeightsError> {
    let mut c = Collect::default();
    module.visit(&mut c);
    let mut seen = HashMap::new();
    for (name, _, _) in &c.tensors {
        if seen.insert(name.clone(), ()).is_some() {
            return Err(WeightsError::Format {
                path: "<memory>".into(),
                message: format!("two parameters are both named {name}"),
            });
        }
    }
    let views: Vec<(String, TensorView<'_>)> = c
        .tensors
        .iter()
        .map(|(name, shape, bytes)| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), bytes).expect("shape matches data"),
            )
        })
        .collect();
    let ids = serde_json::to_string(&c.ids).expect("ids serialise");
    let metadata = HashMap::from([(PARAM_IDS.to_string(), ids)]);
    safetensors::serialize(views, Some(metadata)).map_err(|e| WeightsError::Format {
        path: "<memory>".into(),
        message: e.to_string(),
    })
}

/// Writes `module`'s weights to a safetensors file atomically.
pub fn save<M: Module>(module: &M, path: &Path) -> Result<(), WeightsError> {
    let bytes = to_safetensors(module)?;
    super::atomic::write_atomic(path, &bytes).map_err(|source| WeightsError::Io {
        path: path.display().to_string(),
        source,
    })
}

struct Load {
    path: Vec<String>,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    ids: HashMap<String, u64>,
    errors: Vec<String>,
}

impl ModuleMapper for Load {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.path.join(".");
        let Some((shape, values)) = self.tensors.remove(&name) else {
            self.errors.push(format!("tensor {name} is missing"));
            return param;
        };
        let current = param.val();
        if current.dims().as_slice() != shape.as_slice() {
            self.errors.push(format!(
                "tensor {name} has shape {shape:?}, the module expects {:?}",
                current.dims()
            ));
            return param;
        }
        let device = current.device();
        let (id, _, mapper): (ParamId, _, _) = param.consume();
        let id = self
            .ids
            .get(&name)
            .map_or(id, |saved| ParamId::from(*saved));
        // Keep the parameter trainable when it was (an autodiff device's leaf needs `require_grad`).
        let tensor = Tensor::<D>::from_data(TensorData::new(values, shape), &device)
            .set_require_grad(current.is_require_grad());
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// Loads weights saved by [`save`] into `module` (same architecture), keeping parameter ids.
pub fn load<M: Module>(module: M, path: &Path) -> Result<M, WeightsError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: name.clone(),
        source,
    })?;
    from_safetensors(module, &bytes).map_err(|message| WeightsError::Format {
        path: name,
        message,
    })
}

/// Loads weights from safetensors bytes into `module`.
pub fn from_safetensors<M: Module>(module: M, bytes: &[u8]) -> Result<M, String> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let ids: HashMap<String, u64> = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(PARAM_IDS))
        .map(|text| serde_json::from_str::<HashMap<String, String>>(text))
        .transpose()
        .map_err(|e| format!("bad {PARAM_IDS} metadata: {e}"))?
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k, v)))
        .collect();
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(format!("tensor {name} is {:?}, expected F32", view.dtype()));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    let mut loader = Load {
        path: Vec::new(),
        tensors,
        ids,
        errors: Vec::new(),
    };
    let module = module.map(&mut loader);
    if let Some(extra) = loader.tensors.keys().next() {
        loader
            .errors
            .push(format!("tensor {extra} is not a parameter of the module"));
    }
    if loader.errors.is_empty() {
        Ok(module)
    } else {
        Err(loader.errors.join("; "))
    }
}
