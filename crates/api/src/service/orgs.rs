//! Org use cases: partner organizations, their assignment profiles and the
//! reseller → distributor link.

use prm_domain::Actor;
use prm_domain::ids::OrgId;
use prm_domain::org::{self as rules, OrgEdit, OrgKind, Tier};
use prm_domain::values::country_codes;
use prm_store::orgs::{NewOrg, Org, OrgChanges};
use prm_store::{PgConnection, StoreError, diesel_result};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::IfMatch;
use crate::service::{labels, partner_scope};

/// An assignment profile, or the parts of it to change (`None`: as is).
#[derive(Debug, Clone, Default)]
pub struct ProfileCommand {
    pub countries: Option<Vec<String>>,
    pub industries: Option<Vec<String>>,
    pub product_lines: Option<Vec<String>>,
    pub tier: Option<Tier>,
    pub capacity: Option<i32>,
    pub accepting: Option<bool>,
}

impl ProfileCommand {
    fn touches_more_than_accepting(&self) -> bool {
        self.countries.is_some()
            || self.industries.is_some()
            || self.product_lines.is_some()
            || self.tier.is_some()
            || self.capacity.is_some()
    }
}

/// A new partner organization.
#[derive(Debug, Clone)]
pub struct NewOrgCommand {
    pub name: String,
    pub kind: OrgKind,
    pub parent_id: Option<OrgId>,
    pub profile: Option<ProfileCommand>,
}

fn parent_kind(conn: &mut PgConnection, id: Option<OrgId>) -> Result<Option<OrgKind>, ApiError> {
    let Some(id) = id else { return Ok(None) };
    let parent =
        Org::find(conn, id)?.ok_or_else(|| ApiError::validation("parent_id", "no such org"))?;
    Ok(Some(parent.kind))
}

fn duplicate_name(e: diesel_result::Error) -> ApiError {
    let e = StoreError::from(e);
    if e.unique_violation().is_some() {
        ApiError::Conflict {
            code: "duplicate_org_name",
            detail: "an org with this name already exists".to_owned(),
        }
    } else {
        e.into()
    }
}

/// Creates a partner organization (vendor admin).
pub fn create(conn: &mut PgConnection, actor: &Actor, cmd: NewOrgCommand) -> Result<Org, ApiError> {
    rules::can_manage_orgs(actor)?;
    let parent = parent_kind(conn, cmd.parent_id)?;
    rules::check_new_org(cmd.kind, parent)?;
    let p = cmd.profile.unwrap_or_default();
    let new = NewOrg {
        id: OrgId::new(),
        name: cmd.name.trim().to_owned(),
        kind: cmd.kind,
        parent_id: cmd.parent_id,
        countries: p
            .countries
            .as_deref()
            .map(country_codes)
            .unwrap_or_default(),
        industries: p
            .industries
            .as_deref()
            .map(|l| labels(l, "profile.industries"))
            .transpose()?
            .unwrap_or_default(),
        product_lines: p
            .product_lines
            .as_deref()
            .map(|l| labels(l, "profile.product_lines"))
            .transpose()?
            .unwrap_or_default(),
        tier: p.tier.unwrap_or(Tier::Registered),
        capacity: p.capacity.unwrap_or(10),
        accepting: p.accepting.unwrap_or(true),
    };
    Org::insert(conn, new).map_err(duplicate_name)
}

/// A page of the orgs the caller may see: all for vendor users; a
/// partner's own org and, for a distributor, its resellers.
pub fn list(
    conn: &mut PgConnection,
    actor: &Actor,
    kind: Option<OrgKind>,
    after: Option<Uuid>,
    fetch: i64,
) -> Result<Vec<Org>, ApiError> {
    let scope = partner_scope(actor);
    Ok(Org::list(conn, scope.as_deref(), kind, after, fetch)?)
}

/// One org the caller may see, or 404.
pub fn get(conn: &mut PgConnection, actor: &Actor, id: OrgId) -> Result<Org, ApiError> {
    if !rules::can_view_org(actor, id) {
        return Err(ApiError::NotFound);
    }
    Org::find(conn, id)?.ok_or(ApiError::NotFound)
}

/// Changes to an org. Absent fields stay; `parent_id: Some(None)` removes
/// the link.
#[derive(Debug, Clone, Default)]
pub struct EditOrgCommand {
    pub name: Option<String>,
    pub parent_id: Option<Option<OrgId>>,
    pub active: Option<bool>,
    pub profile: Option<ProfileCommand>,
}

/// Changes an org: the vendor admin any field; a partner admin only its own
/// org's `accepting` (pause or resume itself).
pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    id: OrgId,
    if_match: &IfMatch,
    cmd: EditOrgCommand,
) -> Result<Org, ApiError> {
    let edit = OrgEdit {
        other_fields: cmd.name.is_some()
            || cmd.parent_id.is_some()
            || cmd.active.is_some()
            || cmd
                .profile
                .as_ref()
                .is_some_and(ProfileCommand::touches_more_than_accepting),
        accepting: cmd.profile.as_ref().is_some_and(|p| p.accepting.is_some()),
    };
    let current = Org::find_for_update(conn, id)?.ok_or(ApiError::NotFound)?;
    rules::can_edit_org(actor, id, edit)?;
    if_match.check(current.version)?;
    if current.kind == OrgKind::Vendor {
        if cmd.active == Some(false) {
            return Err(ApiError::validation(
                "active",
                "the vendor org cannot be deactivated",
            ));
        }
        if cmd.profile.is_some() || cmd.parent_id.is_some() {
            return Err(ApiError::validation(
                "profile",
                "the vendor org has no assignment profile or parent",
            ));
        }
    }
    if let Some(parent) = cmd.parent_id {
        if parent == Some(id) {
            return Err(ApiError::validation(
                "parent_id",
                "an org cannot be its own parent",
            ));
        }
        rules::check_parent(current.kind, parent_kind(conn, parent)?)?;
    }
    let p = cmd.profile.unwrap_or_default();
    let changes = OrgChanges {
        name: cmd.name.map(|n| n.trim().to_owned()),
        parent_id: cmd.parent_id,
        active: cmd.active,
        countries: p.countries.as_deref().map(country_codes),
        industries: p
            .industries
            .as_deref()
            .map(|l| labels(l, "profile.industries"))
            .transpose()?,
        product_lines: p
            .product_lines
            .as_deref()
            .map(|l| labels(l, "profile.product_lines"))
            .transpose()?,
        tier: p.tier,
        capacity: p.capacity,
        accepting: p.accepting,
    };
    Org::update(conn, id, changes).map_err(duplicate_name)
}
