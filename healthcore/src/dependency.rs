//! Dependencies between targets: a target may name parents (a switch, a
//! hypervisor, a database). While a parent is down, its children's alerts
//! are suppressed (recorded, not lost) and their downtime is attributed to
//! the parent (DESIGN §4 "Beyond the sources").
//!
//! Owns: finding a down parent, validating the parent graph (known
//! parents, no cycles) of a whole fleet ([`validate_graph`]) or of one
//! target being registered ([`check_acyclic`], which the engine applies
//! to every target it is given), and combining maintenance and a down
//! parent into one [`SuppressReason`].
//!
//! Must not: keep state, read the clock, or compute uptime. Attribution is
//! recorded by the uptime module: while [`down_parent`] names a parent, the
//! child's status window records `attributed_to = parent`, and the child's
//! degraded or down time in such a window is left out of its uptime
//! ([`StatusWindow::excluded`](crate::uptime::StatusWindow::excluded)), so
//! the parent's outage is counted once, on the parent.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::alert::SuppressReason;
use crate::error::ValidationError;
use crate::maintenance::{MaintenanceWindow, in_maintenance};
use crate::model::{Status, Target, TargetId};

/// The first of `target`'s parents (in the order listed) whose status is
/// currently `down`, per `status_of`; `None` when none is (unknown parents
/// and parents with no status count as not down).
///
/// Only direct parents are consulted: a grandparent's outage reaches a
/// child through its parent going down. The parent returned is the one a
/// child's downtime is attributed to.
///
/// ```
/// use healthcore::dependency::down_parent;
/// use healthcore::model::{Status, Target, TargetId};
/// let sw = TargetId::new("switch-1").unwrap();
/// let mut node = Target::new(TargetId::new("node-1").unwrap(), "node-1");
/// node.parents.push(sw.clone());
/// assert_eq!(down_parent(&node, |id| (id == &sw).then_some(Status::Down)), Some(&sw));
/// assert_eq!(down_parent(&node, |_| Some(Status::Degraded)), None);
/// ```
pub fn down_parent(
    target: &Target,
    status_of: impl Fn(&TargetId) -> Option<Status>,
) -> Option<&TargetId> {
    target
        .parents
        .iter()
        .find(|p| status_of(p) == Some(Status::Down))
}

/// Why `target`'s alerts are held at `now`, if they are: an active
/// maintenance window covering it wins over a down parent.
pub fn suppression_for<'a>(
    windows: impl IntoIterator<Item = &'a MaintenanceWindow>,
    target: &Target,
    now: DateTime<Utc>,
    status_of: impl Fn(&TargetId) -> Option<Status>,
) -> Option<SuppressReason> {
    if in_maintenance(windows, target, now) {
        return Some(SuppressReason::Maintenance);
    }
    down_parent(target, status_of).map(|p| SuppressReason::ParentDown { parent: p.clone() })
}

/// Checks the parent graph of a whole fleet: target ids are unique (field
/// `id`), every parent names a known target (field `parents`), and there
/// is no cycle (field `parents`, the cycle spelled out as `a -> b -> a`).
/// Runs in linear time without recursion.
pub fn validate_graph<'a>(
    targets: impl IntoIterator<Item = &'a Target>,
) -> Result<(), ValidationError> {
    let list: Vec<&Target> = targets.into_iter().collect();
    let mut by_id: HashMap<&TargetId, &Target> = HashMap::with_capacity(list.len());
    for t in &list {
        if by_id.insert(&t.id, t).is_some() {
            return Err(ValidationError::new(
                "id",
                format!("duplicate target id {:?}", t.id.as_str()),
            ));
        }
    }
    for t in &list {
        if let Some(p) = t.parents.iter().find(|p| !by_id.contains_key(p)) {
            return Err(ValidationError::new(
                "parents",
                format!(
                    "target {:?} names unknown parent {:?}",
                    t.id.as_str(),
                    p.as_str()
                ),
            ));
        }
    }

    first_cycle(&list, &by_id)
}

