//! Preferred-partner assignment: the explainable ranking, and the capacity
//! every offer is checked against under a lock on the partner.

use prm_domain::assignment::{History, Partner, PastAnswer, Ranking, rank};
use prm_domain::ids::OpportunityId;
use prm_domain::lifecycle::check_capacity;
use prm_domain::policy::Weights;
use prm_domain::{Actor, OrgId};
use prm_store::assignment::{lock_partner as store_lock_partner, open_offers, partners_for};
use prm_store::opportunities::Opportunity;
use prm_store::{Connection, PgConnection};

use crate::error::ApiError;

/// Ranks every partner org for an opportunity with the policy's weights.
pub fn ranking_for(
    conn: &mut PgConnection,
    row: &Opportunity,
    weights: Weights,
) -> Result<Ranking, ApiError> {
    let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    let partners = partners_for(conn, row.id)?
        .into_iter()
        .map(|p| {
            Ok(Partner {
                id: p.id,
                name: p.name,
                active: p.active,
                accepting: p.accepting,
                countries: p.countries,
                industries: p.industries,
                product_lines: p.product_lines,
                tier: p.tier,
                capacity: u32::try_from(p.capacity).unwrap_or(0),
                open: n(p.open),
                history: History {
                    offered: n(p.offered),
                    accepted: n(p.accepted),
                    won: n(p.won),
                    closed: n(p.closed),
                },
                last_assigned_at: p.last_assigned_at,
                past: match p.past.as_deref() {
                    Some("decline") => Some(PastAnswer::Declined),
                    Some("return") => Some(PastAnswer::Returned),
                    Some("expire") => Some(PastAnswer::Expired),
                    _ => None,
                },
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let wanted = prm_domain::assignment::Wanted {
        country: row.details.country.clone(),
        industry: row.details.industry.clone(),
        product_lines: row.details.product_lines.clone(),
    };
    Ok(rank(&wanted, &partners, &weights))
}

/// Takes a slot of `partner`'s capacity for a new offer: locks its org row
/// (held until the transaction ends, so concurrent offers to it are counted
/// one after another), then counts what it holds. 409 `partner_at_capacity`
/// when full.
fn take_slot(conn: &mut PgConnection, partner: OrgId) -> Result<(), ApiError> {
    let capacity = lock_partner(conn, partner)?;
    let open = u32::try_from(open_offers(conn, partner)?).unwrap_or(u32::MAX);
    check_capacity(capacity, open)?;
    Ok(())
}

/// Locks `partner`'s org row until the transaction ends and answers its
/// capacity. Alone, it claims no slot: a vendor writer's own choice may
/// exceed the capacity, but automatic assignments racing it still count it.
pub fn lock_partner(conn: &mut PgConnection, partner: OrgId) -> Result<u32, ApiError> {
    let capacity = store_lock_partner(conn, partner)?
        .ok_or_else(|| ApiError::validation("partner_id", "no such partner org"))?;
    Ok(u32::try_from(capacity).unwrap_or(0))
}

/// The best-ranked candidate that still has a free slot once locked: the
/// ranking read before the lock may be stale when offers race, so each
/// candidate is re-counted under its lock, best first. A full candidate's
/// lock is released at once (its savepoint rolls back), so two callers
/// ranking in different orders never wait on each other.
pub fn best_with_slot(conn: &mut PgConnection, ranking: &Ranking) -> Result<OrgId, ApiError> {
    for candidate in &ranking.candidates {
        match conn.transaction(|c| take_slot(c, candidate.id)) {
            Ok(()) => return Ok(candidate.id),
            Err(ApiError::Conflict {
                code: "partner_at_capacity",
                ..
            }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(no_candidate(ranking))
}

/// Why nobody can be offered the opportunity, for a 409.
pub fn no_candidate(r: &Ranking) -> ApiError {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for e in &r.excluded {
        match counts.iter_mut().find(|(k, _)| *k == e.reason.as_str()) {
            Some((_, n)) => *n += 1,
            None => counts.push((e.reason.as_str(), 1)),
        }
    }
    let full = r.candidates.len();
    if full > 0 {
        counts.push(("at_capacity", full));
    }
    let why = counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    ApiError::Conflict {
        code: "no_candidate",
        detail: if why.is_empty() {
            "no partner org exists to offer it to".to_owned()
        } else {
            format!("no partner can take it: {why}")
        },
    }
}

/// The partner ranking for an opportunity, as automatic distribution would
/// see it now (vendor users).
pub fn candidates(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
) -> Result<Ranking, ApiError> {
    let view = crate::service::opportunities::visible(conn, actor, id)?;
    if !actor.is_vendor() {
        return Err(ApiError::Forbidden {
            code: "forbidden",
            detail: "only vendor users see the partner ranking".to_owned(),
        });
    }
    let weights = prm_store::policies::PolicyRow::load(conn)?.policy().weights;
    ranking_for(conn, &view.row, weights)
}
