//! SVG previews drawn as PNG (resvg, with the system fonts: the same faces the
//! placeholder engine finds), for clients that ask for a raster image.

use std::sync::{Arc, LazyLock};

use resvg::{tiny_skia, usvg};

/// The most pixels one PNG preview may have (a 4-byte pixel each while drawing).
pub const MAX_PIXELS: u64 = 12_000_000;

static FONTS: LazyLock<Arc<usvg::fontdb::Database>> = LazyLock::new(|| {
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_system_fonts();
    if let Some(dirs) = std::env::var_os("ATELIER_FONT_DIRS") {
        for dir in std::env::split_paths(&dirs) {
            if !dir.as_os_str().is_empty() {
                fonts.load_fonts_dir(dir);
            }
        }
    }
    // `sans-serif` is Arial to fontdb; name faces a Linux machine has, CJK first
    // (it covers Latin too), so that every script the previews carry is drawn.
    let families: Vec<String> =
        fonts.faces().flat_map(|face| face.families.iter().map(|(name, _)| name.clone())).collect();
    let preferred = ["Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans JP", "DejaVu Sans", "Liberation Sans"];
    if let Some(family) = preferred.iter().find(|wanted| families.iter().any(|family| family == *wanted)) {
        fonts.set_sans_serif_family(*family);
    }
    Arc::new(fonts)
});

/// Why an SVG could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum RasterError {
    #[error(
        "{width}×{height} pixels is more than a PNG preview draws ({MAX_PIXELS}); ask for one page, or a lower quality, or SVG"
    )]
    TooLarge { width: u32, height: u32 },
    #[error("the preview could not be drawn: {0}")]
    Failed(String),
}

/// Draws an SVG document as a PNG of its own size.
pub fn png(svg: &str) -> Result<Vec<u8>, RasterError> {
    let options = usvg::Options { fontdb: FONTS.clone(), ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|error| RasterError::Failed(error.to_string()))?;
    let size = tree.size().to_int_size();
    let (width, height) = (size.width(), size.height());
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(RasterError::TooLarge { width, height });
    }
    let mut pixmap =
        tiny_skia::Pixmap::new(width, height).ok_or_else(|| RasterError::Failed("an empty image".into()))?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|error| RasterError::Failed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_svg_becomes_a_png_of_its_size_and_a_huge_one_is_refused() {
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30" fill="#fff"/><text x="2" y="20" font-size="12">p.1</text></svg>"##;
        let bytes = png(svg).expect("drawn");
        let image = image::load_from_memory(&bytes).expect("a PNG");
        assert_eq!((image.width(), image.height()), (40, 30));
        let huge = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10000" height="10000"></svg>"#;
        assert!(matches!(png(huge), Err(RasterError::TooLarge { .. })));
    }
}
