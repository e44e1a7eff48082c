//! Writes the sample pages and a sample book to the temporary directory, and times a
//! full 1200×1700 page with 6 panels and 8 balloons.
//!
//! `cargo run -p atelier-book --example sample --features fixtures [--release]`

use std::time::Instant;

use atelier_book::{
    Balloon, BalloonKind, BookMeta, FontBook, Page, PanelArt, Rect, build_cbz, render_pdf, render_png, sample_page,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let fonts = FontBook::system()?;
    println!("font database: {} faces in {:?}", fonts.len(), started.elapsed());

    let dir = std::env::temp_dir();
    let ja = sample_page("ja");
    let en = sample_page("en");
    let chunks = [("atelier:run".to_string(), "sample".to_string())];
    let started = Instant::now();
    let ja_png = render_png(&fonts, &ja, &chunks)?;
    println!("sample page (ja) rendered in {:?} (first render loads the faces)", started.elapsed());
    let en_png = render_png(&fonts, &en, &chunks)?;
    std::fs::write(dir.join("book-sample-ja.png"), &ja_png)?;
    std::fs::write(dir.join("book-sample-en.png"), &en_png)?;

    let meta = BookMeta {
        title: "吾輩は猫である".into(),
        writer: Some("Natsume Soseki".into()),
        language: "ja".into(),
        right_to_left: true,
        summary: Some("A cat watches people.".into()),
        characters: vec!["Neko".into(), "Master".into()],
    };
    let started = Instant::now();
    let pdf = render_pdf(&fonts, &[ja.clone(), en.clone()], &meta)?;
    println!("two-page PDF in {:?}, {} bytes", started.elapsed(), pdf.len());
    std::fs::write(dir.join("book-sample.pdf"), &pdf)?;
    let cbz = build_cbz(&[ja_png, en_png], &[(ja.width, ja.height), (en.width, en.height)], &meta)?;
    std::fs::write(dir.join("book-sample.cbz"), &cbz)?;

    let big = big_page();
    let _ = render_png(&fonts, &big, &[])?;
    let started = Instant::now();
    let rounds = 5;
    for _ in 0..rounds {
        let _ = render_png(&fonts, &big, &[])?;
    }
    println!("1200×1700 page, 6 panels, 8 balloons: {:?} per render", started.elapsed() / rounds);
    for name in ["book-sample-ja.png", "book-sample-en.png", "book-sample.pdf", "book-sample.cbz"] {
        println!("wrote {}", dir.join(name).display());
    }
    Ok(())
}

/// A 1200×1700 page: six panels with 768×768 images, eight balloons.
fn big_page() -> Page {
    let image = atelier_book::tiny_png(768, 768);
    let mut panels = Vec::new();
    for row in 0..3 {
        for col in 0..2 {
            let frame = Rect::new(40.0 + col as f32 * 570.0, 40.0 + row as f32 * 550.0, 550.0, 530.0);
            panels.push(PanelArt { frame, image: Some(image.clone()), crop: None, placeholder_text: None });
        }
    }
    let kinds = [BalloonKind::Speech, BalloonKind::Thought, BalloonKind::Shout, BalloonKind::Whisper];
    let balloons = (0..8)
        .map(|i| {
            let frame = panels[i % 6].frame;
            Balloon {
                id: format!("b{i}"),
                kind: kinds[i % 4],
                text: "吾輩は猫である。名前はまだ無い。".into(),
                rect: Rect::new(frame.x + 20.0 + (i / 6) as f32 * 250.0, frame.y + 20.0, 170.0, 260.0),
                tail: Some((frame.x + 300.0, frame.y + 450.0)),
                vertical: true,
                font_size: 26.0,
                bold: i == 2,
            }
        })
        .collect();
    Page { width: 1200, height: 1700, panels, balloons, effects: Vec::new(), language: "ja".into() }
}
