//! What a caller may change of an opportunity with `PATCH`: its editable
//! fields, judged by the same table row that decides `edit`, and the
//! authorization of an edit through them.

use std::fmt;
use std::str::FromStr;

use super::{Action, Verdict, decide, judge};
use crate::actor::Actor;
use crate::error::DomainError;
use crate::opportunity::OpportunityFacts;

/// A field of the opportunity's description that an edit may change, by
/// the name the API gives it (the edit body's field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Topic,
    /// The whole contact: name, e-mail, phone, title.
    Contact,
    /// Amount and currency together.
    EstimatedRevenue,
    ExpectedCloseDate,
    CustomerSituation,
    CustomerNeed,
    ProposedSolution,
    Country,
    Industry,
    ProductLines,
}

impl Field {
    pub const ALL: [Field; 10] = [
        Field::Topic,
        Field::Contact,
        Field::EstimatedRevenue,
        Field::ExpectedCloseDate,
        Field::CustomerSituation,
        Field::CustomerNeed,
        Field::ProposedSolution,
        Field::Country,
        Field::Industry,
        Field::ProductLines,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Field::Topic => "topic",
            Field::Contact => "contact",
            Field::EstimatedRevenue => "estimated_revenue",
            Field::ExpectedCloseDate => "expected_close_date",
            Field::CustomerSituation => "customer_situation",
            Field::CustomerNeed => "customer_need",
            Field::ProposedSolution => "proposed_solution",
            Field::Country => "country",
            Field::Industry => "industry",
            Field::ProductLines => "product_lines",
        }
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Field::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown field `{s}`"))
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rule: what `actor` may change of `opp` now. Whoever the table lets edit
/// it (vendor writers: any open one; the creating partner's admin, creator
/// or owner while `pending_approval`; the primary partner's admin or owner
/// while `accepted`) may change every field of its description; anyone
/// else nothing. Every opportunity a caller reads carries this list, and
/// [`authorize_edit`] authorizes a `PATCH` by it.
pub fn editable_fields(actor: &Actor, opp: &OpportunityFacts) -> &'static [Field] {
    match judge(actor, opp, Action::Edit) {
        Verdict::Allowed => &Field::ALL,
        _ => &[],
    }
}

/// Authorizes an edit that touches `touched`, by [`editable_fields`]: a
/// caller who may edit nothing gets `decide`'s answer for `edit` (404 when
/// it cannot see the opportunity, 403 when it is not one who edits, 409 in
/// a status it edits in no more); a field outside its list is a 403 naming
/// the field.
pub fn authorize_edit(
    actor: &Actor,
    opp: &OpportunityFacts,
    touched: &[Field],
) -> Result<(), DomainError> {
    let editable = editable_fields(actor, opp);
    if editable.is_empty() {
        decide(actor, opp, Action::Edit)?;
    }
    match touched.iter().find(|f| !editable.contains(f)) {
        Some(field) => Err(DomainError::forbidden(format!(
            "`{field}` is not a field the caller may change now"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::tests::{reseller_admin, vendor};
    use crate::ids::{OrgId, UserId};
    use crate::lifecycle::tests::{Cell, cells};
    use crate::opportunity::tests::facts;
    use crate::opportunity::{Origin, Status};
    use crate::role::Role;

    /// Every status × role × relation: a caller has editable fields exactly
    /// where `decide` lets it edit, and an edit of all of them is
    /// authorized exactly there, refused as `decide` refuses elsewhere.
    #[test]
    fn editable_fields_are_listed_exactly_where_decide_allows_edit() {
        for Cell { actor, opp, .. } in cells() {
            let editable = editable_fields(&actor, &opp);
            let decided = decide(&actor, &opp, Action::Edit);
            assert_eq!(
                !editable.is_empty(),
                decided.is_ok(),
                "{} {}: {decided:?}",
                actor.role,
                opp.status
            );
            assert_eq!(authorize_edit(&actor, &opp, &Field::ALL), decided);
            assert_eq!(authorize_edit(&actor, &opp, &[]), decided);
        }
    }

    #[test]
    fn an_edit_is_refused_as_edit_is_decided_where_no_field_is_editable() {
        let admin = reseller_admin();
        let mut o = facts(
            Status::Accepted,
            Origin::Vendor,
            OrgId::new(),
            UserId::new(),
        );
        o.collaborator_ids = vec![admin.org_id];
        assert!(
            editable_fields(&admin, &o).is_empty(),
            "collaborators edit nothing"
        );
        assert!(matches!(
            authorize_edit(&admin, &o, &[Field::Topic]),
            Err(DomainError::Forbidden(_))
        ));
        let cm = vendor(Role::ChannelManager);
        let won = facts(Status::Won, Origin::Vendor, cm.org_id, cm.user_id);
        assert!(editable_fields(&cm, &won).is_empty());
        assert!(matches!(
            authorize_edit(&cm, &won, &[Field::Topic]),
            Err(DomainError::InvalidTransition { .. })
        ));
        let draft = facts(Status::Draft, Origin::Vendor, cm.org_id, cm.user_id);
        assert_eq!(editable_fields(&cm, &draft), Field::ALL);
        for field in Field::ALL {
            assert_eq!(authorize_edit(&cm, &draft, &[field]), Ok(()), "{field}");
        }
    }

    #[test]
    fn fields_round_trip_through_their_names() {
        for field in Field::ALL {
            assert_eq!(field.as_str().parse::<Field>(), Ok(field));
        }
        assert!("marketing_task_id".parse::<Field>().is_err());
    }
}
