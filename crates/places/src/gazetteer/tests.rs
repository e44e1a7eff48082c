//! The gazetteer against known places, both ways, and against reverse_geocoder's
//! own answers.

use super::*;
use crate::{PlaceError, country_name};

fn at(lat: f64, lon: f64) -> Coordinates {
    Coordinates::new(lat, lon).expect("a valid test point")
}

fn gazetteer() -> &'static Gazetteer {
    Gazetteer::global()
}

#[test]
fn every_row_is_loaded() {
    assert_eq!(gazetteer().len(), 144_563);
    assert!(!gazetteer().is_empty());
}

/// Read straight from the file, not through the loader, which would refuse a
/// code without a name before this test could say which one.
#[test]
fn every_country_code_in_the_table_has_a_name() {
    let mut reader = csv::Reader::from_reader(CITIES_CSV.as_bytes());
    let mut codes = std::collections::BTreeSet::new();
    for record in reader.records() {
        let record = record.expect("a well-formed row");
        codes.insert(record.get(5).expect("a cc column").to_owned());
    }
    assert_eq!(codes.len(), 246);
    let unnamed: Vec<_> = codes.iter().filter(|code| country_name(code).is_none()).collect();
    assert!(unnamed.is_empty(), "country codes without a name: {unnamed:?}");
}

#[test]
fn capitals_resolve_to_themselves() {
    let cases = [
        ((35.6895, 139.6917), "Tokyo", "JP", "Japan"),
        ((48.8566, 2.3522), "Paris", "FR", "France"),
        ((-1.2864, 36.8172), "Nairobi", "KE", "Kenya"),
        ((-35.2809, 149.13), "Canberra", "AU", "Australia"),
        ((-34.6037, -58.3816), "Buenos Aires", "AR", "Argentina"),
        ((39.9042, 116.4074), "Beijing", "CN", "China"),
    ];
    for ((lat, lon), name, code, country) in cases {
        let found = gazetteer().reverse(at(lat, lon));
        assert_eq!(
            (found.place.name.as_str(), found.place.country_code.as_str(), found.place.country_name.as_str()),
            (name, code, country),
            "{found:?}"
        );
        assert!(found.distance_km < 2.0, "{found:?}");
    }
    let tokyo = gazetteer().reverse(at(35.6895, 139.6917));
    assert_eq!(tokyo.place.admin1.as_deref(), Some("Tokyo"));
    assert_eq!(tokyo.place.admin2, None);
    assert!(tokyo.distance_km < 0.01);
    let paris = gazetteer().reverse(at(48.8566, 2.3522));
    assert_eq!(paris.place.admin1.as_deref(), Some("Ile-de-France"));
    assert!((paris.distance_km - 0.43).abs() < 0.01, "{paris:?}");
}

#[test]
fn both_sides_of_the_antimeridian_find_fiji() {
    let east = gazetteer().reverse(at(-16.8, 179.99));
    let west = gazetteer().reverse(at(-16.8, -179.99));
    for found in [&east, &west] {
        assert_eq!(found.place.country_code, "FJ", "{found:?}");
        assert_eq!(found.place.name, "Lambasa");
        assert!(found.distance_km < 100.0, "{found:?}");
    }
    assert!(west.distance_km > east.distance_km, "Lambasa lies west of the antimeridian");
}

#[test]
fn the_poles_have_an_answer() {
    for lon in [0.0, 180.0, -180.0, 45.0] {
        let north = gazetteer().reverse(at(90.0, lon));
        assert_eq!((north.place.name.as_str(), north.place.country_code.as_str()), ("Longyearbyen", "SJ"));
        assert!((north.distance_km - 1309.5).abs() < 1.0, "{north:?}");
        let south = gazetteer().reverse(at(-90.0, lon));
        assert_eq!((south.place.name.as_str(), south.place.country_code.as_str()), ("McMurdo Station", "AQ"));
        assert_eq!(south.place.admin1, None);
    }
}

