//! A sample page for tests and previews (feature `fixtures` for other crates).

use crate::model::{Balloon, BalloonKind, Effect, Page, PanelArt, Rect};

/// A small PNG: a diagonal colour gradient with a darker disc, `width`×`height` pixels.
pub fn tiny_png(width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width.max(1), height.max(1));
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let inside = (fx - 0.6).powi(2) + (fy - 0.45).powi(2) < 0.04;
            let shade = if inside { 0.55 } else { 1.0 };
            rgb.push(((90.0 + 140.0 * fx) * shade) as u8);
            rgb.push(((150.0 + 80.0 * fy) * shade) as u8);
            rgb.push(((200.0 - 60.0 * fx) * shade) as u8);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Writing a PNG to memory only fails on wrong sizes, which cannot happen here.
    if let Ok(mut writer) = encoder.write_header() {
        let _ = writer.write_image_data(&rgb);
        let _ = writer.finish();
    }
    out
}

/// A 900×1272 page with four panels (three with tiny generated images, one a
/// placeholder), one balloon of each kind, a sound effect, speed lines and focus
/// lines. `ja` gives vertical Japanese text; any other language English.
pub fn sample_page(language: &str) -> Page {
    let ja = language.split(['-', '_']).next().is_some_and(|p| p.eq_ignore_ascii_case("ja"));
    let text = |ja_text: &str, en_text: &str| if ja { ja_text.to_string() } else { en_text.to_string() };
    let top = Rect::new(40.0, 40.0, 820.0, 380.0);
    let left = Rect::new(40.0, 436.0, 404.0, 400.0);
    let right = Rect::new(460.0, 436.0, 400.0, 400.0);
    let bottom = Rect::new(40.0, 852.0, 820.0, 380.0);
    let balloon = |id: &str, kind, body: String, rect, tail, size: f32, bold| Balloon {
        id: id.to_string(),
        kind,
        text: body,
        rect,
        tail,
        vertical: ja,
        font_size: size,
        bold,
    };
    let balloons = vec![
        balloon(
            "speech",
            BalloonKind::Speech,
            text("吾輩は猫である。名前はまだ無い。", "I am a cat. As yet I have no name."),
            if ja { Rect::new(690.0, 60.0, 150.0, 250.0) } else { Rect::new(560.0, 60.0, 280.0, 170.0) },
            Some((620.0, 360.0)),
            24.0,
            false,
        ),
        balloon(
            "thought",
            BalloonKind::Thought,
            text("どこで生れたか\nとんと見当がつかぬ…", "Where was I born? I have no idea…"),
            if ja { Rect::new(56.0, 452.0, 180.0, 280.0) } else { Rect::new(56.0, 452.0, 250.0, 170.0) },
            Some((300.0, 790.0)),
            18.0,
            false,
        ),
        balloon(
            "shout",
            BalloonKind::Shout,
            text("待てーっ！", "WAIT!!"),
            if ja { Rect::new(80.0, 866.0, 240.0, 345.0) } else { Rect::new(70.0, 872.0, 280.0, 210.0) },
            Some((420.0, 1160.0)),
            34.0,
            true,
        ),
        balloon(
            "whisper",
            BalloonKind::Whisper,
            text("（ひそひそ…）", "(psst… over here)"),
            Rect::new(630.0, 880.0, 200.0, 190.0),
            Some((560.0, 1180.0)),
            20.0,
            false,
        ),
        balloon(
            "narration",
            BalloonKind::Narration,
            text("その頃――", "Meanwhile…"),
            if ja { Rect::new(800.0, 450.0, 48.0, 170.0) } else { Rect::new(474.0, 450.0, 170.0, 48.0) },
            None,
            20.0,
            false,
        ),
    ];
    let effects = vec![
        Effect::SpeedLines { panel: top, angle_degrees: 12.0 },
        Effect::FocusLines { panel: left, center: (260.0, 660.0) },
        Effect::Sfx {
            text: text("ドドド", "BOOM!"),
            rect: if ja { Rect::new(80.0, 70.0, 110.0, 320.0) } else { Rect::new(70.0, 230.0, 330.0, 130.0) },
            angle_degrees: -8.0,
            vertical: ja,
        },
    ];
    Page {
        width: 900,
        height: 1272,
        panels: vec![
            PanelArt { frame: top, image: Some(tiny_png(64, 30)), crop: None, placeholder_text: None },
            PanelArt {
                frame: left,
                image: Some(tiny_png(48, 48)),
                crop: Some(Rect::new(0.25, 0.0, 0.5, 1.0)),
                placeholder_text: None,
            },
            PanelArt {
                frame: right,
                image: None,
                crop: None,
                placeholder_text: Some(text("猫が塀の上で昼寝をしている。", "A cat naps on top of a garden wall.")),
            },
            PanelArt { frame: bottom, image: Some(tiny_png(80, 36)), crop: None, placeholder_text: None },
        ],
        balloons,
        effects,
        language: if ja { "ja".to_string() } else { language.to_string() },
    }
}
