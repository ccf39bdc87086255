//! The one font of the report's plots and the videos' overlays: DejaVu Sans (the `dejavu`
//! crate), registered with plotters' `ab_glyph` text renderer as `sans-serif`, so nothing depends
//! on the machine's fonts.

use std::sync::Once;

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
