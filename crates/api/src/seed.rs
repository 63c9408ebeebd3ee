//! Demo data for local use (`prm seed-demo`, run by `make run`): a vendor
//! with its three roles, a distributor with a reseller under it and an
//! unrelated reseller, each with an admin, two account managers and a
//! director; customers; and opportunities in many statuses.

use chrono::{Duration, Utc};
use prm_domain::Actor;
use prm_domain::customer::CustomerIdentity;
use prm_store::actors::{ActorLookup, load_actor};
use prm_store::customers::{Customer, NewCustomer};
use prm_store::marketing::{MarketingTask, NewMarketingTask};
use prm_store::opportunities::{Details, Opportunity, StateChanges};
use prm_store::orgs::{NewOrg, Org};
use prm_store::users::{NewUser, User};
use prm_store::{Connection, PgConnection, StoreError};
use uuid::Uuid;

use crate::config::Config;
use crate::error::ApiError;
use crate::extract::IfMatch;
use crate::service::activity::{NewProgressCommand, add_note, add_progress};
use crate::service::deals::{NewRegistrationCommand, approve, register};
use crate::service::lifecycle::{self, Request, assign_owner, perform};
use crate::service::opportunities::{NewOpportunityCommand, create};
use prm_domain::Role;
use prm_domain::customer::Registration;
use prm_domain::ids::{CustomerId, OpportunityId, OrgId, UserId};
use prm_domain::lifecycle::Command;
use prm_domain::opportunity::Phase;
use prm_domain::org::{OrgKind, Tier};
use prm_domain::reason::ReasonInput;
use prm_domain::values::Money;

/// A demo user to print a token for.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub subject: String,
    pub role: &'static str,
    pub org: String,
}

const MARKER_ORG: &str = "Northwind Distribution";

struct PartnerSpec {
    name: &'static str,
    slug: &'static str,
    kind: OrgKind,
    countries: &'static [&'static str],
    industries: &'static [&'static str],
    product_lines: &'static [&'static str],
    tier: Tier,
    capacity: i32,
}

const PARTNERS: [PartnerSpec; 3] = [
    PartnerSpec {
        name: MARKER_ORG,
        slug: "northwind",
        kind: OrgKind::Distributor,
        countries: &["AT", "DE"],
        industries: &["manufacturing", "retail"],
        product_lines: &["cloud", "security"],
        tier: Tier::Gold,
        capacity: 25,
    },
    PartnerSpec {
        name: "Contoso Reseller",
        slug: "contoso",
        kind: OrgKind::Reseller,
        countries: &["DE"],
        industries: &["retail"],
        product_lines: &["cloud"],
        tier: Tier::Silver,
        capacity: 10,
    },
    PartnerSpec {
        name: "Tailspin Partners",
        slug: "tailspin",
        kind: OrgKind::Reseller,
        countries: &["BE", "FR"],
        industries: &["finance"],
        product_lines: &["security"],
        tier: Tier::Platinum,
        capacity: 15,
    },
];

const PARTNER_ROLES: [(&str, Role, &str); 4] = [
    ("admin", Role::PartnerAdmin, "Admin"),
    ("am1", Role::AccountManager, "Account Manager 1"),
    ("am2", Role::AccountManager, "Account Manager 2"),
    ("director", Role::AccountManagerDirector, "Director"),
];

const VENDOR_USERS: [(&str, Role, &str); 3] = [
    ("demo-vendor-admin", Role::VendorAdmin, "Vera Admin"),
    (
        "demo-channel-manager",
        Role::ChannelManager,
        "Chris Channel",
    ),
    ("demo-vendor-viewer", Role::VendorViewer, "Val Viewer"),
];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Every demo user, whether or not this run created them.
pub fn demo_users(config: &Config) -> Vec<DemoUser> {
    let mut users: Vec<DemoUser> = VENDOR_USERS
        .iter()
        .map(|(subject, role, _)| DemoUser {
            subject: (*subject).to_owned(),
            role: role.as_str(),
            org: config.vendor_name.clone(),
        })
        .collect();
    for p in &PARTNERS {
        for (suffix, role, _) in PARTNER_ROLES {
            users.push(DemoUser {
                subject: format!("demo-{}-{suffix}", p.slug),
                role: role.as_str(),
                org: p.name.to_owned(),
            });
        }
    }
    users
}

