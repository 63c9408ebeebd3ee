//! Domain values in their columns: one mapping per type, so rows carry
//! `Status`, `OrgKind` or `OpportunityId` and no caller decodes database text.
//!
//! The domain stays free of Diesel, so its types cannot implement Diesel's
//! traits here (the orphan rule). Instead a row's field names the column's
//! wire type with `#[diesel(deserialize_as = Text<Status>)]` (or
//! `serialize_as` on forms), and the conversions below turn it into the domain
//! type. Ids are plain `Uuid` columns: `deserialize_as = Uuid` suffices for a
//! required id, `Key<Option<OrgId>>` for a nullable one.

use std::io::Write;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{Array, Nullable, Text as SqlText, Uuid as SqlUuid};
use prm_domain::customer::Registration;
use prm_domain::deal::RegStatus;
use prm_domain::events::{DeliveryState, EventType};
use prm_domain::ids::{OrgId, UserId};
use prm_domain::import::{ImportKind, ImportStatus};
use prm_domain::opportunity::{Origin, Phase, Status};
use prm_domain::org::{OrgKind, Tier};
use prm_domain::reason::ReasonCode;
use prm_domain::role::Role;
use prm_domain::values::CurrencyCode;
use uuid::Uuid;

/// A value stored as its text name.
pub trait TextValue: Sized {
    fn name(&self) -> &str;
    fn from_name(s: &str) -> Result<Self, String>;
}

/// A domain value (or, as `Text<Option<T>>`, a nullable one) in a text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow, AsExpression)]
#[diesel(sql_type = SqlText)]
pub struct Text<T>(pub T);

/// A nullable typed id in a uuid column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow, AsExpression)]
#[diesel(sql_type = SqlUuid)]
pub struct Key<T>(pub T);

impl<T: TextValue> FromSql<SqlText, Pg> for Text<T> {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(Text(T::from_name(name(&bytes)?)?))
    }
}

/// The text of a value, read in place: no `String` per status of a page.
fn name<'a>(bytes: &'a PgValue<'_>) -> deserialize::Result<&'a str> {
    Ok(std::str::from_utf8(bytes.as_bytes())?)
}

impl<T: TextValue> FromSql<Nullable<SqlText>, Pg> for Text<Option<T>> {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(Text(Some(T::from_name(name(&bytes)?)?)))
    }

    fn from_nullable_sql(bytes: Option<PgValue<'_>>) -> deserialize::Result<Self> {
        bytes.map_or(Ok(Text(None)), Self::from_sql)
    }
}

impl<T: TextValue + std::fmt::Debug> ToSql<SqlText, Pg> for Text<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(self.0.name().as_bytes())?;
        Ok(IsNull::No)
    }
}

// `AsExpression` forwards `Nullable<Text>` to this; `None` writes NULL.
impl<T: TextValue + std::fmt::Debug> ToSql<SqlText, Pg> for Text<Option<T>> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        match &self.0 {
            Some(v) => {
                out.write_all(v.name().as_bytes())?;
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }
}

impl<T: From<Uuid>> FromSql<Nullable<SqlUuid>, Pg> for Key<Option<T>> {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let id = <Uuid as FromSql<SqlUuid, Pg>>::from_sql(bytes)?;
        Ok(Key(Some(T::from(id))))
    }

    fn from_nullable_sql(bytes: Option<PgValue<'_>>) -> deserialize::Result<Self> {
        bytes.map_or(Ok(Key(None)), Self::from_sql)
    }
}

impl<T: Copy + Into<Uuid> + std::fmt::Debug> ToSql<SqlUuid, Pg> for Key<Option<T>> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        match self.0 {
            Some(id) => {
                let id: Uuid = id.into();
                out.write_all(id.as_bytes())?;
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }
}

/// The one mapping of each enumerated column's type.
macro_rules! text_values {
    ($($t:ty),+ $(,)?) => {$(
        impl TextValue for $t {
            fn name(&self) -> &str {
                self.as_str()
            }
            fn from_name(s: &str) -> Result<Self, String> {
                s.parse()
            }
        }
        impl From<Text<$t>> for $t {
            fn from(v: Text<$t>) -> Self {
                v.0
            }
        }
        impl From<$t> for Text<$t> {
            fn from(v: $t) -> Self {
                Text(v)
            }
        }
        impl From<Text<Option<$t>>> for Option<$t> {
            fn from(v: Text<Option<$t>>) -> Self {
                v.0
            }
        }
        impl From<Option<$t>> for Text<Option<$t>> {
            fn from(v: Option<$t>) -> Self {
                Text(v)
            }
        }
    )+};
}

text_values!(
    EventType,
    DeliveryState,
    Status,
    Origin,
    Phase,
    OrgKind,
    Tier,
    Role,
    RegStatus,
    Registration,
    CurrencyCode,
    ImportKind,
    ImportStatus,
    ReasonCode,
);

/// Domain values in a text array column.
#[derive(Debug, Clone, PartialEq, Eq, FromSqlRow, AsExpression)]
#[diesel(sql_type = Array<SqlText>)]
pub struct Texts<T>(pub Vec<T>);

impl<T: TextValue> FromSql<Array<SqlText>, Pg> for Texts<T> {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let values = <Vec<Text<T>> as FromSql<Array<SqlText>, Pg>>::from_sql(bytes)?;
        Ok(Texts(values.into_iter().map(|v| v.0).collect()))
    }
}

impl<T: TextValue + std::fmt::Debug> ToSql<Array<SqlText>, Pg> for Texts<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        let names: Vec<&str> = self.0.iter().map(TextValue::name).collect();
        <Vec<&str> as ToSql<Array<SqlText>, Pg>>::to_sql(&names, &mut out.reborrow())
    }
}

/// The one mapping of each text array column's type.
macro_rules! text_arrays {
    ($($t:ty),+ $(,)?) => {$(
        impl From<Texts<$t>> for Vec<$t> {
            fn from(v: Texts<$t>) -> Self {
                v.0
            }
        }
        impl From<Vec<$t>> for Texts<$t> {
            fn from(v: Vec<$t>) -> Self {
                Texts(v)
            }
        }
    )+};
}

text_arrays!(EventType, CurrencyCode, ReasonCode, RegStatus);

/// The one mapping of each nullable id column's type.
macro_rules! keys {
    ($($t:ty),+ $(,)?) => {$(
        impl From<Key<Option<$t>>> for Option<$t> {
            fn from(v: Key<Option<$t>>) -> Self {
                v.0
            }
        }
        impl From<Option<$t>> for Key<Option<$t>> {
            fn from(v: Option<$t>) -> Self {
                Key(v)
            }
        }
    )+};
}

keys!(OrgId, UserId);

/// Ids as loaded from a uuid column, typed.
pub fn ids<T: From<Uuid>>(ids: Vec<Uuid>) -> Vec<T> {
    ids.into_iter().map(T::from).collect()
}
