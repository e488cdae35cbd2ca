//! Moving tensors between the host and the device, and ranking on the host (WebGPU has no sort).

use burn_tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};

/// Uploads a preprocessed image (`[3, H, W]` floats, see [`crate::imaging`]) as a `[1, 3, H, W]` tensor.
pub fn input_tensor(chw: Vec<f32>, height: usize, width: usize, device: &Device) -> Result<Tensor<4>> {
    if chw.len() != 3 * height * width {
        return Err(Error::Shape(format!("expected 3×{height}×{width} floats, got {}", chw.len())));
    }
    Ok(Tensor::from_data(TensorData::new(chw, [1, 3, height, width]), device))
}

/// Indices and values of the `k` largest entries, best first (sorted on the host: WebGPU has no sort).
pub fn top_k(values: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    order.into_iter().take(k).map(|i| (i, values[i])).collect()
}

/// Reads a tensor back to the host (asynchronously, as WebGPU requires).
pub async fn read_back<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    let data = tensor.into_data_async().await.map_err(|e| Error::Device(format!("{e:?}")))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| Error::Device(format!("{e:?}")))
}
