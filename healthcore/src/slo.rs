//! Service level objectives: error budgets and the multiwindow,
//! multi-burn-rate alerts of the Google SRE workbook (chapter "Alerting on
//! SLOs").
//!
//! This module owns [`Slo`] (objective and period), [`ErrorBudget`],
//! [`burn_rate`], [`BurnRule`] with [`DEFAULT_BURN_RULES`] and
//! [`evaluate_burn`]. Rates come in through a closure, so the caller
//! decides where they are read from (normally
//! [`crate::rollup::uptime_from_buckets`] over the rule's windows, turned
//! into a rate by [`burn_rate_from_report`]).
//!
//! It must not read a clock, do I/O, or raise alerts itself: it says which
//! rule fires; [`crate::alert`] and the engine decide what to do with it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::uptime::UptimeReport;

/// Default SLO period: 30 days.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(30 * 24 * 3600);

/// An objective: the fraction of good events (or good time) wanted over a
/// rolling period.
///
/// ```
/// use healthcore::slo::Slo;
/// let slo: Slo = serde_json::from_str(r#"{"objective": 0.999, "period": "30days"}"#).unwrap();
/// slo.validate().unwrap();
/// assert!((slo.allowed_bad_fraction() - 0.001).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Wanted good fraction, strictly between 0 and 1 (e.g. `0.999`).
    pub objective: f64,
    /// The rolling period the budget is counted over (default 30 d).
    #[serde(default = "default_period", with = "humantime_serde")]
    pub period: Duration,
}

fn default_period() -> Duration {
    DEFAULT_PERIOD
}

impl Slo {
    /// A validated SLO.
    pub fn new(objective: f64, period: Duration) -> Result<Self, ValidationError> {
        let slo = Self { objective, period };
        slo.validate()?;
        Ok(slo)
    }

    /// Checks `0 < objective < 1` and `period > 0`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !(self.objective > 0.0 && self.objective < 1.0) {
            return Err(ValidationError::new(
                "objective",
                "must be a number strictly between 0 and 1 (e.g. 0.999)",
            ));
        }
        if self.period.is_zero() {
            return Err(ValidationError::new("period", "must be greater than 0"));
        }
        Ok(())
    }

    /// `1 − objective`: the fraction of events allowed to be bad.
    pub fn allowed_bad_fraction(&self) -> f64 {
        1.0 - self.objective
    }

    /// The error budget from good and total counts (see
    /// [`ErrorBudget::from_counts`]).
    pub fn budget(&self, good: f64, total: f64) -> ErrorBudget {
        ErrorBudget::from_counts(good, total, self.objective)
    }

    /// The time-based error budget over an uptime report (see
    /// [`ErrorBudget::from_report`]).
    pub fn budget_from_report(&self, report: &UptimeReport) -> ErrorBudget {
        ErrorBudget::from_report(report, self.objective)
    }

    /// The burn rate of `bad` out of `total` against this objective.
    pub fn burn_rate(&self, bad: f64, total: f64) -> f64 {
        burn_rate(bad, total, self.objective)
    }
}

/// Error budget: how much badness the objective allows over what was
/// counted, how much was spent and how much is left.
///
/// `remaining` and `remaining_percent` go negative when the budget is
/// overspent (shown as e.g. "−40 %", as SLO dashboards do).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorBudget {
    /// Allowed bad events (or seconds): `(1 − objective) × total`.
    pub total: f64,
    /// Bad events (or seconds) so far: `total − good`.
    pub spent: f64,
    /// `total − spent` (negative when overspent).
    pub remaining: f64,
    /// `remaining / total × 100`; 100 when nothing was counted.
    pub remaining_percent: f64,
}

