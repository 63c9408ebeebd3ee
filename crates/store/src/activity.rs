//! Progress entries (append-only), notes and status events: what an
//! opportunity's timeline is made of.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use prm_domain::ids::{OpportunityId, OrgId, UserId};
use prm_domain::opportunity::{Phase, Status};
use prm_domain::reason::ReasonCode;
use uuid::Uuid;

use crate::stored::{Key, Text};

use crate::schema::{notes, opportunity_changes, opportunity_events, progress_entries};

/// Where the previous timeline page ended.
pub type TimelineAfter = (DateTime<Utc>, Uuid);

/// `$q`, a boxed query on `$table`, continued after `$after` newest first,
/// at most `$limit` rows: the timeline's one keyset, shared by every kind
/// of item in it.
macro_rules! newest_first {
    ($q:expr, $table:ident, $after:expr, $limit:expr) => {{
        let mut q = $q;
        if let Some((t, id)) = $after {
            q = q.filter(
                $table::created_at
                    .lt(t)
                    .or($table::created_at.eq(t).and($table::id.lt(id))),
            );
        }
        q.order(($table::created_at.desc(), $table::id.desc()))
            .limit($limit)
    }};
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = progress_entries, check_for_backend(diesel::pg::Pg))]
pub struct ProgressEntry {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub opportunity_id: OpportunityId,
    #[diesel(deserialize_as = Uuid)]
    pub author_user_id: UserId,
    #[diesel(deserialize_as = Uuid)]
    pub author_org_id: OrgId,
    #[diesel(deserialize_as = Text<Phase>)]
    pub development_phase: Phase,
    pub win_probability: i16,
    pub technical_exchange: Option<String>,
    pub test_details: Option<String>,
    pub progress_details: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = progress_entries, treat_none_as_default_value = false)]
pub struct NewProgress {
    pub id: Uuid,
    #[diesel(serialize_as = Uuid)]
    pub opportunity_id: OpportunityId,
    #[diesel(serialize_as = Uuid)]
    pub author_user_id: UserId,
    #[diesel(serialize_as = Uuid)]
    pub author_org_id: OrgId,
    #[diesel(serialize_as = Text<Phase>)]
    pub development_phase: Phase,
    pub win_probability: i16,
    pub technical_exchange: Option<String>,
    pub test_details: Option<String>,
    pub progress_details: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notes, check_for_backend(diesel::pg::Pg))]
pub struct Note {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub opportunity_id: OpportunityId,
    #[diesel(deserialize_as = Uuid)]
    pub author_user_id: UserId,
    #[diesel(deserialize_as = Uuid)]
    pub author_org_id: OrgId,
    pub body: String,
    pub internal: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = notes, treat_none_as_default_value = false)]
pub struct NewNote {
    pub id: Uuid,
    #[diesel(serialize_as = Uuid)]
    pub opportunity_id: OpportunityId,
    #[diesel(serialize_as = Uuid)]
    pub author_user_id: UserId,
    #[diesel(serialize_as = Uuid)]
    pub author_org_id: OrgId,
    pub body: String,
    pub internal: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = opportunity_events, check_for_backend(diesel::pg::Pg))]
pub struct Event {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub opportunity_id: OpportunityId,
    #[diesel(deserialize_as = Key<Option<UserId>>)]
    pub actor_user_id: Option<UserId>,
    pub action: String,
    #[diesel(deserialize_as = Text<Option<Status>>)]
    pub from_status: Option<Status>,
    #[diesel(deserialize_as = Text<Status>)]
    pub to_status: Status,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    #[diesel(deserialize_as = Key<Option<OrgId>>)]
    pub actor_org_id: Option<OrgId>,
    #[diesel(deserialize_as = Key<Option<OrgId>>)]
    pub partner_org_id: Option<OrgId>,
    /// What else the action changed: `[{field, old, new}]`.
    pub changes: serde_json::Value,
    /// A user's reason code (decline, return, reject, cancel, a lost close).
    #[diesel(deserialize_as = Text<Option<ReasonCode>>)]
    pub reason_code: Option<ReasonCode>,
}