/// Seeds the demo data unless it is already there. Returns whether it seeded.
pub fn seed(conn: &mut PgConnection, config: &Config) -> Result<bool, StoreError> {
    conn.transaction(|conn| {
        prm_store::pool::advisory_xact_lock(conn, 0x7072_6d2d_7365_6564)?;
        if Org::find_by_name(conn, MARKER_ORG)?.is_some() {
            return Ok(false);
        }
        let vendor = crate::bootstrap::ensure_vendor(conn, config)?;
        let mut users = std::collections::HashMap::new();
        for (subject, role, name) in VENDOR_USERS {
            let u = ensure_user(conn, subject, vendor.id, role, name)?;
            users.insert(subject.to_owned(), u);
        }
        let mut orgs = std::collections::HashMap::new();
        for p in &PARTNERS {
            let parent = if p.slug == "contoso" {
                orgs.get("northwind").copied()
            } else {
                None
            };
            let org = Org::insert(
                conn,
                NewOrg {
                    id: OrgId::new(),
                    name: p.name.to_owned(),
                    kind: p.kind,
                    parent_id: parent,
                    countries: strings(p.countries),
                    industries: strings(p.industries),
                    product_lines: strings(p.product_lines),
                    tier: p.tier,
                    capacity: p.capacity,
                    accepting: true,
                },
            )?;
            orgs.insert(p.slug, org.id);
            for (suffix, role, title) in PARTNER_ROLES {
                let subject = format!("demo-{}-{suffix}", p.slug);
                let name = format!("{} {title}", p.name.split(' ').next().unwrap_or(p.name));
                let u = ensure_user(conn, &subject, org.id, role, &name)?;
                users.insert(subject, u);
            }
        }
        let northwind = orgs["northwind"];
        let contoso = orgs["contoso"];
        let tailspin = orgs["tailspin"];
        let woodgrove = customer(
            conn,
            vendor.id,
            "Woodgrove Bank",
            "GB",
            "finance",
            Registration::VendorOwned,
        )?;
        let litware = customer(
            conn,
            northwind,
            "Litware Inc",
            "AT",
            "manufacturing",
            Registration::Preregistered,
        )?;
        let fabrikam = customer(
            conn,
            contoso,
            "Fabrikam GmbH",
            "DE",
            "retail",
            Registration::Associated,
        )?;
        let adventure = customer(
            conn,
            tailspin,
            "Adventure Works SAS",
            "FR",
            "finance",
            Registration::Preregistered,
        )?;
        let task = MarketingTask::insert(
            conn,
            &NewMarketingTask {
                id: Uuid::now_v7(),
                name: "Retail cloud push".to_owned(),
                description: Some("Help retail customers move their shops to the cloud".to_owned()),
                product_lines: vec!["cloud".to_owned()],
                starts_on: Some(Utc::now().date_naive()),
                ends_on: None,
                created_by_user_id: users["demo-channel-manager"].0,
            },
        )?;
        story(
            conn,
            &Customers {
                woodgrove,
                litware,
                fabrikam,
                adventure,
            },
            task.id,
        )
        .map_err(|e| StoreError::Corrupt(format!("demo story: {e}")))?;
        Ok(true)
    })
}

fn customer(
    conn: &mut PgConnection,
    org: OrgId,
    name: &str,
    country: &str,
    industry: &str,
    registration: Registration,
) -> Result<CustomerId, StoreError> {
    let country_code = country.parse().map_err(StoreError::Corrupt)?;
    let identity = CustomerIdentity::new(name, country_code, None, None);
    Ok(Customer::insert(
        conn,
        NewCustomer {
            id: CustomerId::new(),
            org_id: org,
            name: name.to_owned(),
            name_key: identity.name_key,
            country: country.to_owned(),
            industry: Some(industry.to_owned()),
            tax_id: None,
            tax_id_key: None,
            web_domain: None,
            domain_key: None,
            registration,
        },
    )?
    .id)
}

