//! Credits (docs/providers/kie.md 1.1): `GET /api/v1/chat/credit` → `data` is the
//! remaining number. Each created task is charged up front; a failed task is
//! refunded (its callback reports `consumeCredits: 0`).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Inner, KieState, envelope_ok};

/// `GET /api/v1/chat/credit`.
pub(super) async fn get_credit(State(state): State<Arc<KieState>>) -> Response {
    let credits = state.inner().credits;
    envelope_ok(credits_value(credits))
}

/// Takes `cost` from the balance unless that would leave it below zero.
pub(super) fn charge(inner: &mut Inner, cost: f64) -> bool {
    if inner.credits - cost < 0.0 {
        return false;
    }
    inner.credits -= cost;
    true
}

/// Gives `cost` back.
pub(super) fn refund(inner: &mut Inner, cost: f64) {
    inner.credits += cost;
}

/// A credit amount as JSON: a whole number when it is one, else a decimal.
pub(super) fn credits_value(credits: f64) -> Value {
    if credits.fract() == 0.0 && credits.abs() < 9.0e15 { json!(credits as i64) } else { json!(credits) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_amounts_are_integers() {
        assert_eq!(credits_value(100.0).to_string(), "100");
        assert_eq!(credits_value(2.5).to_string(), "2.5");
    }
}
