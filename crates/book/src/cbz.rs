//! Comic book archives: page images in a zip, with `ComicInfo.xml` (ComicInfo schema
//! v2.0, <https://github.com/anansi-project/comicinfo>) at its root.

use std::io::{Cursor, Write};

use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::error::BookError;
use crate::model::BookMeta;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Packs PNG pages into a CBZ: `ComicInfo.xml` first, then the pages as `001.png`,
/// `002.png`, … (more digits past 999 pages). Images are stored as they are (PNG is
/// already compressed); the XML is deflated. Entries carry a fixed date, so the same
/// pages give the same bytes.
pub fn build_cbz<P: AsRef<[u8]>>(
    pages_png: &[P],
    page_sizes: &[(u32, u32)],
    meta: &BookMeta,
) -> Result<Vec<u8>, BookError> {
    if pages_png.len() != page_sizes.len() {
        return Err(BookError::Invalid(format!("{} pages but {} page sizes", pages_png.len(), page_sizes.len())));
    }
    if pages_png.is_empty() {
        return Err(BookError::Invalid("a book needs at least one page".into()));
    }
    if let Some(index) = pages_png.iter().position(|p| !p.as_ref().starts_with(PNG_SIGNATURE)) {
        return Err(BookError::Image(format!("page {} is not a PNG", index + 1)));
    }
    let zip_err = |e: zip::result::ZipError| BookError::Zip(e.to_string());
    let io_err = |e: std::io::Error| BookError::Zip(e.to_string());
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    zip.start_file("ComicInfo.xml", deflated).map_err(zip_err)?;
    zip.write_all(comic_info_xml(meta, page_sizes).as_bytes()).map_err(io_err)?;
    let digits = pages_png.len().to_string().len().max(3);
    for (index, page) in pages_png.iter().enumerate() {
        zip.start_file(format!("{:0digits$}.png", index + 1), stored).map_err(zip_err)?;
        zip.write_all(page.as_ref()).map_err(io_err)?;
    }
    Ok(zip.finish().map_err(zip_err)?.into_inner())
}

/// `ComicInfo.xml` for a book of pages of these sizes (ComicInfo schema v2.0; elements
/// in the schema's order). `Manga` is `YesAndRightToLeft` for a right-to-left book and
/// `Yes` otherwise; the first page is the front cover, the others story pages.
pub fn comic_info_xml(meta: &BookMeta, page_sizes: &[(u32, u32)]) -> String {
    let mut xml = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
        "<ComicInfo xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ",
        "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">\n",
    ));
    let mut element = |name: &str, value: &str| {
        if !value.trim().is_empty() {
            xml.push_str(&format!("  <{name}>{}</{name}>\n", escape(value)));
        }
    };
    element("Title", &meta.title);
    element("Summary", meta.summary.as_deref().unwrap_or_default());
    element("Writer", meta.writer.as_deref().unwrap_or_default());
    element("PageCount", &page_sizes.len().to_string());
    element("LanguageISO", &meta.language);
    element("Manga", if meta.right_to_left { "YesAndRightToLeft" } else { "Yes" });
    let characters: Vec<&str> = meta.characters.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
    element("Characters", &characters.join(", "));
    xml.push_str("  <Pages>\n");
    for (index, (w, h)) in page_sizes.iter().enumerate() {
        let kind = if index == 0 { "FrontCover" } else { "Story" };
        xml.push_str(&format!(
            "    <Page Image=\"{index}\" Type=\"{kind}\" ImageWidth=\"{w}\" ImageHeight=\"{h}\"/>\n"
        ));
    }
    xml.push_str("  </Pages>\n</ComicInfo>\n");
    xml
}

