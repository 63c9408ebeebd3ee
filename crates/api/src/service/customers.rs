//! Customer use cases: reading customers with names masked for the caller,
//! and recording each reveal as an event.

use prm_domain::Actor;
use prm_domain::customer as rules;
use prm_store::PgConnection;
use prm_store::customers::{Customer, record_reveals};
use uuid::Uuid;

use crate::error::ApiError;
use crate::service::events;

/// Pairs each customer with whether its name is masked for `actor`; with
/// `reveal`, shows masked names in full and records the reveal (a row per
/// customer and a `customer.revealed` event for the vendor and the
/// revealing org).
pub fn present(
    conn: &mut PgConnection,
    actor: &Actor,
    rows: Vec<Customer>,
    reveal: bool,
) -> Result<Vec<(Customer, bool)>, ApiError> {
    let hidden: Vec<(Uuid, Uuid)> = rows
        .iter()
        .filter(|c| rules::name_is_masked(actor, c.org_id.into()))
        .map(|c| (c.id, c.org_id))
        .collect();
    if reveal && !hidden.is_empty() {
        let ids: Vec<Uuid> = hidden.iter().map(|(c, _)| *c).collect();
        record_reveals(conn, actor.user_id.0, &ids)?;
        events::reveal(conn, actor.org_id, actor.user_id.0, &hidden)?;
    }
    Ok(rows
        .into_iter()
        .map(|c| {
            let masked = !reveal && hidden.iter().any(|(id, _)| *id == c.id);
            (c, masked)
        })
        .collect())
}