/// Checks that `target`, with the parents it names, closes no dependency
/// cycle among the targets `lookup` knows (the rest of a fleet, where
/// `target`'s own id stands for `target` as given, not as stored). Only
/// `target`'s ancestors are visited, so one registration costs its
/// ancestry, not the fleet; parents `lookup` does not know are skipped
/// (their existence is the caller's rule). A cycle found among the
/// ancestors is refused too, with the same error as [`validate_graph`]:
/// field `parents`, the cycle spelled out (`a -> b -> a`).
///
/// ```
/// use std::collections::HashMap;
/// use healthcore::dependency::check_acyclic;
/// use healthcore::model::{Target, TargetId};
/// let id = |s: &str| TargetId::new(s).unwrap();
/// let mut b = Target::new(id("b"), "b");
/// b.parents.push(id("a"));
/// let fleet: HashMap<TargetId, Target> = [(id("b"), b)].into();
/// let mut a = Target::new(id("a"), "a");
/// a.parents.push(id("b"));
/// let err = check_acyclic(&a, |t| fleet.get(t)).unwrap_err();
/// assert_eq!((err.field(), err.rule()), ("parents", "dependency cycle: a -> b -> a"));
/// ```
pub fn check_acyclic<'f>(
    target: &Target,
    lookup: impl Fn(&TargetId) -> Option<&'f Target>,
) -> Result<(), ValidationError> {
    let mut by_id: HashMap<&TargetId, &Target> = HashMap::new();
    by_id.insert(&target.id, target);
    let mut list: Vec<&Target> = vec![target];
    let mut next = 0;
    while let Some(t) = list.get(next).copied() {
        next += 1;
        for p in &t.parents {
            if by_id.contains_key(p) {
                continue;
            }
            if let Some(parent) = lookup(p) {
                by_id.insert(&parent.id, parent);
                list.push(parent);
            }
        }
    }
    first_cycle(&list, &by_id)
}