/// Demo customers by name.
struct Customers {
    woodgrove: CustomerId,
    litware: CustomerId,
    fabrikam: CustomerId,
    adventure: CustomerId,
}

fn actor(conn: &mut PgConnection, subject: &str) -> Result<Actor, ApiError> {
    match load_actor(conn, subject)? {
        ActorLookup::Found(a) => Ok(a),
        _ => Err(ApiError::Internal(format!("demo user {subject} missing"))),
    }
}

fn eur(amount: &str) -> Result<Money, ApiError> {
    let currency = "EUR".parse().map_err(ApiError::Internal)?;
    Money::parse(amount, currency).map_err(|e| ApiError::Internal(e.to_string()))
}

fn body(
    topic: &str,
    customer: CustomerId,
    amount: &str,
    product: &str,
    task: Option<Uuid>,
) -> Result<NewOpportunityCommand, ApiError> {
    let mut details = Details {
        topic: topic.to_owned(),
        contact_name: Some("Jo Park".to_owned()),
        contact_email: Some("jo.park@customer.example".to_owned()),
        contact_phone: Some("+49 30 1234 567".to_owned()),
        contact_title: Some("Head of IT".to_owned()),
        currency: None,
        estimated_revenue: None,
        expected_close_date: Some((Utc::now() + Duration::days(60)).date_naive()),
        customer_situation: Some("Ageing on-premises estate".to_owned()),
        customer_need: Some("Lower running costs and better security".to_owned()),
        proposed_solution: Some("Phased migration with managed services".to_owned()),
        country: None,
        industry: None,
        product_lines: vec![product.to_owned()],
        marketing_task_id: task,
    };
    details.set_estimated_money(Some(eur(amount)?));
    Ok(NewOpportunityCommand {
        external_ref: None,
        customer_id: customer,
        details,
        input_errors: Vec::new(),
    })
}