#[test]
fn the_open_ocean_gets_the_nearest_coast_and_its_distance() {
    let found = gazetteer().reverse(at(0.0, -30.0));
    assert_eq!(found.place.country_code, "BR");
    assert!((found.distance_km - 504.1).abs() < 1.0, "{found:?}");
}

/// The nearest place, as this crate's tree finds it, is as near as the one
/// reverse_geocoder's own tree finds (a tie may pick the other of two places).
#[test]
fn agrees_with_reverse_geocoder() {
    let theirs = reverse_geocoder::ReverseGeocoder::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..2000 {
        let point = at(next() * 180.0 - 90.0, next() * 360.0 - 180.0);
        let ours = gazetteer().reverse(point);
        let record = theirs.search((point.latitude(), point.longitude())).record;
        let their_distance = distance_km(point, at(record.lat, record.lon));
        assert!((ours.distance_km - their_distance).abs() < 1e-6, "{point:?}: {ours:?} against {record}");
    }
}

#[test]
fn search_finds_capitals_first() {
    let first = |query: &str| gazetteer().search(query, 5).expect("a valid query").into_iter().next();
    let tokyo = first("Tokyo").expect("Tokyo is found");
    assert_eq!((tokyo.name.as_str(), tokyo.country_code.as_str()), ("Tokyo", "JP"));
    assert_eq!(tokyo.coordinates, at(35.6895, 139.69171));
    let paris = first("paris").expect("Paris is found");
    assert_eq!((paris.name.as_str(), paris.country_code.as_str()), ("Paris", "FR"));
    assert_eq!(first("  PARIS\t").map(|p| p.country_code), Some("FR".to_owned()));
    for query in ["Buenos Aires", "Nairobi", "Canberra", "Beijing"] {
        let place = first(query).expect("a capital is found");
        assert_eq!(place.name, query);
    }
    assert_eq!(first("Buenos Aires").map(|p| p.country_code), Some("AR".to_owned()));
}

#[test]
fn search_folds_case_and_accents() {
    for query in ["zurich", "Zürich", "ZÜRICH ", "Zu\u{308}rich"] {
        let results = gazetteer().search(query, 3).expect("a valid query");
        let first = results.first().expect("Zurich is found");
        assert_eq!((first.name.as_str(), first.country_code.as_str()), ("Zurich", "CH"), "{query:?}");
    }
    for query in ["São Paulo", "sao paulo", "SAO-PAULO"] {
        let results = gazetteer().search(query, 3).expect("a valid query");
        let first = results.first().expect("Sao Paulo is found");
        assert_eq!((first.name.as_str(), first.country_code.as_str()), ("Sao Paulo", "BR"), "{query:?}");
    }
    // GeoNames spells Köln the German way and Düsseldorf without the umlaut.
    let koeln = gazetteer().search("Köln", 1).expect("a valid query");
    assert_eq!(koeln.first().map(|p| p.name.as_str()), Some("Koeln"));
    let duesseldorf = gazetteer().search("Düsseldorf", 1).expect("a valid query");
    assert_eq!(duesseldorf.first().map(|p| p.name.as_str()), Some("Dusseldorf"));
}

#[test]
fn qualifiers_pick_the_country_or_region() {
    let us = gazetteer().search("Paris, US", 20).expect("a valid query");
    assert!(us.len() >= 5, "{us:?}");
    assert!(us.iter().all(|p| p.name == "Paris" && p.country_code == "US"), "{us:?}");
    let france = gazetteer().search("Paris, France", 5).expect("a valid query");
    assert_eq!(france.first().map(|p| p.country_code.as_str()), Some("FR"));
    let texas = gazetteer().search("paris, texas", 5).expect("a valid query");
    assert_eq!(texas.len(), 1);
    assert_eq!(texas[0].admin1.as_deref(), Some("Texas"));
    let illinois = gazetteer().search("Springfield, Illinois", 5).expect("a valid query");
    assert_eq!(illinois.first().and_then(|p| p.admin1.as_deref()), Some("Illinois"));
    assert_eq!(illinois.first().map(|p| p.country_name.as_str()), Some("United States"));
    let both = gazetteer().search("Springfield, Illinois, USA", 5).expect("a valid query");
    assert_eq!(both, illinois);
    let canada = gazetteer().search("Paris, CA", 5).expect("a valid query");
    assert_eq!(canada.first().and_then(|p| p.admin1.as_deref()), Some("Ontario"), "CA is Canada, not California");
    assert!(gazetteer().search("Paris, Atlantis", 5).expect("a valid query").is_empty());
}