/// The first cycle of the graph `list` spans (depth-first from each entry
/// in order, iteratively), as a `parents` error; parents outside `by_id`
/// are skipped.
fn first_cycle<'a>(
    list: &[&'a Target],
    by_id: &HashMap<&'a TargetId, &'a Target>,
) -> Result<(), ValidationError> {
    // Iterative depth-first search: 1 = on the current path, 2 = done.
    let mut state: HashMap<&TargetId, u8> = HashMap::with_capacity(list.len());
    let mut path: Vec<(&Target, usize)> = Vec::new();
    for &root in list {
        if state.contains_key(&root.id) {
            continue;
        }
        state.insert(&root.id, 1);
        path.push((root, 0));
        while let Some((node, next)) = path.last_mut() {
            let node: &Target = node;
            let Some(parent_id) = node.parents.get(*next) else {
                state.insert(&node.id, 2);
                path.pop();
                continue;
            };
            *next += 1;
            match state.get(parent_id) {
                Some(2) => {}
                Some(_) => {
                    let start = path
                        .iter()
                        .position(|(t, _)| &t.id == parent_id)
                        .unwrap_or(0);
                    let mut cycle: Vec<&str> = path
                        .get(start..)
                        .unwrap_or_default()
                        .iter()
                        .map(|(t, _)| t.id.as_str())
                        .collect();
                    cycle.push(parent_id.as_str());
                    return Err(ValidationError::new(
                        "parents",
                        format!("dependency cycle: {}", cycle.join(" -> ")),
                    ));
                }
                None => {
                    if let Some(parent) = by_id.get(parent_id) {
                        state.insert(&parent.id, 1);
                        path.push((parent, 0));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::{Schedule, Selector};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn tid(s: &str) -> TargetId {
        TargetId::new(s).unwrap()
    }

    fn target(id: &str, parents: &[&str]) -> Target {
        let mut t = Target::new(tid(id), id);
        t.parents = parents.iter().map(|p| tid(p)).collect();
        t
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn first_down_parent_in_order() {
        let t = target("c", &["p1", "p2", "p3"]);
        let status = |id: &TargetId| match id.as_str() {
            "p1" => Some(Status::Degraded),
            "p2" | "p3" => Some(Status::Down),
            _ => None,
        };
        assert_eq!(down_parent(&t, status).map(TargetId::as_str), Some("p2"));
        assert_eq!(down_parent(&t, |_| None), None);
        assert_eq!(down_parent(&target("x", &[]), |_| Some(Status::Down)), None);
    }

    #[test]
    fn maintenance_wins_over_parent() {
        let child = target("c", &["p"]);
        let parent_down = |id: &TargetId| (id.as_str() == "p").then_some(Status::Down);
        let w = MaintenanceWindow {
            id: "mw".into(),
            name: "mw".into(),
            schedule: Schedule::OneOff {
                start: t0(),
                end: t0() + chrono::TimeDelta::hours(1),
            },
            selector: Selector {
                targets: vec![tid("c")],
                ..Selector::default()
            },
            created_by: None,
        };
        let ws = [w];
        assert_eq!(
            suppression_for(&ws, &child, t0(), parent_down),
            Some(SuppressReason::Maintenance)
        );
        assert_eq!(
            suppression_for(&ws, &child, t0() + chrono::TimeDelta::hours(2), parent_down),
            Some(SuppressReason::ParentDown { parent: tid("p") })
        );
        assert_eq!(
            suppression_for(&ws, &child, t0() + chrono::TimeDelta::hours(2), |_| {
                Some(Status::Healthy)
            }),
            None
        );
    }

    #[test]
    fn graph_ok() {
        let ts = [
            target("core", &[]),
            target("sw1", &["core"]),
            target("sw2", &["core"]),
            target("n1", &["sw1", "sw2"]),
            target("n2", &["sw1"]),
        ];
        validate_graph(&ts).unwrap();
        validate_graph([]).unwrap();
    }

    #[test]
    fn unknown_parent_names_parents() {
        let ts = [target("a", &["ghost"])];
        let err = validate_graph(&ts).unwrap_err();
        assert_eq!(err.field(), "parents");
        assert!(err.rule().contains("ghost"));
    }

    #[test]
    fn duplicate_ids() {
        let ts = [target("a", &[]), target("a", &[])];
        assert_eq!(validate_graph(&ts).unwrap_err().field(), "id");
    }

    #[test]
    fn cycles_are_spelled_out() {
        let ts = [
            target("x", &["a"]),
            target("a", &["b"]),
            target("b", &["c"]),
            target("c", &["a"]),
        ];
        let err = validate_graph(&ts).unwrap_err();
        assert_eq!(err.field(), "parents");
        assert_eq!(err.rule(), "dependency cycle: a -> b -> c -> a");
        let own = [target("s", &["s"])];
        assert_eq!(
            validate_graph(&own).unwrap_err().rule(),
            "dependency cycle: s -> s"
        );
    }

    #[test]
    fn one_registration_is_checked_against_its_ancestry() {
        let fleet: HashMap<TargetId, Target> = [
            target("core", &[]),
            target("sw", &["core"]),
            target("n1", &["sw", "gone"]),
            target("other", &[]),
        ]
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
        let lookup = |id: &TargetId| fleet.get(id);
        // new targets and harmless changes pass; unknown parents are skipped
        check_acyclic(&target("n2", &["n1", "other"]), lookup).unwrap();
        check_acyclic(&target("sw", &["core", "other"]), lookup).unwrap();
        check_acyclic(&target("core", &[]), lookup).unwrap();
        // the stored version of the target is replaced by the given one
        let err = check_acyclic(&target("core", &["n1"]), lookup).unwrap_err();
        assert_eq!(err.field(), "parents");
        assert_eq!(err.rule(), "dependency cycle: core -> n1 -> sw -> core");
        let err = check_acyclic(&target("sw", &["n1"]), lookup).unwrap_err();
        assert_eq!(err.rule(), "dependency cycle: sw -> n1 -> sw");
    }

    #[test]
    fn long_chain_does_not_overflow() {
        let n = 100_000;
        let ts: Vec<Target> = (0..n)
            .map(|i| {
                let id = format!("t{i}");
                if i + 1 < n {
                    target(&id, &[&format!("t{}", i + 1)])
                } else {
                    target(&id, &[])
                }
            })
            .collect();
        validate_graph(&ts).unwrap();
    }

    proptest! {
        #[test]
        fn forward_edges_never_cycle_and_a_back_edge_always_does(
            edges in proptest::collection::vec((0usize..12, 0usize..12), 0..40),
        ) {
            // Edges from lower to higher index form a DAG.
            let mut ts: Vec<Target> = (0..12).map(|i| target(&format!("n{i}"), &[])).collect();
            for (a, b) in &edges {
                let (lo, hi) = if a < b { (*a, *b) } else { (*b, *a) };
                if lo != hi {
                    let p = tid(&format!("n{hi}"));
                    if !ts[lo].parents.contains(&p) {
                        ts[lo].parents.push(p);
                    }
                }
            }
            prop_assert!(validate_graph(&ts).is_ok());
            // registering each one against the rest agrees
            let by_id: HashMap<TargetId, Target> =
                ts.iter().map(|t| (t.id.clone(), t.clone())).collect();
            for t in &ts {
                prop_assert!(check_acyclic(t, |id| by_id.get(id)).is_ok());
            }
            // Close a loop along an existing edge.
            if let Some((lo, p)) = ts.iter().enumerate().find_map(|(i, t)| t.parents.first().map(|p| (i, p.clone()))) {
                let hi: usize = p.as_str()[1..].parse().unwrap();
                ts[hi].parents.push(tid(&format!("n{lo}")));
                let err = validate_graph(&ts).unwrap_err();
                prop_assert_eq!(err.field(), "parents");
                prop_assert!(err.rule().starts_with("dependency cycle: "));
                // registering the closing target alone finds it too
                let by_id: HashMap<TargetId, Target> =
                    ts.iter().map(|t| (t.id.clone(), t.clone())).collect();
                let err = check_acyclic(&ts[hi], |id| by_id.get(id)).unwrap_err();
                prop_assert_eq!(err.field(), "parents");
                let want = format!("dependency cycle: n{hi} -> ");
                prop_assert!(err.rule().starts_with(&want), "{}", err.rule());
            }
        }
    }
}
