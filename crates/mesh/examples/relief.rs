//! Writes the relief of an image as GLB: `cargo run -p atelier-mesh --example relief -- IN.png OUT.glb [fast|balanced|high]`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(output)) = (args.first(), args.get(1)) else {
        eprintln!("usage: relief IN.png OUT.glb [fast|balanced|high]");
        return ExitCode::FAILURE;
    };
    let quality =
        args.get(2).and_then(|name| atelier_mesh::Quality::parse(name)).unwrap_or(atelier_mesh::Quality::Balanced);
    let made = image::open(input).map_err(|error| error.to_string()).and_then(|image| {
        let png = std::fs::read(input).map_err(|error| error.to_string())?;
        let mesh = atelier_mesh::relief(&image, quality).map_err(|error| error.to_string())?;
        atelier_mesh::glb::to_glb(&mesh, Some(&png), "atelier-mesh example").map_err(|error| error.to_string())
    });
    match made.and_then(|glb| std::fs::write(output, glb).map_err(|error| error.to_string())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
