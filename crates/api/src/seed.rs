//! Demo data for local use (`prm seed-demo`, run by `make run`): a vendor
//! with its three roles, a distributor with a reseller under it and an
//! unrelated reseller, each with an admin, two account managers and a
//! director; customers; and opportunities in many statuses.

use bigdecimal::BigDecimal;
use chrono::{Duration, NaiveDate, Utc};
use prm_domain::customer::CustomerIdentity;
use prm_store::customers::{Customer, NewCustomer};
use prm_store::opportunities::{self as store, NewEvent, NewOpportunity, Opportunity};
use prm_store::orgs::{NewOrg, Org};
use prm_store::users::{NewUser, User};
use prm_store::{Connection, PgConnection, StoreError};
use std::str::FromStr;
use uuid::Uuid;

use crate::config::Config;

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
    kind: &'static str,
    countries: &'static [&'static str],
    industries: &'static [&'static str],
    product_lines: &'static [&'static str],
    tier: &'static str,
    capacity: i32,
}

const PARTNERS: [PartnerSpec; 3] = [
    PartnerSpec {
        name: MARKER_ORG,
        slug: "northwind",
        kind: "distributor",
        countries: &["AT", "DE"],
        industries: &["manufacturing", "retail"],
        product_lines: &["cloud", "security"],
        tier: "gold",
        capacity: 25,
    },
    PartnerSpec {
        name: "Contoso Reseller",
        slug: "contoso",
        kind: "reseller",
        countries: &["DE"],
        industries: &["retail"],
        product_lines: &["cloud"],
        tier: "silver",
        capacity: 10,
    },
    PartnerSpec {
        name: "Tailspin Partners",
        slug: "tailspin",
        kind: "reseller",
        countries: &["BE", "FR"],
        industries: &["finance"],
        product_lines: &["security"],
        tier: "platinum",
        capacity: 15,
    },
];

const PARTNER_ROLES: [(&str, &str, &str); 4] = [
    ("admin", "partner_admin", "Admin"),
    ("am1", "account_manager", "Account Manager 1"),
    ("am2", "account_manager", "Account Manager 2"),
    ("director", "account_manager_director", "Director"),
];