/// Escapes text for XML content and attributes, dropping characters XML 1.0 does not
/// allow.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::tiny_png;
    use std::io::Read;

    fn meta(rtl: bool) -> BookMeta {
        BookMeta {
            title: "Cats & <Dogs>".into(),
            writer: Some("夏目 \"漱石\"".into()),
            language: "ja".into(),
            right_to_left: rtl,
            summary: Some("A cat's life.\u{1}".into()),
            characters: vec!["Neko".into(), "Master".into(), " ".into()],
        }
    }

    #[test]
    fn a_cbz_holds_the_pages_in_order_and_comic_info() {
        let pages = vec![tiny_png(10, 12), tiny_png(20, 24), tiny_png(30, 36)];
        let sizes = [(10, 12), (20, 24), (30, 36)];
        let cbz = build_cbz(&pages, &sizes, &meta(true)).expect("cbz");
        let mut archive = zip::ZipArchive::new(Cursor::new(cbz)).expect("zip");
        let names: Vec<String> = (0..archive.len())
            .map(|i| archive.by_index(i).ok().and_then(|f| f.name().ok().map(|n| n.to_string())).unwrap_or_default())
            .collect();
        assert_eq!(names, ["ComicInfo.xml", "001.png", "002.png", "003.png"]);
        for (i, page) in pages.iter().enumerate() {
            let mut file = archive.by_index(i + 1).expect("page");
            assert_eq!(file.compression(), CompressionMethod::Stored);
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).expect("read");
            assert_eq!(&bytes, page);
        }
        let mut xml = String::new();
        archive.by_name("ComicInfo.xml").expect("ComicInfo.xml").read_to_string(&mut xml).expect("read");
        let doc = roxmltree::Document::parse(&xml).expect("ComicInfo.xml parses");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "ComicInfo");
        let text =
            |name: &str| root.children().find(|n| n.has_tag_name(name)).and_then(|n| n.text()).map(str::to_string);
        assert_eq!(text("Title").as_deref(), Some("Cats & <Dogs>"));
        assert_eq!(text("Writer").as_deref(), Some("夏目 \"漱石\""));
        assert_eq!(text("Summary").as_deref(), Some("A cat's life."));
        assert_eq!(text("PageCount").as_deref(), Some("3"));
        assert_eq!(text("LanguageISO").as_deref(), Some("ja"));
        assert_eq!(text("Manga").as_deref(), Some("YesAndRightToLeft"));
        assert_eq!(text("Characters").as_deref(), Some("Neko, Master"));
        let pages: Vec<_> = root.descendants().filter(|n| n.has_tag_name("Page")).collect();
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[0].attribute("Type"), Some("FrontCover"));
        assert_eq!(pages[0].attribute("Image"), Some("0"));
        assert_eq!(pages[2].attribute("Type"), Some("Story"));
        assert_eq!(pages[2].attribute("ImageWidth"), Some("30"));
        assert_eq!(pages[2].attribute("ImageHeight"), Some("36"));
        // The schema is a sequence: the elements come in its order.
        let order: Vec<&str> = root.children().filter(|n| n.is_element()).map(|n| n.tag_name().name()).collect();
        assert_eq!(order, ["Title", "Summary", "Writer", "PageCount", "LanguageISO", "Manga", "Characters", "Pages"]);
    }

    #[test]
    fn left_to_right_books_are_manga_yes() {
        let xml = comic_info_xml(&meta(false), &[(1, 1)]);
        assert!(xml.contains("<Manga>Yes</Manga>"), "{xml}");
    }

    #[test]
    fn mismatched_or_non_png_pages_are_rejected() {
        assert!(matches!(build_cbz(&[tiny_png(2, 2)], &[], &meta(true)), Err(BookError::Invalid(_))));
        assert!(matches!(build_cbz(&[b"GIF89a".to_vec()], &[(1, 1)], &meta(true)), Err(BookError::Image(_))));
        assert!(matches!(build_cbz::<Vec<u8>>(&[], &[], &meta(true)), Err(BookError::Invalid(_))));
    }

    #[test]
    fn the_same_pages_give_the_same_bytes() {
        let pages = vec![tiny_png(4, 4)];
        let a = build_cbz(&pages, &[(4, 4)], &meta(false)).expect("cbz");
        let b = build_cbz(&pages, &[(4, 4)], &meta(false)).expect("cbz");
        assert_eq!(a, b);
    }
}
