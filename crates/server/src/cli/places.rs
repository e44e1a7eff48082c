//! `atelier places reverse|search|nearby|add|list`: seed 000's location service
//! from the terminal (the server resolves; nothing here knows the gazetteer).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::ClientArgs;
use super::client::Client;
use super::output::Output;

#[derive(Debug, Subcommand)]
pub enum PlacesCommand {
    /// The nearest town to a point, with its region and country.
    Reverse {
        #[arg(allow_negative_numbers = true)]
        latitude: f64,
        #[arg(allow_negative_numbers = true)]
        longitude: f64,
    },
    /// Places by name ("Paris", "Paris, FR", "Springfield, Illinois").
    Search {
        query: String,
        #[arg(long, default_value_t = 5)]
        limit: u32,
    },
    /// Towns and your saved locations within a radius.
    Nearby {
        #[arg(allow_negative_numbers = true)]
        latitude: f64,
        #[arg(allow_negative_numbers = true)]
        longitude: f64,
        #[arg(long, default_value_t = 10.0)]
        radius_km: f64,
    },
    /// Save a location: by place name (--query) or by coordinates (--lat and --lon).
    Add {
        #[arg(long, conflicts_with_all = ["lat", "lon"])]
        query: Option<String>,
        #[arg(long, allow_negative_numbers = true, requires = "lon")]
        lat: Option<f64>,
        #[arg(long, allow_negative_numbers = true, requires = "lat")]
        lon: Option<f64>,
        #[arg(long)]
        label: Option<String>,
    },
    /// Your saved locations, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

pub async fn run(command: PlacesCommand, args: ClientArgs, output: Output) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args)?;
    let answer = match command {
        PlacesCommand::Reverse { latitude, longitude } => {
            client.get_json(&format!("/api/v1/places/reverse?latitude={latitude}&longitude={longitude}")).await?
        }
        PlacesCommand::Search { query, limit } => {
            let query = url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>();
            client.get_json(&format!("/api/v1/places/search?q={query}&limit={limit}")).await?
        }
        PlacesCommand::Nearby { latitude, longitude, radius_km } => {
            client
                .get_json(&format!(
                    "/api/v1/places/nearby?latitude={latitude}&longitude={longitude}&radius_km={radius_km}"
                ))
                .await?
        }
        PlacesCommand::Add { query, lat, lon, label } => {
            let mut body = match (query, lat, lon) {
                (Some(query), _, _) => json!({ "query": query }),
                (None, Some(latitude), Some(longitude)) => json!({ "latitude": latitude, "longitude": longitude }),
                _ => anyhow::bail!("give --query, or --lat and --lon"),
            };
            if let Some(label) = label {
                body["label"] = Value::String(label);
            }
            client.post_json("/api/v1/locations", &body).await?
        }
        PlacesCommand::List { limit } => client.get_json(&format!("/api/v1/locations?limit={limit}")).await?,
    };
    output.print_json(&answer);
    Ok(ExitCode::SUCCESS)
}