/// Plays the demo story through the same functions the API runs, so every
/// state it leaves is one the rules can produce.
fn story(conn: &mut PgConnection, c: &Customers, task: Uuid) -> Result<(), ApiError> {
    let cm = actor(conn, "demo-channel-manager")?;
    let nw = actor(conn, "demo-northwind-admin")?;
    let nw_am1 = actor(conn, "demo-northwind-am1")?;
    let co = actor(conn, "demo-contoso-admin")?;
    let co_am1 = actor(conn, "demo-contoso-am1")?;
    let co_am2 = actor(conn, "demo-contoso-am2")?;
    let ts = actor(conn, "demo-tailspin-admin")?;
    let ts_am1 = actor(conn, "demo-tailspin-am1")?;
    let ts_am2 = actor(conn, "demo-tailspin-am2")?;
    let any = IfMatch::Absent;
    let create =
        |conn: &mut PgConnection, who: &Actor, b: Result<NewOpportunityCommand, ApiError>| {
            create(conn, who, b?).map(|o| o.view.row.id)
        };
    let to = |partner: OrgId| Request::Distribute {
        partner,
        accept_by: None,
        collaborators: None,
    };
    let progress = |phase: Phase, p: i16, text: &str| NewProgressCommand {
        development_phase: phase,
        win_probability: p,
        technical_exchange: Some("Architecture workshop with the customer's IT".to_owned()),
        test_details: None,
        progress_details: Some(text.to_owned()),
    };

    // draft
    create(
        conn,
        &cm,
        body(
            "Security assessment for Woodgrove",
            c.woodgrove,
            "45000.00",
            "security",
            None,
        ),
    )?;
    // delivered to Northwind, awaiting its answer
    let o = create(
        conn,
        &cm,
        body(
            "Cloud rollout for Litware plants",
            c.litware,
            "250000.00",
            "cloud",
            Some(task),
        ),
    )?;
    perform(conn, &cm, o, &any, to(nw.org_id))?;
    // accepted by Contoso, owned by an account manager, with progress and notes
    let o = create(
        conn,
        &cm,
        body(
            "Store analytics for Fabrikam",
            c.fabrikam,
            "120000.00",
            "cloud",
            Some(task),
        ),
    )?;
    perform(conn, &cm, o, &any, to(co.org_id))?;
    perform(conn, &co, o, &any, Request::Command(Command::Accept))?;
    assign_owner(conn, &co, o, &any, co_am1.user_id)?;
    add_progress(
        conn,
        &co_am1,
        o,
        progress(Phase::Develop, 40, "Demo held; pilot scoped"),
    )?;
    add_note(conn, &co_am1, o, "Customer asked for a second demo", false)?;
    add_note(conn, &co_am1, o, "Our margin target: 18%", true)?;
    // a collaboration: Tailspin leads, Northwind helps
    let o = create(
        conn,
        &cm,
        body(
            "Zero-trust programme for Woodgrove",
            c.woodgrove,
            "480000.00",
            "security",
            None,
        ),
    )?;
    perform(
        conn,
        &cm,
        o,
        &any,
        Request::Distribute {
            partner: ts.org_id,
            accept_by: None,
            collaborators: Some(vec![nw.org_id]),
        },
    )?;
    add_progress(conn, &ts, o, progress(Phase::Propose, 60, "Proposal sent"))?;
    add_note(conn, &nw, o, "We can staff the network part", false)?;
    // partner-created, awaiting approval, with a submitted deal registration
    let o = create(
        conn,
        &co_am2,
        body(
            "Fabrikam loyalty platform",
            c.fabrikam,
            "90000.00",
            "cloud",
            Some(task),
        ),
    )?;
    register(
        conn,
        &co_am2,
        o,
        NewRegistrationCommand {
            product_lines: vec!["cloud".to_owned()],
            justification: Some("We sourced this customer".to_owned()),
        },
    )?;
    create(
        conn,
        &nw_am1,
        body("Litware shop-floor IoT", c.litware, "60000.00", "iot", None),
    )?;
    // partner-created, approved, registered, won
    let o = create(
        conn,
        &ts_am1,
        body(
            "Fraud detection for Adventure Works",
            c.adventure,
            "84000.00",
            "security",
            None,
        ),
    )?;
    let reg = register(
        conn,
        &ts_am1,
        o,
        NewRegistrationCommand {
            product_lines: vec!["security".to_owned()],
            justification: None,
        },
    )?;
    approve(conn, &cm, reg.row.id, &any, None)?;
    perform(conn, &cm, o, &any, Request::Command(Command::Approve))?;
    add_progress(
        conn,
        &ts_am1,
        o,
        progress(Phase::Commit, 100, "Contract signed"),
    )?;
    perform(
        conn,
        &ts_am1,
        o,
        &any,
        Request::Command(Command::Close {
            won: true,
            reason: ReasonInput::text("Signed a three-year contract"),
            actual: Some(eur("84000.00")?),
        }),
    )?;
    // accepted by Northwind, then lost
    let o = create(
        conn,
        &cm,
        body(
            "Backup modernisation for Litware",
            c.litware,
            "70000.00",
            "cloud",
            None,
        ),
    )?;
    perform(conn, &cm, o, &any, to(nw.org_id))?;
    perform(conn, &nw, o, &any, Request::Command(Command::Accept))?;
    perform(
        conn,
        &nw,
        o,
        &any,
        Request::Command(Command::Close {
            won: false,
            reason: ReasonInput::coded("budget", Some("Lost on price".to_owned())),
            actual: None,
        }),
    )?;
    // declined by Northwind (a code alone), then by Tailspin (a code and a
    // text): the vendor dashboard counts both by reason
    let o = create(
        conn,
        &cm,
        body(
            "Branch network refresh for Woodgrove",
            c.woodgrove,
            "150000.00",
            "network",
            None,
        ),
    )?;
    perform(conn, &cm, o, &any, to(nw.org_id))?;
    perform(
        conn,
        &nw,
        o,
        &any,
        Request::Command(Command::Decline {
            reason: ReasonInput::coded("not_our_territory", None),
        }),
    )?;
    perform(conn, &cm, o, &any, to(ts.org_id))?;
    perform(
        conn,
        &ts,
        o,
        &any,
        Request::Command(Command::Decline {
            reason: ReasonInput::coded("no_capacity", Some("No capacity this quarter".to_owned())),
        }),
    )?;
    // Keep this one declined in the demo rather than re-assigned at once.
    prm_store::assignment::clear_reassign(conn, o)?;
    // returned by Contoso
    let o = create(
        conn,
        &cm,
        body(
            "Kiosk fleet for Fabrikam",
            c.fabrikam,
            "35000.00",
            "devices",
            None,
        ),
    )?;
    perform(conn, &cm, o, &any, to(co.org_id))?;
    perform(conn, &co, o, &any, Request::Command(Command::Accept))?;
    perform(
        conn,
        &co,
        o,
        &any,
        Request::Command(Command::Return {
            reason: ReasonInput::coded(
                "customer_not_interested",
                Some("Customer went quiet".to_owned()),
            ),
        }),
    )?;
    // rejected
    let o = create(
        conn,
        &ts_am2,
        body(
            "Adventure Works data lake",
            c.adventure,
            "40000.00",
            "cloud",
            None,
        ),
    )?;
    perform(
        conn,
        &cm,
        o,
        &any,
        Request::Command(Command::Reject {
            reason: ReasonInput::coded(
                "duplicate",
                Some("Already in the vendor's pipeline".to_owned()),
            ),
        }),
    )?;
    // canceled
    let o = create(
        conn,
        &cm,
        body(
            "Printer fleet for Woodgrove",
            c.woodgrove,
            "12000.00",
            "devices",
            None,
        ),
    )?;
    perform(
        conn,
        &cm,
        o,
        &any,
        Request::Command(Command::Cancel {
            reason: ReasonInput::coded(
                "competitor",
                Some("Customer chose another vendor".to_owned()),
            ),
        }),
    )?;
    // expired: offered to Contoso, whose answer never came. The deadline
    // worker (a later release) does this; the demo moves the clock instead.
    let o = create(
        conn,
        &cm,
        body(
            "Payment terminals for Litware",
            c.litware,
            "28000.00",
            "devices",
            None,
        ),
    )?;
    perform(conn, &cm, o, &any, to(co.org_id))?;
    expire_for_demo(conn, o)?;
    Ok(())
}

