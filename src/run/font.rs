//! The one font of the report's plots and the videos' overlays: DejaVu Sans (the `dejavu`
//! crate), registered with plotters' `ab_glyph` text renderer as `sans-serif` for the plots, and
//! drawn into RGB frames here for the overlays, so nothing depends on the machine's fonts.

use std::sync::{Once, OnceLock};

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};

/// The family name every plot and overlay asks for.
pub const FAMILY: &str = "sans-serif";

/// Registers the font with plotters (once per process; later calls return at once).
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(
            FAMILY,
            plotters::style::FontStyle::Normal,
            dejavu::sans::regular(),
        )
        .unwrap_or_else(|_| panic!("the bundled DejaVu Sans is a valid font"));
    });
}

/// The parsed font.
fn face() -> &'static FontRef<'static> {
    static FACE: OnceLock<FontRef<'static>> = OnceLock::new();
    FACE.get_or_init(|| {
        FontRef::try_from_slice(dejavu::sans::regular()).expect("the bundled DejaVu Sans parses")
    })
}

/// Draws `text` of `px` pixels per em into an RGB image of `width` pixels per row, its first
/// character's origin at `x` and its baseline at `baseline`, blending `colour` by glyph coverage.
/// Pixels outside the image are skipped.
pub fn draw_text(
    rgb: &mut [u8],
    width: usize,
    (x, baseline): (f32, f32),
    px: f32,
    text: &str,
    colour: [u8; 3],
) {
    let height = rgb.len() / 3 / width.max(1);
    let font = face();
    let scaled = font.as_scaled(PxScale::from(px));
    let mut caret = x;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(px, point(caret, baseline));
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let px_x = bounds.min.x as i64 + gx as i64;
                let px_y = bounds.min.y as i64 + gy as i64;
                if px_x < 0 || px_y < 0 || px_x >= width as i64 || px_y >= height as i64 {
                    return;
                }
                let k = (px_y as usize * width + px_x as usize) * 3;
                for (channel, &target) in rgb[k..k + 3].iter_mut().zip(&colour) {
                    let a = coverage.clamp(0.0, 1.0);
                    *channel = (*channel as f32 * (1.0 - a) + target as f32 * a).round() as u8;
                }
            });
        }
        caret += scaled.h_advance(id);
        previous = Some(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_darkens_pixels_inside_its_box_only() {
        let (w, h) = (60, 20);
        let mut rgb = vec![255u8; w * h * 3];
        draw_text(&mut rgb, w, (2.0, 15.0), 14.0, "1.5", [0, 0, 0]);
        let dark = |x: usize, y: usize| rgb[(y * w + x) * 3] < 128;
        let inked: Vec<(usize, usize)> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| dark(x, y))
            .collect();
        assert!(!inked.is_empty());
        // Nothing below the baseline (no descenders in "1.5") and nothing past the text.
        assert!(inked.iter().all(|&(x, y)| y <= 15 && x < 30), "{inked:?}");
        // The full stop sits on the baseline: its ink reaches row 14 or 15.
        assert!(
            inked.iter().any(|&(x, y)| (10..14).contains(&x) && y >= 14),
            "{inked:?}"
        );
    }
}
