//! Customers: rows, forms and queries, including identity look-ups.

use crate::stored::Text;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use prm_domain::customer::Registration;
use prm_domain::external_ref::{ExternalRef, RefKind};
use prm_domain::ids::{CustomerId, OrgId, UserId};
use uuid::Uuid;

use crate::schema::{customers, orgs};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = customers, check_for_backend(diesel::pg::Pg))]
pub struct Customer {
    #[diesel(deserialize_as = Uuid)]
    pub id: CustomerId,
    #[diesel(deserialize_as = Uuid)]
    pub org_id: OrgId,
    pub name: String,
    pub name_key: String,
    pub country: String,
    pub industry: Option<String>,
    pub tax_id: Option<String>,
    pub tax_id_key: Option<String>,
    pub web_domain: Option<String>,
    pub domain_key: Option<String>,
    #[diesel(deserialize_as = Text<Registration>)]
    pub registration: Registration,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = customers, treat_none_as_default_value = false)]
pub struct NewCustomer {
    #[diesel(serialize_as = Uuid)]
    pub id: CustomerId,
    #[diesel(serialize_as = Uuid)]
    pub org_id: OrgId,
    pub name: String,
    pub name_key: String,
    pub country: String,
    pub industry: Option<String>,
    pub tax_id: Option<String>,
    pub tax_id_key: Option<String>,
    pub web_domain: Option<String>,
    pub domain_key: Option<String>,
    #[diesel(serialize_as = Text<Registration>)]
    pub registration: Registration,
}

/// The normalized identity to look for.
#[derive(Debug, Clone, Copy)]
pub struct IdentityKeys<'a> {
    pub name_key: &'a str,
    pub country: &'a str,
    pub tax_id_key: Option<&'a str>,
    pub domain_key: Option<&'a str>,
}

impl Customer {
    pub fn find(conn: &mut PgConnection, id: CustomerId) -> QueryResult<Option<Customer>> {
        customers::table
            .find(id.0)
            .select(Customer::as_select())
            .first(conn)
            .optional()
    }

    /// A page of customers in id order; `orgs` restricts to those orgs'
    /// customers, `named` to the one an org's external reference names.
    pub fn list(
        conn: &mut PgConnection,
        orgs: Option<&[Uuid]>,
        named: Option<(OrgId, &ExternalRef)>,
        after: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<Customer>> {
        let mut q = customers::table.select(Customer::as_select()).into_boxed();
        if let Some(orgs) = orgs {
            q = q.filter(customers::org_id.eq_any(orgs.to_vec()));
        }
        if let Some((org, r)) = named {
            q = q.filter(customers::id.eq_any(crate::external_refs::named_by(
                org,
                RefKind::Customer,
                r,
            )));
        }
        if let Some(after) = after {
            q = q.filter(customers::id.gt(after));
        }
        q.order(customers::id.asc()).limit(limit).load(conn)
    }

    /// Every customer that may be the same real customer, with its org's name.
    pub fn identity_candidates(
        conn: &mut PgConnection,
        keys: IdentityKeys<'_>,
    ) -> QueryResult<Vec<(Customer, String)>> {
        let by_name = customers::name_key
            .eq(keys.name_key.to_owned())
            .and(customers::country.eq(keys.country.to_owned()));
        let mut q = customers::table
            .inner_join(orgs::table)
            .select((Customer::as_select(), orgs::name))
            .filter(by_name)
            .into_boxed();
        if let Some(t) = keys.tax_id_key {
            q = q.or_filter(customers::tax_id_key.eq(t.to_owned()));
        }
        if let Some(d) = keys.domain_key {
            q = q.or_filter(customers::domain_key.eq(d.to_owned()));
        }
        q.load(conn)
    }

    pub fn insert(conn: &mut PgConnection, new: NewCustomer) -> QueryResult<Customer> {
        diesel::insert_into(customers::table)
            .values(new)
            .returning(Customer::as_returning())
            .get_result(conn)
    }
}

/// Serializes identity checks for customers: associations are rare, and a
/// transaction-scoped advisory lock makes check-then-insert race-free.
pub fn lock_identity_checks(conn: &mut PgConnection) -> QueryResult<()> {
    // "prm-cust" as a 64-bit key.
    crate::pool::advisory_xact_lock(conn, 0x7072_6d2d_6375_7374)
}

/// Records that `user` revealed the names of these customers.
pub fn record_reveals(
    conn: &mut PgConnection,
    user: UserId,
    customers: &[CustomerId],
) -> QueryResult<()> {
    use crate::schema::customer_reveals;
    let rows: Vec<_> = customers
        .iter()
        .map(|c| {
            (
                customer_reveals::id.eq(Uuid::now_v7()),
                customer_reveals::user_id.eq(user.0),
                customer_reveals::customer_id.eq(c.0),
            )
        })
        .collect();
    diesel::insert_into(customer_reveals::table)
        .values(rows)
        .execute(conn)
        .map(|_| ())
}
