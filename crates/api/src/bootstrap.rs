//! Start-up guarantees: the vendor org exists, and so does the bootstrap
//! `vendor_admin` named by `PRM_BOOTSTRAP_ADMIN_SUBJECT`.

use prm_domain::Role;
use prm_domain::ids::{OrgId, UserId};
use prm_domain::org::{OrgKind, Tier};
use prm_store::orgs::{NewOrg, Org};
use prm_store::users::{NewUser, User};
use prm_store::{Connection, PgConnection, StoreError};

use crate::config::Config;

/// Makes sure the vendor org (and the bootstrap admin, if configured) exist.
/// Safe to run from several replicas at once.
pub fn ensure_vendor(conn: &mut PgConnection, config: &Config) -> Result<Org, StoreError> {
    conn.transaction(|conn| {
        // "prm-boot": replicas starting together serialize here.
        diesel_lock(conn)?;
        let vendor = match Org::vendor(conn)? {
            Some(v) => v,
            None => {
                let v = Org::insert(
                    conn,
                    NewOrg {
                        id: OrgId::new(),
                        name: config.vendor_name.clone(),
                        kind: OrgKind::Vendor,
                        parent_id: None,
                        countries: vec![],
                        industries: vec![],
                        product_lines: vec![],
                        tier: Tier::Registered,
                        capacity: 0,
                        accepting: false,
                    },
                )?;
                tracing::info!(org = %v.id, name = %v.name, "vendor org created");
                v
            }
        };
        if let Some(subject) = &config.bootstrap_admin_subject {
            match User::find_by_subject(conn, subject)? {
                Some(u) if u.org_id != vendor.id || u.role != Role::VendorAdmin => {
                    tracing::warn!(subject = %subject, "bootstrap subject exists with another org or role; left as is");
                }
                Some(_) => {}
                None => {
                    User::insert(
                        conn,
                        NewUser {
                            id: UserId::new(),
                            subject: subject.clone(),
                            org_id: vendor.id,
                            role: Role::VendorAdmin,
                            name: "Bootstrap admin".to_owned(),
                            email: "admin@vendor.invalid".to_owned(),
                        },
                    )?;
                    tracing::info!(subject = %subject, "bootstrap vendor_admin created");
                }
            }
        }
        Ok(vendor)
    })
}

fn diesel_lock(conn: &mut PgConnection) -> Result<(), StoreError> {
    prm_store::pool::advisory_xact_lock(conn, 0x7072_6d2d_626f_6f74)?;
    Ok(())
}
