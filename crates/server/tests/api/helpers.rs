//! The test harness lives in the test kit, shared with the bench.

pub use atelier_testkit::app::*;