/// A non-negative finite number, or 0.
fn sane(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

impl ErrorBudget {
    /// The budget from `good` out of `total` events (or seconds) against
    /// `objective`. Negative or non-finite inputs count as 0 and `good` is
    /// capped at `total`. With a budget of zero (nothing counted, or an
    /// objective of 1), `remaining_percent` is 100 when nothing was spent
    /// and 0 otherwise.
    ///
    /// ```
    /// use healthcore::slo::ErrorBudget;
    /// // 99.9 % over 1,000,000 requests allows 1,000 bad; 250 were bad.
    /// let b = ErrorBudget::from_counts(999_750.0, 1_000_000.0, 0.999);
    /// assert!((b.total - 1000.0).abs() < 1e-6);
    /// assert!((b.remaining_percent - 75.0).abs() < 1e-6);
    /// ```
    pub fn from_counts(good: f64, total: f64, objective: f64) -> Self {
        let total_events = sane(total);
        let good = sane(good).min(total_events);
        let allowed = (1.0 - objective).clamp(0.0, 1.0);
        let allowed = if allowed.is_nan() { 0.0 } else { allowed };
        let budget = allowed * total_events;
        let spent = total_events - good;
        let remaining = budget - spent;
        let remaining_percent = if budget > 0.0 {
            remaining / budget * 100.0
        } else if spent > 0.0 {
            0.0
        } else {
            100.0
        };
        Self {
            total: budget,
            spent,
            remaining,
            remaining_percent,
        }
    }

    /// The time-based budget over an uptime report: counted seconds are
    /// healthy + degraded + down (unknown and maintenance excluded), good
    /// seconds are `percent × counted` (so degraded counts at the report's
    /// degraded weight).
    pub fn from_report(report: &UptimeReport, objective: f64) -> Self {
        let counted = report.healthy_seconds + report.degraded_seconds + report.down_seconds;
        let good = report.percent.map_or(0.0, |p| p / 100.0 * counted);
        Self::from_counts(good, counted, objective)
    }
}

/// How fast the budget burns: the error ratio `bad / total` divided by the
/// allowed ratio `1 − objective`. 1.0 spends exactly the budget over the
/// period; 14.4 spends a 30-day budget in just over two days.
///
/// No events give 0. Negative or non-finite inputs count as 0 and the
/// error ratio is capped at 1. An objective of 1 or more (no budget) gives
/// infinity for any badness.
///
/// ```
/// use healthcore::slo::burn_rate;
/// assert!((burn_rate(144.0, 10_000.0, 0.999) - 14.4).abs() < 1e-9);
/// assert_eq!(burn_rate(0.0, 0.0, 0.999), 0.0);
/// ```
pub fn burn_rate(bad: f64, total: f64, objective: f64) -> f64 {
    let total = sane(total);
    if total == 0.0 {
        return 0.0;
    }
    let ratio = (sane(bad) / total).min(1.0);
    let allowed = 1.0 - objective;
    if ratio == 0.0 {
        0.0
    } else if allowed > 0.0 {
        ratio / allowed.min(1.0)
    } else {
        f64::INFINITY
    }
}

/// The burn rate over an uptime report (time-weighted, degraded counted
/// at the report's weight); `None` when nothing was counted.
pub fn burn_rate_from_report(report: &UptimeReport, objective: f64) -> Option<f64> {
    report
        .percent
        .map(|p| burn_rate((100.0 - p).max(0.0), 100.0, objective))
}

/// The fraction of a period's budget consumed by burning at `rate` for
/// `window`: `rate × window / period` (the SRE workbook's table). 0 when
/// the period is zero.
///
/// ```
/// use healthcore::slo::budget_consumed;
/// use std::time::Duration;
/// let h = Duration::from_secs(3600);
/// assert!((budget_consumed(14.4, h, h * 24 * 30) - 0.02).abs() < 1e-12);
/// ```
pub fn budget_consumed(rate: f64, window: Duration, period: Duration) -> f64 {
    if period.is_zero() {
        return 0.0;
    }
    sane(rate) * window.as_secs_f64() / period.as_secs_f64()
}

/// How urgent a burn alert is. `Ord`: `Ticket < Page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BurnSeverity {
    /// Open a ticket: fix within days.
    Ticket,
    /// Page someone now.
    Page,
}

impl BurnSeverity {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            BurnSeverity::Ticket => "ticket",
            BurnSeverity::Page => "page",
        }
    }
}

/// One multiwindow burn-rate rule: fires when the burn rate over both the
/// `long` and the `short` window exceeds `factor`. The short window makes
/// the alert reset soon after the burn stops.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnRule {
    /// The long window (e.g. 1 h).
    #[serde(with = "humantime_serde")]
    pub long: Duration,
    /// The short window (e.g. 5 m; the workbook uses 1/12 of the long).
    #[serde(with = "humantime_serde")]
    pub short: Duration,
    /// The burn rate both windows must exceed.
    pub factor: f64,
    /// What firing means.
    pub severity: BurnSeverity,
}

