//! Serde for `Option<Duration>` as fractional milliseconds (`12.5`).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Serialises as milliseconds (f64), `None` as null.
pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(d) => s.serialize_f64(d.as_secs_f64() * 1000.0),
        None => s.serialize_none(),
    }
}

/// Reads milliseconds (integer or float, non-negative and finite).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let ms: Option<f64> = Option::deserialize(d)?;
    match ms {
        None => Ok(None),
        Some(ms) if (0.0..1e15).contains(&ms) => Ok(Some(Duration::from_secs_f64(ms / 1000.0))),
        Some(_) => Err(serde::de::Error::custom(
            "latency_ms must be a finite number of milliseconds >= 0",
        )),
    }
}
