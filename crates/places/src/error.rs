//! The crate's errors: what a caller sent that cannot be answered ([`PlaceError`],
//! which the server turns into a 422 naming the field) and why an image's metadata
//! could not be stripped ([`StripError`]).

/// A coordinate, radius or search query that cannot be used. Each names the field
/// it is about ([`PlaceError::field`]) so that an API can point at it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlaceError {
    /// A latitude or longitude that is not a finite number within its range.
    #[error("{field} must be a finite number from {min} to {max} degrees, got {value}")]
    OutOfRange {
        /// `"latitude"` or `"longitude"`.
        field: &'static str,
        min: f64,
        max: f64,
        value: f64,
    },
    /// A search radius that is negative or not a finite number.
    #[error("radius_km must be a finite number of kilometres, zero or more, got {value}")]
    InvalidRadius { value: f64 },
    /// A place-name query with nothing to search for: blank once trimmed, or no
    /// letters or digits before its first comma.
    #[error("the place name to search for is blank (it has no letters or digits)")]
    BlankQuery,
    /// A place-name query longer than any place name (and than [`crate::MAX_QUERY_CHARS`]).
    #[error("the place name to search for is {length} characters long; at most {max} are accepted")]
    QueryTooLong { length: usize, max: usize },
}

impl PlaceError {
    /// The name of the input field at fault: `latitude`, `longitude`, `radius_km` or
    /// `query` (an API's `details.field`).
    pub fn field(&self) -> &'static str {
        match self {
            Self::OutOfRange { field, .. } => field,
            Self::InvalidRadius { .. } => "radius_km",
            Self::BlankQuery | Self::QueryTooLong { .. } => "query",
        }
    }
}

/// Why [`crate::strip_metadata`] could not rewrite an image. Either way the image
/// should not be stored as it is: its metadata could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripError {
    /// Not a JPEG, PNG or WebP file (TIFF, GIF, HEIF and others are refused rather
    /// than passed through with their metadata).
    #[error("metadata can be stripped from JPEG, PNG and WebP images only")]
    UnsupportedFormat,
    /// The file starts like one of the three formats but its structure is broken
    /// (truncated, or a length that runs past the end).
    #[error("the {format} file is malformed: {reason}")]
    Malformed { format: &'static str, reason: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_and_the_range() {
        let e = PlaceError::OutOfRange { field: "latitude", min: -90.0, max: 90.0, value: 91.0 };
        assert_eq!(e.to_string(), "latitude must be a finite number from -90 to 90 degrees, got 91");
        assert_eq!(e.field(), "latitude");
        assert_eq!(PlaceError::InvalidRadius { value: f64::NAN }.field(), "radius_km");
        assert_eq!(PlaceError::BlankQuery.field(), "query");
        assert_eq!(
            PlaceError::QueryTooLong { length: 201, max: 200 }.to_string(),
            "the place name to search for is 201 characters long; at most 200 are accepted"
        );
    }
}
