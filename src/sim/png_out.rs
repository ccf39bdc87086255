//! Depth frames as 8-bit grey (near = bright, far = dark), and PNG encoding: for `runner render`,
//! the videos' depth inset, TensorBoard's depth images and the report's figures.

use crate::recipe::DepthConfig;
use crate::sim::SimError;
use crate::sim::depth::denormalise;
use std::path::Path;

/// The grey level of a metric depth: 255 at `near`, 0 at `far` and beyond.
pub fn grey_of_metres(d: f32, near: f32, far: f32) -> u8 {
    let t = ((d - near) / (far - near)).clamp(0.0, 1.0);
    (255.0 * (1.0 - t)).round() as u8
}

/// The grey level of a depth value as the policy sees it (normalised by `cfg.transform`).
pub fn grey_of_observed(v: f32, cfg: &DepthConfig) -> u8 {
    grey_of_metres(
        denormalise(v, cfg.near, cfg.far, cfg.transform),
        cfg.near,
        cfg.far,
    )
}

/// Encodes 8-bit `pixels` of `color` (`Grayscale` or `Rgb`), `width x height`, as PNG bytes.
pub fn encode_png(
    pixels: &[u8],
    width: usize,
    height: usize,
    color: png::ColorType,
) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width as u32, height as u32);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(pixels)?;
    Ok(bytes)
}

/// Writes a `width x height` frame of metric depth in metres (clipped to [near, far]) as PNG.
pub fn write_depth_png(
    path: &Path,
    metric: &[f32],
    width: usize,
    height: usize,
    near: f32,
    far: f32,
) -> Result<(), SimError> {
    if metric.len() != width * height {
        return Err(SimError::Image(format!(
            "frame has {} pixels, expected {}x{}",
            metric.len(),
            width,
            height
        )));
    }
    let px: Vec<u8> = metric
        .iter()
        .map(|&d| grey_of_metres(d, near, far))
        .collect();
    let bytes = encode_png(&px, width, height, png::ColorType::Grayscale)
        .map_err(|e| SimError::Image(e.to_string()))?;
    std::fs::write(path, bytes).map_err(|e| SimError::Image(e.to_string()))
}
