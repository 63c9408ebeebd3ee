//! Activity use cases: append a progress entry or a note to an opportunity.

use prm_domain::Actor;
use prm_domain::events::EventType;
use prm_domain::lifecycle::check_phase;
use prm_domain::opportunity::{Action, Phase};
use prm_store::PgConnection;
use prm_store::activity::{NewNote, NewProgress, Note, ProgressEntry, latest_phase};
use prm_store::opportunities::{Opportunity, StateChanges};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::service::opportunities::locked_for;
use crate::service::{events, trimmed};

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
    id: Uuid,
    cmd: NewProgressCommand,
) -> Result<ProgressEntry, ApiError> {
    locked_for(conn, actor, id, Action::AddProgress)?;
    let latest = latest_phase(conn, id)?
        .map(|p| p.parse::<Phase>())
        .transpose()
        .map_err(ApiError::Internal)?;
    check_phase(actor, latest, cmd.development_phase)?;
    let entry = ProgressEntry::insert(
        conn,
        &NewProgress {
            id: Uuid::now_v7(),
            opportunity_id: id,
            author_user_id: actor.user_id.0,
            author_org_id: actor.org_id.0,
            development_phase: cmd.development_phase.as_str().to_owned(),
            win_probability: cmd.win_probability,
            technical_exchange: trimmed(cmd.technical_exchange),
            test_details: trimmed(cmd.test_details),
            progress_details: trimmed(cmd.progress_details),
        },
    )?;
    Opportunity::change_state(
        conn,
        id,
        &StateChanges {
            pipeline_phase: Some(Some(entry.development_phase.clone())),
            win_probability: Some(Some(entry.win_probability)),
            ..StateChanges::default()
        },
    )?;
    events::opportunity(
        conn,
        EventType::ProgressAdded,
        None,
        id,
        json!({"progress_entry_id": entry.id, "development_phase": entry.development_phase,
               "win_probability": entry.win_probability}),
    )?;
    Ok(entry)
}

/// Adds a note; an `internal` one reaches only the author's org.
pub fn add_note(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    body: &str,
    internal: bool,
) -> Result<Note, ApiError> {
    locked_for(conn, actor, id, Action::AddNote)?;
    let note = Note::insert(
        conn,
        &NewNote {
            id: Uuid::now_v7(),
            opportunity_id: id,
            author_user_id: actor.user_id.0,
            author_org_id: actor.org_id.0,
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
