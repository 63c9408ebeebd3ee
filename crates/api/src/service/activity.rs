//! Activity use cases: append a progress entry or a note to an opportunity,
//! and read them with its status changes as the caller may.

use chrono::{DateTime, Utc};
use prm_domain::Actor;
use prm_domain::events::EventType;
use prm_domain::ids::OpportunityId;
use prm_domain::lifecycle::check_phase;
use prm_domain::opportunity::{Action, Phase, contact_details_visible};
use prm_store::PgConnection;
use prm_store::activity::{
    Event, FieldChanges, NewNote, NewProgress, Note, ProgressEntry, latest_phase,
};
use prm_store::journal::Journal;
use prm_store::opportunities::{Opportunity, StateChanges};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::service::opportunities::{locked_for, visible};
use crate::service::{events, history, trimmed};

/// A new progress report.
#[derive(Debug, Clone)]
pub struct NewProgressCommand {
    pub development_phase: Phase,
    pub win_probability: i16,
    pub technical_exchange: Option<String>,
    pub test_details: Option<String>,
    pub progress_details: Option<String>,
}

/// Adds a progress entry; the latest sets the opportunity's phase and win
/// probability, and partners move the phase forward only.
pub fn add_progress(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    cmd: NewProgressCommand,
) -> Result<ProgressEntry, ApiError> {
    let (view, _) = locked_for(conn, actor, id, Action::AddProgress)?;
    let latest = latest_phase(conn, id)?;
    check_phase(actor, latest, cmd.development_phase)?;
    let entry = ProgressEntry::insert(
        conn,
        NewProgress {
            id: Uuid::now_v7(),
            opportunity_id: id,
            author_user_id: actor.user_id,
            author_org_id: actor.org_id,
            development_phase: cmd.development_phase,
            win_probability: cmd.win_probability,
            technical_exchange: trimmed(cmd.technical_exchange),
            test_details: trimmed(cmd.test_details),
            progress_details: trimmed(cmd.progress_details),
        },
    )?;
    let after = Opportunity::change_state(
        conn,
        id,
        StateChanges {
            pipeline_phase: Some(Some(entry.development_phase)),
            win_probability: Some(Some(entry.win_probability)),
            ..StateChanges::default()
        },
        Some(actor.org_id),
    )?;
    let mut journal = Journal::new();
    history::record_version(&mut journal, &view, &after);
    events::opportunity_after(
        conn,
        journal,
        EventType::ProgressAdded,
        None,
        &after.row,
        &after.facts(),
        json!({"progress_entry_id": entry.id, "development_phase": entry.development_phase.as_str(),
               "win_probability": entry.win_probability}),
    )?;
    Ok(entry)
}

/// Adds a note; an `internal` one reaches only the author's org.
pub fn add_note(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    body: &str,
    internal: bool,
) -> Result<Note, ApiError> {
    locked_for(conn, actor, id, Action::AddNote)?;
    let note = Note::insert(
        conn,
        NewNote {
            id: Uuid::now_v7(),
            opportunity_id: id,
            author_user_id: actor.user_id,
            author_org_id: actor.org_id,
            body: body.trim().to_owned(),
            internal,
        },
    )?;
    events::note(
        conn,
        id,
        actor.org_id,
        actor.is_vendor(),
        note.internal,
        json!({"opportunity_id": id, "note_id": note.id, "internal": note.internal}),
    )?;
    Ok(note)
}

/// Where a page of activity starts: after this (time, id), newest first.
pub type After = Option<(DateTime<Utc>, Uuid)>;

/// Progress entries newest first, of an opportunity the caller sees.
pub fn progress(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    after: After,
    fetch: i64,
) -> Result<Vec<ProgressEntry>, ApiError> {
    visible(conn, actor, id)?;
    Ok(ProgressEntry::page(conn, id, after, fetch)?)
}

/// Notes newest first that the caller may read: shared ones and its own
/// org's internal ones.
pub fn notes(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    after: After,
    fetch: i64,
) -> Result<Vec<Note>, ApiError> {
    visible(conn, actor, id)?;
    Ok(Note::page(conn, id, Some(actor.org_id), after, fetch)?)
}

/// One item of an opportunity's timeline.
#[derive(Debug, Clone)]
pub enum TimelineItem {
    Note(Note),
    Progress(ProgressEntry),
    /// A status change, with what else its action changed.
    StatusChange(Event, Vec<history::Seen>),
    /// A change to the description, its fields as the reader sees them.
    Change(FieldChanges, Vec<history::Seen>),
}

impl TimelineItem {
    /// Where the item sits in the timeline.
    pub fn key(&self) -> (DateTime<Utc>, Uuid) {
        match self {
            TimelineItem::Note(n) => (n.created_at, n.id),
            TimelineItem::Progress(p) => (p.created_at, p.id),
            TimelineItem::StatusChange(e, _) => (e.created_at, e.id),
            TimelineItem::Change(c, _) => (c.created_at, c.id),
        }
    }
}

/// Notes, progress entries, status changes and field changes newest first.
/// Partners see the status changes their orgs made or that concern them,
/// and the field changes made since the opportunity left `draft`, with the
/// contact details withheld while they may not see them.
pub fn timeline(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OpportunityId,
    after: After,
    fetch: i64,
) -> Result<Vec<TimelineItem>, ApiError> {
    let view = visible(conn, actor, id)?;
    let contact_visible = contact_details_visible(actor, &view.facts());
    let scope = (!actor.is_vendor()).then(|| actor.org_scope());
    let mut items: Vec<TimelineItem> = Note::page(conn, id, Some(actor.org_id), after, fetch)?
        .into_iter()
        .map(TimelineItem::Note)
        .collect();
    items.extend(
        ProgressEntry::page(conn, id, after, fetch)?
            .into_iter()
            .map(TimelineItem::Progress),
    );
    for e in Event::page(conn, id, scope.as_deref(), after, fetch)? {
        let seen = history::as_seen(&history::recorded(&e.changes)?, true);
        items.push(TimelineItem::StatusChange(e, seen));
    }
    for c in FieldChanges::page(conn, id, actor.is_vendor(), after, fetch)? {
        let seen = history::as_seen(&history::recorded(&c.changes)?, contact_visible);
        items.push(TimelineItem::Change(c, seen));
    }
    items.sort_by_key(|i| std::cmp::Reverse(i.key()));
    items.truncate(usize::try_from(fetch).unwrap_or(usize::MAX));
    Ok(items)
}