#[test]
fn whole_names_come_before_prefixes_and_are_ranked_by_neighbours() {
    let results = gazetteer().search("paris", 200).expect("a valid query");
    let whole = results.iter().take_while(|p| p.name == "Paris").count();
    assert!(whole >= 10, "{results:?}");
    assert!(results[whole..].iter().all(|p| p.name != "Paris" && p.name.to_lowercase().starts_with("paris")));
    assert!(results.len() > whole, "names starting with Paris follow");

    // The ranking signal itself: non-increasing among the whole-name matches.
    let table = &gazetteer().table;
    let nearby: Vec<u16> = results[..whole]
        .iter()
        .map(|p| {
            let row = table.rows.iter().find(|r| r.point == p.coordinates && table.name(r) == "Paris");
            row.expect("each result is a row").nearby
        })
        .collect();
    assert!(nearby.windows(2).all(|w| w[0] >= w[1]), "{nearby:?}");
    let paris_fr = table.rows.iter().find(|r| {
        table.name(r) == "Paris" && crate::countries::at(usize::from(r.country)).map(|c| c.code) == Some("FR")
    });
    assert_eq!(paris_fr.map(|r| r.nearby), Some(118), "Paris, France has over a hundred places around it");
}

#[test]
fn prefixes_match_and_limits_hold() {
    let results = gazetteer().search("Spring", 7).expect("a valid query");
    assert_eq!(results.len(), 7);
    assert!(results.iter().all(|p| p.name.starts_with("Spring")), "{results:?}");
    assert!(gazetteer().search("Tokyo", 0).expect("a valid query").is_empty());
    assert!(gazetteer().search("Xyzzyville", 10).expect("a valid query").is_empty());
}

#[test]
fn blank_and_overlong_queries_are_errors() {
    assert_eq!(gazetteer().search("   ", 5), Err(PlaceError::BlankQuery));
    assert_eq!(gazetteer().search("", 5), Err(PlaceError::BlankQuery));
    let long = "x".repeat(201);
    assert_eq!(gazetteer().search(&long, 5), Err(PlaceError::QueryTooLong { length: 201, max: 200 }));
    assert_eq!(gazetteer().search(&long, 5).map_err(|e| e.field()), Err("query"));
}