/// One change to an opportunity's description (field history): its fields'
/// old and new values as recorded, `[{"field", "old", "new"}]`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = opportunity_changes, check_for_backend(diesel::pg::Pg))]
pub struct FieldChanges {
    pub id: Uuid,
    #[diesel(deserialize_as = Uuid)]
    pub opportunity_id: OpportunityId,
    #[diesel(deserialize_as = Key<Option<UserId>>)]
    pub actor_user_id: Option<UserId>,
    #[diesel(deserialize_as = Key<Option<OrgId>>)]
    pub actor_org_id: Option<OrgId>,
    /// The opportunity's status when the change was made.
    #[diesel(deserialize_as = Text<Status>)]
    pub status: Status,
    pub changes: serde_json::Value,
    /// The transaction's time, as the opportunity's `updated_at`.
    pub created_at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct NewFieldChanges {
    pub id: Uuid,
    pub opportunity_id: OpportunityId,
    pub actor_user_id: Option<UserId>,
    pub actor_org_id: Option<OrgId>,
    pub status: Status,
    pub changes: serde_json::Value,
}

impl FieldChanges {
    /// Changes newest first, after a keyset position; `with_drafts: false`
    /// leaves out those made while the opportunity was a draft.
    pub fn page(
        conn: &mut PgConnection,
        opportunity: OpportunityId,
        with_drafts: bool,
        after: Option<TimelineAfter>,
        limit: i64,
    ) -> QueryResult<Vec<FieldChanges>> {
        let mut q = opportunity_changes::table
            .filter(opportunity_changes::opportunity_id.eq(opportunity.0))
            .select(FieldChanges::as_select())
            .into_boxed();
        if !with_drafts {
            q = q.filter(opportunity_changes::status.ne(Status::Draft.as_str()));
        }
        newest_first!(q, opportunity_changes, after, limit).load(conn)
    }
}

impl ProgressEntry {
    pub fn insert(conn: &mut PgConnection, new: NewProgress) -> QueryResult<ProgressEntry> {
        diesel::insert_into(progress_entries::table)
            .values(new)
            .returning(ProgressEntry::as_returning())
            .get_result(conn)
    }

    /// Entries newest first, after a keyset position.
    pub fn page(
        conn: &mut PgConnection,
        opportunity: OpportunityId,
        after: Option<TimelineAfter>,
        limit: i64,
    ) -> QueryResult<Vec<ProgressEntry>> {
        let q = progress_entries::table
            .filter(progress_entries::opportunity_id.eq(opportunity.0))
            .select(ProgressEntry::as_select())
            .into_boxed();
        newest_first!(q, progress_entries, after, limit).load(conn)
    }
}

impl Note {
    pub fn insert(conn: &mut PgConnection, new: NewNote) -> QueryResult<Note> {
        diesel::insert_into(notes::table)
            .values(new)
            .returning(Note::as_returning())
            .get_result(conn)
    }

    /// Notes newest first that the given org may read: shared ones and its
    /// own internal ones (`None`: every note).
    pub fn page(
        conn: &mut PgConnection,
        opportunity: OpportunityId,
        reader_org: Option<OrgId>,
        after: Option<TimelineAfter>,
        limit: i64,
    ) -> QueryResult<Vec<Note>> {
        let mut q = notes::table
            .filter(notes::opportunity_id.eq(opportunity.0))
            .select(Note::as_select())
            .into_boxed();
        if let Some(org) = reader_org {
            q = q.filter(notes::internal.eq(false).or(notes::author_org_id.eq(org.0)));
        }
        newest_first!(q, notes, after, limit).load(conn)
    }
}

impl Event {
    /// Status events newest first; `concerning` restricts to events acted by
    /// or concerning those orgs (`None`: all).
    pub fn page(
        conn: &mut PgConnection,
        opportunity: OpportunityId,
        concerning: Option<&[OrgId]>,
        after: Option<TimelineAfter>,
        limit: i64,
    ) -> QueryResult<Vec<Event>> {
        let mut q = opportunity_events::table
            .filter(opportunity_events::opportunity_id.eq(opportunity.0))
            .select(Event::as_select())
            .into_boxed();
        if let Some(orgs) = concerning {
            q = q.filter(
                opportunity_events::actor_org_id
                    .assume_not_null()
                    .eq_any(orgs.iter().map(|o| o.0).collect::<Vec<_>>())
                    .or(opportunity_events::partner_org_id
                        .assume_not_null()
                        .eq_any(orgs.iter().map(|o| o.0).collect::<Vec<_>>())),
            );
        }
        newest_first!(q, opportunity_events, after, limit).load(conn)
    }
}

/// The latest progress entry's phase, if any.
pub fn latest_phase(
    conn: &mut PgConnection,
    opportunity: OpportunityId,
) -> QueryResult<Option<Phase>> {
    progress_entries::table
        .filter(progress_entries::opportunity_id.eq(opportunity.0))
        .order((
            progress_entries::created_at.desc(),
            progress_entries::id.desc(),
        ))
        .select(progress_entries::development_phase)
        .first::<Text<Phase>>(conn)
        .optional()
        .map(|p| p.map(|p| p.0))
}
