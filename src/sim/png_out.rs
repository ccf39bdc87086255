//! Writes a depth frame as an 8-bit grayscale PNG (near = bright, far = dark).

use crate::sim::SimError;
use std::path::Path;

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
        .map(|&d| {
            let t = ((d - near) / (far - near)).clamp(0.0, 1.0);
            (255.0 * (1.0 - t)).round() as u8
        })
        .collect();
    let file = std::fs::File::create(path).map_err(|e| SimError::Image(e.to_string()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc
        .write_header()
        .map_err(|e| SimError::Image(e.to_string()))?;
    w.write_image_data(&px)
        .map_err(|e| SimError::Image(e.to_string()))?;
    Ok(())
}
