//! Kinds of organization and partner tiers: plain values that the actor,
//! the roles and the org rules all name, so none of them needs another.

use std::fmt;
use std::str::FromStr;

/// What an organization is in the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgKind {
    Vendor,
    Distributor,
    Reseller,
}

impl OrgKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            OrgKind::Vendor => "vendor",
            OrgKind::Distributor => "distributor",
            OrgKind::Reseller => "reseller",
        }
    }

    pub fn is_partner(&self) -> bool {
        !matches!(self, OrgKind::Vendor)
    }
}

impl FromStr for OrgKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "vendor" => Ok(OrgKind::Vendor),
            "distributor" => Ok(OrgKind::Distributor),
            "reseller" => Ok(OrgKind::Reseller),
            _ => Err(format!("unknown org kind `{s}`")),
        }
    }
}

impl fmt::Display for OrgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Partner tier, best first: `platinum` > `gold` > `silver` > `registered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    Registered,
    Silver,
    Gold,
    Platinum,
}

impl Tier {
    pub fn as_str(&self) -> &'static str {
        match self {
            Tier::Registered => "registered",
            Tier::Silver => "silver",
            Tier::Gold => "gold",
            Tier::Platinum => "platinum",
        }
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "registered" => Ok(Tier::Registered),
            "silver" => Ok(Tier::Silver),
            "gold" => Ok(Tier::Gold),
            "platinum" => Ok(Tier::Platinum),
            _ => Err(format!("unknown tier `{s}`")),
        }
    }
}