const VENDOR_USERS: [(&str, &str, &str); 3] = [
    ("demo-vendor-admin", "vendor_admin", "Vera Admin"),
    ("demo-channel-manager", "channel_manager", "Chris Channel"),
    ("demo-vendor-viewer", "vendor_viewer", "Val Viewer"),
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
            role,
            org: config.vendor_name.clone(),
        })
        .collect();
    for p in &PARTNERS {
        for (suffix, role, _) in PARTNER_ROLES {
            users.push(DemoUser {
                subject: format!("demo-{}-{suffix}", p.slug),
                role,
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
                &NewOrg {
                    id: Uuid::now_v7(),
                    name: p.name.to_owned(),
                    kind: p.kind.to_owned(),
                    parent_id: parent,
                    countries: strings(p.countries),
                    industries: strings(p.industries),
                    product_lines: strings(p.product_lines),
                    tier: p.tier.to_owned(),
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
        let uid = |s: &str| users.get(s).copied().unwrap_or_default();
        let customer = |conn: &mut PgConnection,
                        org: Uuid,
                        name: &str,
                        country: &str,
                        industry: &str,
                        reg: &str| {
            let identity = CustomerIdentity::new(
                name,
                country
                    .parse()
                    .map_err(|e: String| StoreError::Corrupt(e))?,
                None,
                None,
            );
            Customer::insert(
                conn,
                &NewCustomer {
                    id: Uuid::now_v7(),
                    org_id: org,
                    name: name.to_owned(),
                    name_key: identity.name_key,
                    country: country.to_owned(),
                    industry: Some(industry.to_owned()),
                    tax_id: None,
                    tax_id_key: None,
                    web_domain: None,
                    domain_key: None,
                    registration: reg.to_owned(),
                },
            )
            .map_err(StoreError::from)
        };
        let northwind = orgs["northwind"];
        let contoso = orgs["contoso"];
        let tailspin = orgs["tailspin"];
        let woodgrove = customer(
            conn,
            vendor.id,
            "Woodgrove Bank",
            "GB",
            "finance",
            "vendor_owned",
        )?;
        let litware = customer(
            conn,
            northwind,
            "Litware Inc",
            "AT",
            "manufacturing",
            "preregistered",
        )?;
        let fabrikam = customer(conn, contoso, "Fabrikam GmbH", "DE", "retail", "associated")?;
        let adventure = customer(
            conn,
            tailspin,
            "Adventure Works SAS",
            "FR",
            "finance",
            "preregistered",
        )?;

        let cm = uid("demo-channel-manager");
        let now = Utc::now();
        let close = |days: i64| Some((now + Duration::days(days)).date_naive());
        let specs: Vec<SeedOpp> = vec![
            SeedOpp::vendor(
                "Security assessment for Woodgrove",
                &woodgrove,
                "draft",
                vendor.id,
                cm,
            ),
            SeedOpp {
                accept_by: Some(now + Duration::hours(72)),
                primary: Some(northwind),
                ..SeedOpp::vendor(
                    "Cloud rollout for Litware plants",
                    &litware,
                    "delivered",
                    vendor.id,
                    cm,
                )
            },
            SeedOpp {
                primary: Some(contoso),
                phase: Some(("develop", 40)),
                expires_on: close(120),
                ..SeedOpp::vendor(
                    "Store analytics for Fabrikam",
                    &fabrikam,
                    "accepted",
                    contoso,
                    uid("demo-contoso-am1"),
                )
            },
            SeedOpp {
                primary: Some(tailspin),
                collaborators: vec![northwind],
                phase: Some(("propose", 60)),
                expires_on: close(90),
                ..SeedOpp::vendor(
                    "Zero-trust programme for Woodgrove",
                    &woodgrove,
                    "accepted",
                    tailspin,
                    uid("demo-tailspin-admin"),
                )
            },
            SeedOpp::partner(
                "Fabrikam loyalty platform",
                &fabrikam,
                "pending_approval",
                contoso,
                uid("demo-contoso-am2"),
            ),
            SeedOpp::partner(
                "Litware shop-floor IoT",
                &litware,
                "pending_approval",
                northwind,
                uid("demo-northwind-am1"),
            ),
            SeedOpp {
                primary: Some(tailspin),
                phase: Some(("commit", 100)),
                closed: Some(("signed a three-year contract", "84000.00")),
                ..SeedOpp::vendor(
                    "Fraud detection for Adventure Works",
                    &adventure,
                    "won",
                    tailspin,
                    uid("demo-tailspin-am1"),
                )
            },
            SeedOpp {
                primary: Some(northwind),
                phase: Some(("negotiate", 30)),
                closed: Some(("lost on price", "0.00")),
                ..SeedOpp::vendor(
                    "Backup modernisation for Litware",
                    &litware,
                    "lost",
                    northwind,
                    uid("demo-northwind-am2"),
                )
            },
            SeedOpp::vendor(
                "Branch network refresh for Woodgrove",
                &woodgrove,
                "declined",
                vendor.id,
                cm,
            ),
            SeedOpp::partner(
                "Adventure Works data lake",
                &adventure,
                "rejected",
                tailspin,
                uid("demo-tailspin-am1"),
            ),
            SeedOpp::vendor(
                "Printer fleet for Woodgrove",
                &woodgrove,
                "canceled",
                vendor.id,
                cm,
            ),
        ];
        for spec in specs {
            insert_opportunity(conn, spec)?;
        }
        Ok(true)
    })
}

fn ensure_user(
    conn: &mut PgConnection,
    subject: &str,
    org: Uuid,
    role: &str,
    name: &str,
) -> Result<Uuid, StoreError> {
    if let Some(u) = User::find_by_subject(conn, subject)? {
        return Ok(u.id);
    }
    let email = format!("{}@demo.invalid", subject.trim_start_matches("demo-"));
    Ok(User::insert(
        conn,
        &NewUser {
            id: Uuid::now_v7(),
            subject: subject.to_owned(),
            org_id: org,
            role: role.to_owned(),
            name: name.to_owned(),
            email,
        },
    )?
    .id)
}

struct SeedOpp {
    topic: &'static str,
    customer_id: Uuid,
    country: String,
    industry: Option<String>,
    status: &'static str,
    origin: &'static str,
    owner_org: Uuid,
    owner_user: Uuid,
    creator: Uuid,
    primary: Option<Uuid>,
    collaborators: Vec<Uuid>,
    accept_by: Option<chrono::DateTime<Utc>>,
    expires_on: Option<NaiveDate>,
    phase: Option<(&'static str, i16)>,
    closed: Option<(&'static str, &'static str)>,
}

impl SeedOpp {
    fn vendor(
        topic: &'static str,
        c: &Customer,
        status: &'static str,
        owner_org: Uuid,
        owner_user: Uuid,
    ) -> Self {
        Self {
            topic,
            customer_id: c.id,
            country: c.country.clone(),
            industry: c.industry.clone(),
            status,
            origin: "vendor",
            owner_org,
            owner_user,
            creator: owner_user,
            primary: None,
            collaborators: vec![],
            accept_by: None,
            expires_on: None,
            phase: None,
            closed: None,
        }
    }

    fn partner(
        topic: &'static str,
        c: &Customer,
        status: &'static str,
        owner_org: Uuid,
        owner_user: Uuid,
    ) -> Self {
        Self {
            origin: "partner",
            ..Self::vendor(topic, c, status, owner_org, owner_user)
        }
    }
}

fn insert_opportunity(conn: &mut PgConnection, s: SeedOpp) -> Result<(), StoreError> {
    let amount = |v: &str| BigDecimal::from_str(v).map_err(|e| StoreError::Corrupt(e.to_string()));
    let row = Opportunity::insert(
        conn,
        &NewOpportunity {
            id: Uuid::now_v7(),
            topic: s.topic.to_owned(),
            customer_id: s.customer_id,
            contact_name: Some("Jo Park".to_owned()),
            contact_email: Some("jo.park@customer.example".to_owned()),
            contact_phone: Some("+49 30 1234 567".to_owned()),
            contact_title: Some("Head of IT".to_owned()),
            currency: Some("EUR".to_owned()),
            estimated_revenue: Some(amount("120000.00")?),
            expected_close_date: Some((Utc::now() + Duration::days(60)).date_naive()),
            customer_situation: Some("Ageing on-premises estate".to_owned()),
            customer_need: Some("Lower running costs and better security".to_owned()),
            proposed_solution: Some("Phased migration with managed services".to_owned()),
            country: Some(s.country),
            industry: s.industry,
            product_lines: vec!["cloud".to_owned()],
            marketing_task_id: None,
            origin: s.origin.to_owned(),
            status: s.status.to_owned(),
            owner_org_id: s.owner_org,
            owner_user_id: s.owner_user,
            primary_partner_id: s.primary,
            accept_by: s.accept_by,
            expires_on: s.expires_on,
            created_by_user_id: s.creator,
        },
    )?;
    prm_store::opportunities::seed_details(
        conn,
        row.id,
        &s.collaborators,
        s.phase,
        match s.closed {
            Some((reason, actual)) => Some((reason, amount(actual)?)),
            None => None,
        },
    )?;
    store::record_event(
        conn,
        &NewEvent {
            id: Uuid::now_v7(),
            opportunity_id: row.id,
            actor_user_id: Some(s.creator),
            actor_org_id: None,
            partner_org_id: s.primary.or((s.origin == "partner").then_some(s.owner_org)),
            action: "seed",
            from_status: None,
            to_status: s.status,
            reason: Some("demo data"),
        },
    )?;
    Ok(())
}