const HOUR: u64 = 3600;

/// The SRE workbook's recommended rules for a 99.9 %, 30-day SLO:
/// 1 h & 5 m at 14.4× → page (2 % of the budget), 6 h & 30 m at 6× → page
/// (5 %), 3 d & 6 h at 1× → ticket (10 %).
pub const DEFAULT_BURN_RULES: [BurnRule; 3] = [
    BurnRule {
        long: Duration::from_secs(HOUR),
        short: Duration::from_secs(5 * 60),
        factor: 14.4,
        severity: BurnSeverity::Page,
    },
    BurnRule {
        long: Duration::from_secs(6 * HOUR),
        short: Duration::from_secs(30 * 60),
        factor: 6.0,
        severity: BurnSeverity::Page,
    },
    BurnRule {
        long: Duration::from_secs(3 * 24 * HOUR),
        short: Duration::from_secs(6 * HOUR),
        factor: 1.0,
        severity: BurnSeverity::Ticket,
    },
];

impl BurnRule {
    /// Checks `0 < short < long` and a finite `factor > 0`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.short.is_zero() {
            return Err(ValidationError::new("short", "must be greater than 0"));
        }
        if self.long <= self.short {
            return Err(ValidationError::new(
                "long",
                "must be longer than the short window",
            ));
        }
        if !(self.factor.is_finite() && self.factor > 0.0) {
            return Err(ValidationError::new(
                "factor",
                "must be a finite number greater than 0",
            ));
        }
        Ok(())
    }

    /// The fraction of a `period`'s budget spent by burning at `factor`
    /// over `long`: the budget this rule lets burn before it fires.
    pub fn budget_consumed(&self, period: Duration) -> f64 {
        budget_consumed(self.factor, self.long, period)
    }

    /// True when both rates exceed the factor (strictly, as the workbook's
    /// `>`); a missing or NaN rate never fires.
    pub fn fires(&self, long_rate: Option<f64>, short_rate: Option<f64>) -> bool {
        matches!((long_rate, short_rate), (Some(l), Some(s)) if l > self.factor && s > self.factor)
    }
}

/// A firing burn rule with the rates that made it fire.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BurnAlert {
    /// The rule that fired.
    pub rule: BurnRule,
    /// Burn rate over the rule's long window.
    pub long_rate: f64,
    /// Burn rate over the rule's short window.
    pub short_rate: f64,
}

