//! Which fields each version of an opportunity changed (one row per version
//! after the first), for a 412 that names what changed since the version a
//! client sent.

use diesel::prelude::*;
use prm_domain::ids::OpportunityId;

use crate::schema::opportunity_versions;

/// The recorded versions after `version` up to `until`, oldest first, each
/// with the fields it changed (a version with no row is missing).
pub fn between(
    conn: &mut PgConnection,
    id: OpportunityId,
    version: i32,
    until: i32,
) -> QueryResult<Vec<(i32, Vec<String>)>> {
    opportunity_versions::table
        .filter(opportunity_versions::opportunity_id.eq(id.0))
        .filter(opportunity_versions::version.gt(version))
        .filter(opportunity_versions::version.le(until))
        .order(opportunity_versions::version)
        .select((opportunity_versions::version, opportunity_versions::fields))
        .load(conn)
}