/// Expires an offer as the deadline worker does, through the same system
/// transition, after moving its deadline into the past; it stays expired
/// (not re-assigned) in the demo.
fn expire_for_demo(conn: &mut PgConnection, id: OpportunityId) -> Result<(), ApiError> {
    let (before, _) = crate::service::opportunities::locked(conn, id)?;
    let after = Opportunity::change_state(
        conn,
        id,
        StateChanges {
            accept_by: Some(Some(Utc::now() - Duration::minutes(1))),
            ..StateChanges::default()
        },
        None,
    )?;
    let mut journal = prm_store::journal::Journal::new();
    crate::service::history::record_version(&mut journal, &before, &after);
    journal.write(conn)?;
    if !lifecycle::expire(conn, id)? {
        return Err(ApiError::Internal("demo offer did not expire".into()));
    }
    prm_store::assignment::clear_reassign(conn, id)?;
    Ok(())
}

fn ensure_user(
    conn: &mut PgConnection,
    subject: &str,
    org: OrgId,
    role: Role,
    name: &str,
) -> Result<UserId, StoreError> {
    if let Some(u) = User::find_by_subject(conn, subject)? {
        return Ok(u.id);
    }
    let email = format!("{}@demo.invalid", subject.trim_start_matches("demo-"));
    Ok(User::insert(
        conn,
        NewUser {
            id: UserId::new(),
            subject: subject.to_owned(),
            org_id: org,
            role,
            name: name.to_owned(),
            email,
        },
    )?
    .id)
}