/// Evaluates `rules`, asking `rate_of(window)` for the burn rate over each
/// window (`None` = not enough data: that rule does not fire). Returns the
/// most severe firing rule; among equally severe ones, the highest factor,
/// then the first listed. Does not allocate.
///
/// ```
/// use healthcore::slo::{evaluate_burn, BurnSeverity, DEFAULT_BURN_RULES};
/// // a steady 10× burn: the 6× page rule fires, the 14.4× one does not
/// let alert = evaluate_burn(&DEFAULT_BURN_RULES, |_| Some(10.0)).unwrap();
/// assert_eq!(alert.rule.factor, 6.0);
/// assert_eq!(alert.rule.severity, BurnSeverity::Page);
/// ```
pub fn evaluate_burn(
    rules: &[BurnRule],
    rate_of: impl Fn(Duration) -> Option<f64>,
) -> Option<BurnAlert> {
    let mut best: Option<BurnAlert> = None;
    for rule in rules {
        if let Some(b) = &best {
            // cannot beat the current best: skip its rate queries
            if (rule.severity, rule.factor) <= (b.rule.severity, b.rule.factor) {
                continue;
            }
        }
        // the long window first: the short one is only asked when it fires
        let long_rate = match rate_of(rule.long) {
            Some(l) if l > rule.factor => l,
            _ => continue,
        };
        match rate_of(rule.short) {
            Some(s) if s > rule.factor => {
                best = Some(BurnAlert {
                    rule: *rule,
                    long_rate,
                    short_rate: s,
                });
            }
            _ => {}
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::{Bucket, Granularity};
    use crate::uptime::UptimeConfig;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;
    use std::cell::Cell;

    const H: Duration = Duration::from_secs(3600);
    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn slo_validation_and_serde() {
        assert!(Slo::new(0.999, DEFAULT_PERIOD).is_ok());
        for bad in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
            assert_eq!(
                Slo::new(bad, DEFAULT_PERIOD).unwrap_err().field(),
                "objective"
            );
        }
        assert_eq!(
            Slo::new(0.99, Duration::ZERO).unwrap_err().field(),
            "period"
        );
        let slo: Slo = serde_json::from_str(r#"{"objective":0.995}"#).unwrap();
        assert_eq!(slo.period, DEFAULT_PERIOD);
        assert_eq!(DEFAULT_PERIOD, H * 24 * 30);
        let e = serde_json::from_str::<Slo>(r#"{"objective":0.9,"window":"1d"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"));
        assert!(serde_json::from_str::<Slo>(r#"{"period":"1d"}"#).is_err());
        let v = serde_json::to_value(slo).unwrap();
        assert_eq!(v["period"], "30days");
        assert_eq!(serde_json::from_value::<Slo>(v).unwrap(), slo);
    }

    #[test]
    fn error_budget_from_counts() {
        let b = ErrorBudget::from_counts(999_000.0, 1_000_000.0, 0.999);
        assert!((b.total - 1000.0).abs() < 1e-6);
        assert!((b.spent - 1000.0).abs() < 1e-9);
        assert!(b.remaining.abs() < 1e-6);
        assert!(b.remaining_percent.abs() < 1e-6);
        // overspent goes negative
        let b = ErrorBudget::from_counts(998_000.0, 1_000_000.0, 0.999);
        assert!((b.remaining_percent + 100.0).abs() < 1e-6);
        // all good
        let b = ErrorBudget::from_counts(500.0, 500.0, 0.99);
        assert_eq!(b.spent, 0.0);
        assert!((b.remaining_percent - 100.0).abs() < 1e-9);
        // nothing counted
        let b = ErrorBudget::from_counts(0.0, 0.0, 0.999);
        assert_eq!((b.total, b.spent, b.remaining_percent), (0.0, 0.0, 100.0));
        // nonsense input does not panic and stays finite
        let b = ErrorBudget::from_counts(f64::NAN, -5.0, 2.0);
        assert_eq!(b.remaining_percent, 100.0);
        let b = ErrorBudget::from_counts(1.0, 10.0, 1.0);
        assert_eq!((b.total, b.remaining_percent), (0.0, 0.0));
        let b = ErrorBudget::from_counts(20.0, 10.0, 0.9); // good capped at total
        assert_eq!(b.spent, 0.0);
        let slo = Slo::new(0.9, DEFAULT_PERIOD).unwrap();
        assert_eq!(
            slo.budget(9.0, 10.0),
            ErrorBudget::from_counts(9.0, 10.0, 0.9)
        );
    }

    #[test]
    fn error_budget_from_report() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut b = Bucket::new(Granularity::Day, t0);
        // 1000 s counted: 990 healthy, 10 down; 500 s unknown are ignored
        b.add_time_ms(crate::model::Status::Healthy, false, 990_000);
        b.add_time_ms(crate::model::Status::Down, false, 10_000);
        b.add_time_ms(crate::model::Status::Unknown, false, 500_000);
        let r = UptimeReport::from_totals(&b, t0, t0, &UptimeConfig::default());
        let slo = Slo::new(0.98, DEFAULT_PERIOD).unwrap();
        let budget = slo.budget_from_report(&r);
        assert!((budget.total - 20.0).abs() < 1e-9);
        assert!((budget.spent - 10.0).abs() < 1e-9);
        assert!((budget.remaining_percent - 50.0).abs() < 1e-9);
        let rate = burn_rate_from_report(&r, 0.98).unwrap();
        assert!((rate - 0.5).abs() < 1e-9);
        let empty = UptimeReport::from_totals(&Bucket::sum(), t0, t0, &UptimeConfig::default());
        assert_eq!(burn_rate_from_report(&empty, 0.98), None);
        assert_eq!(slo.budget_from_report(&empty).remaining_percent, 100.0);
    }

    #[test]
    fn burn_rates() {
        assert!((burn_rate(1.0, 1000.0, 0.999) - 1.0).abs() < 1e-9);
        assert!((burn_rate(6.0, 1000.0, 0.999) - 6.0).abs() < 1e-9);
        assert_eq!(burn_rate(0.0, 1000.0, 0.999), 0.0);
        assert_eq!(burn_rate(5.0, 0.0, 0.999), 0.0);
        assert_eq!(burn_rate(5.0, f64::NAN, 0.999), 0.0);
        assert_eq!(burn_rate(5.0, 10.0, 1.0), f64::INFINITY);
        assert_eq!(burn_rate(0.0, 10.0, 1.0), 0.0);
        // ratio capped at 1: all bad at 99 % gives 100×
        assert!((burn_rate(50.0, 10.0, 0.99) - 100.0).abs() < 1e-9);
        let slo = Slo::new(0.99, DEFAULT_PERIOD).unwrap();
        assert!((slo.burn_rate(1.0, 100.0) - 1.0).abs() < 1e-9);
        assert!((slo.allowed_bad_fraction() - 0.01).abs() < 1e-12);
    }

    /// The SRE workbook's table for a 30-day period: budget consumed when
    /// each rule fires.
    #[test]
    fn workbook_table() {
        let period = DEFAULT_PERIOD;
        let [fast, slow, ticket] = DEFAULT_BURN_RULES;
        assert_eq!((fast.long, fast.short, fast.factor), (H, 5 * MIN, 14.4));
        assert_eq!(fast.severity, BurnSeverity::Page);
        assert_eq!((slow.long, slow.short, slow.factor), (6 * H, 30 * MIN, 6.0));
        assert_eq!(slow.severity, BurnSeverity::Page);
        assert_eq!(
            (ticket.long, ticket.short, ticket.factor),
            (72 * H, 6 * H, 1.0)
        );
        assert_eq!(ticket.severity, BurnSeverity::Ticket);
        assert!((fast.budget_consumed(period) - 0.02).abs() < 1e-12);
        assert!((slow.budget_consumed(period) - 0.05).abs() < 1e-12);
        assert!((ticket.budget_consumed(period) - 0.10).abs() < 1e-12);
        assert!((budget_consumed(14.4, H, period) - 0.02).abs() < 1e-12);
        assert_eq!(budget_consumed(1.0, H, Duration::ZERO), 0.0);
        // the short window is 1/12 of the long one
        for r in DEFAULT_BURN_RULES {
            r.validate().unwrap();
            assert_eq!(r.long.as_secs(), r.short.as_secs() * 12);
        }
    }

    #[test]
    fn burn_rule_validation_and_serde() {
        let mut r = DEFAULT_BURN_RULES[0];
        r.short = Duration::ZERO;
        assert_eq!(r.validate().unwrap_err().field(), "short");
        r.short = 2 * H;
        assert_eq!(r.validate().unwrap_err().field(), "long");
        r.short = MIN;
        r.factor = 0.0;
        assert_eq!(r.validate().unwrap_err().field(), "factor");
        r.factor = f64::NAN;
        assert_eq!(r.validate().unwrap_err().field(), "factor");
        let v = serde_json::to_value(DEFAULT_BURN_RULES[0]).unwrap();
        assert_eq!(v["long"], "1h");
        assert_eq!(v["short"], "5m");
        assert_eq!(v["severity"], "page");
        let back: BurnRule = serde_json::from_value(v).unwrap();
        assert_eq!(back, DEFAULT_BURN_RULES[0]);
        assert!(
            serde_json::from_str::<BurnRule>(
                r#"{"long":"1h","short":"5m","factor":2,"severity":"page","x":1}"#
            )
            .is_err()
        );
        assert!(BurnSeverity::Ticket < BurnSeverity::Page);
        assert_eq!(BurnSeverity::Page.as_str(), "page");
    }

    fn rates<const N: usize>(pairs: [(Duration, f64); N]) -> impl Fn(Duration) -> Option<f64> {
        move |w| pairs.iter().find(|(d, _)| *d == w).map(|(_, r)| *r)
    }

    #[test]
    fn both_windows_must_exceed() {
        // long over 14.4 but short below: the burn already stopped
        let f = rates([(H, 20.0), (Duration::from_secs(300), 2.0)]);
        assert_eq!(evaluate_burn(&DEFAULT_BURN_RULES, f), None);
        // equal to the factor does not fire (strictly greater)
        let f = rates([(H, 14.4), (Duration::from_secs(300), 14.4)]);
        assert_eq!(evaluate_burn(&DEFAULT_BURN_RULES[..1], f), None);
        let f = rates([(H, 14.5), (Duration::from_secs(300), 30.0)]);
        let a = evaluate_burn(&DEFAULT_BURN_RULES, f).unwrap();
        assert_eq!(a.rule, DEFAULT_BURN_RULES[0]);
        assert_eq!((a.long_rate, a.short_rate), (14.5, 30.0));
    }

    #[test]
    fn most_severe_wins() {
        // everything burning at 20×: both page rules and the ticket fire;
        // the highest-factor page wins
        let a = evaluate_burn(&DEFAULT_BURN_RULES, |_| Some(20.0)).unwrap();
        assert_eq!(a.rule.factor, 14.4);
        // order of rules does not matter
        let mut rev = DEFAULT_BURN_RULES;
        rev.reverse();
        assert_eq!(
            evaluate_burn(&rev, |_| Some(20.0)).unwrap().rule.factor,
            14.4
        );
        // only the ticket rule: slow burn at 2×
        let a = evaluate_burn(&DEFAULT_BURN_RULES, |_| Some(2.0)).unwrap();
        assert_eq!(a.rule.severity, BurnSeverity::Ticket);
        // a page beats a higher-factor ticket
        let rules = [
            BurnRule {
                factor: 50.0,
                severity: BurnSeverity::Ticket,
                ..DEFAULT_BURN_RULES[0]
            },
            DEFAULT_BURN_RULES[1],
        ];
        let a = evaluate_burn(&rules, |_| Some(60.0)).unwrap();
        assert_eq!(a.rule.severity, BurnSeverity::Page);
        // no data, NaN or no rules: nothing fires
        assert_eq!(evaluate_burn(&DEFAULT_BURN_RULES, |_| None), None);
        assert_eq!(evaluate_burn(&DEFAULT_BURN_RULES, |_| Some(f64::NAN)), None);
        assert_eq!(evaluate_burn(&[], |_| Some(100.0)), None);
    }

    #[test]
    fn skips_queries_that_cannot_win() {
        let calls = Cell::new(0);
        let a = evaluate_burn(&DEFAULT_BURN_RULES, |_| {
            calls.set(calls.get() + 1);
            Some(20.0)
        });
        assert_eq!(a.unwrap().rule.factor, 14.4);
        assert_eq!(calls.get(), 2); // the first rule fired; the others cannot beat it
    }

    proptest! {
        #[test]
        fn budget_and_rate_are_consistent(
            good in 0.0f64..1e9,
            extra in 0.0f64..1e9,
            objective in 0.5f64..0.99999,
        ) {
            let total = good + extra;
            let b = ErrorBudget::from_counts(good, total, objective);
            prop_assert!(b.total >= 0.0 && b.spent >= 0.0);
            prop_assert!(b.remaining_percent <= 100.0 + 1e-9);
            prop_assert!(b.remaining_percent.is_finite());
            let rate = burn_rate(total - good, total, objective);
            prop_assert!(rate >= 0.0 && rate.is_finite());
            // burning at rate r for the whole period spends r budgets
            if total > 0.0 && b.total > 0.0 {
                prop_assert!((b.spent / b.total - rate).abs() <= 1e-6 * rate.max(1.0));
            }
            // over budget exactly when burning faster than 1×
            if b.remaining < -1e-6 * b.total.max(1.0) {
                prop_assert!(rate > 1.0 - 1e-9);
            }
        }

        #[test]
        fn evaluate_returns_a_firing_rule(
            r1 in prop::option::of(0.0f64..40.0),
            r2 in prop::option::of(0.0f64..40.0),
            r3 in prop::option::of(0.0f64..40.0),
        ) {
            let table = [(H, r1), (5 * MIN, r2), (6 * H, r3), (30 * MIN, r1), (72 * H, r2)];
            let rate_of = |w: Duration| table.iter().find(|(d, _)| *d == w).and_then(|(_, r)| *r);
            let got = evaluate_burn(&DEFAULT_BURN_RULES, rate_of);
            let firing: Vec<&BurnRule> = DEFAULT_BURN_RULES
                .iter()
                .filter(|r| r.fires(rate_of(r.long), rate_of(r.short)))
                .collect();
            match got {
                None => prop_assert!(firing.is_empty()),
                Some(a) => {
                    prop_assert!(a.rule.fires(Some(a.long_rate), Some(a.short_rate)));
                    for f in firing {
                        prop_assert!((f.severity, f.factor) <= (a.rule.severity, a.rule.factor));
                    }
                }
            }
        }
    }
}