/// Which place of a shared name comes first, against the largest city of that name
/// (by population, as commonly known) for well-known names that the table holds
/// more than once. The heuristics cannot know population; this measures how often
/// they stand in for it, and the crate docs quote the figure.
#[test]
fn ranking_on_well_known_shared_names() {
    let truth = [
        ("Alexandria", "EG"),
        ("Athens", "GR"),
        ("Aurora", "US/Colorado"),
        ("Barcelona", "ES"),
        ("Berlin", "DE"),
        ("Birmingham", "GB"),
        ("Bogota", "CO"),
        ("Bristol", "GB"),
        ("Buenos Aires", "AR"),
        ("Cairo", "EG"),
        ("Christchurch", "NZ"),
        ("Columbus", "US/Ohio"),
        ("Cordoba", "AR"),
        ("Delhi", "IN"),
        ("Dublin", "IE"),
        ("Durango", "MX"),
        ("Florence", "IT"),
        ("Granada", "ES"),
        ("Guadalajara", "MX"),
        ("Halifax", "CA"),
        ("Hamilton", "CA"),
        ("Houston", "US/Texas"),
        ("Hyderabad", "IN"),
        ("Jacksonville", "US/Florida"),
        ("Kansas City", "US/Missouri"),
        ("Kingston", "JM"),
        ("La Paz", "BO"),
        ("Lagos", "NG"),
        ("Leon", "MX"),
        ("Lima", "PE"),
        ("London", "GB"),
        ("Madrid", "ES"),
        ("Manchester", "GB"),
        ("Melbourne", "AU"),
        ("Memphis", "US/Tennessee"),
        ("Merida", "MX"),
        ("Monterrey", "MX"),
        ("Moscow", "RU"),
        ("Newcastle", "AU"),
        ("Ottawa", "CA"),
        ("Paris", "FR"),
        ("Perth", "AU"),
        ("Plymouth", "GB"),
        ("Portland", "US/Oregon"),
        ("Puebla", "MX"),
        ("Rome", "IT"),
        ("Salvador", "BR"),
        ("San Antonio", "US/Texas"),
        ("San Francisco", "US/California"),
        ("San Jose", "US/California"),
        ("Santiago", "CL"),
        ("Santo Domingo", "DO"),
        ("Springfield", "US"),
        ("Sydney", "AU"),
        ("Toledo", "US/Ohio"),
        ("Toronto", "CA"),
        ("Tripoli", "LY"),
        ("Tunis", "TN"),
        ("Valencia", "ES"),
        ("Valparaiso", "CL"),
        ("Vancouver", "CA"),
        ("Venice", "IT"),
        ("Vienna", "AT"),
        ("Wellington", "NZ"),
    ];
    let mut misses = Vec::new();
    for (name, expected) in truth {
        let first = gazetteer().search(name, 1).expect("a valid query").into_iter().next().expect("a known name");
        let (code, region) = expected.split_once('/').unwrap_or((expected, ""));
        let right = first.country_code == code && (region.is_empty() || first.admin1.as_deref() == Some(region));
        if !right {
            misses.push(format!("{name} -> {}/{}", first.country_code, first.admin1.unwrap_or_default()));
        }
    }
    let right = truth.len() - misses.len();
    eprintln!("{right} of {} right; misses: {}", truth.len(), misses.join(", "));
    assert!(right * 100 >= truth.len() * 60, "{right} of {}: {misses:?}", truth.len());
}

#[test]
fn nearby_places_are_within_the_radius_nearest_first() {
    let paris = at(48.8566, 2.3522);
    let found = gazetteer().nearby(paris, 10.0, 20).expect("a valid radius");
    assert_eq!(found.len(), 20, "Paris has many districts within 10 km");
    assert!(found.windows(2).all(|pair| pair[0].distance_km <= pair[1].distance_km));
    assert!(found.iter().all(|nearest| nearest.distance_km <= 10.0));
    assert_eq!(found[0], gazetteer().reverse(paris));

    // Across the antimeridian: from just west of it, Vanua Levu's towns just east.
    let across = gazetteer().nearby(at(-16.8, -179.99), 100.0, 50).expect("a valid radius");
    assert!(across.iter().any(|n| n.place.name == "Lambasa"), "{across:?}");
    assert!(across.iter().all(|n| n.place.coordinates.longitude() > 179.0 && n.distance_km <= 100.0), "{across:?}");

    assert!(gazetteer().nearby(at(0.0, -160.0), 1.0, 10).expect("a valid radius").is_empty(), "open ocean");
    assert!(gazetteer().nearby(paris, 10.0, 0).expect("a valid radius").is_empty());
    for radius in [f64::NAN, -1.0, f64::INFINITY] {
        let err = gazetteer().nearby(paris, radius, 5).expect_err("an invalid radius");
        assert_eq!(err.field(), "radius_km");
    }
}
