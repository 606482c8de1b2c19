//! The data every other module speaks: ids, targets, check specs,
//! observations and the status ladder. Plain serde types with validation;
//! no rules live here.

mod check;
mod ids;
mod observation;
pub(crate) mod serde_ms;
mod status;
mod target;

pub use check::{
    CheckSpec, DEFAULT_FAILURE_THRESHOLD, DEFAULT_INTERVAL, DEFAULT_SUCCESS_THRESHOLD,
    DEFAULT_TIMEOUT, MAX_INTERVAL, MAX_THRESHOLD, MIN_INTERVAL,
};
pub use ids::{CheckId, CheckKey, MAX_ID_LEN, TargetId, TenantId};
pub use observation::{Observation, Outcome};
pub use status::{Cause, Health, Status};
pub use target::{DEFAULT_TENANT, Target, normalize_mac};
