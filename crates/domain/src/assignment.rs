//! Preferred-partner assignment: who may be offered an opportunity, and an
//! explainable score for each candidate.

use chrono::{DateTime, Utc};

use crate::ids::OrgId;
use crate::org::Tier;
use crate::policy::Weights;

/// What the score needs to know about the opportunity.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub country: Option<String>,
    pub industry: Option<String>,
    pub product_lines: Vec<String>,
}

/// A partner's past answers and outcomes, over the opportunities offered to it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct History {
    pub offered: u32,
    pub accepted: u32,
    pub won: u32,
    pub closed: u32,
}

/// What went wrong between this partner and this opportunity before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PastAnswer {
    Declined,
    Returned,
    Expired,
}

/// A partner org as the ranking sees it.
#[derive(Debug, Clone)]
pub struct Partner {
    pub id: OrgId,
    pub name: String,
    pub active: bool,
    pub accepting: bool,
    pub countries: Vec<String>,
    pub industries: Vec<String>,
    pub product_lines: Vec<String>,
    pub tier: Tier,
    pub capacity: u32,
    /// Opportunities it holds open now (delivered or accepted).
    pub open: u32,
    pub history: History,
    pub last_assigned_at: Option<DateTime<Utc>>,
    /// Its earlier answer to this very opportunity, if any.
    pub past: Option<PastAnswer>,
}

/// The parts of a score, each already weighted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Parts {
    pub country: f64,
    pub industry: f64,
    pub product_lines: f64,
    pub tier: f64,
    pub capacity: f64,
    pub history: f64,
}

impl Parts {
    pub fn total(&self) -> f64 {
        self.country + self.industry + self.product_lines + self.tier + self.capacity + self.history
    }
}

#[derive(Debug, Clone)]
pub struct Scored {
    pub id: OrgId,
    pub name: String,
    pub score: f64,
    pub parts: Parts,
    pub last_assigned_at: Option<DateTime<Utc>>,
}

/// Why a partner is not a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    Inactive,
    Paused,
    AtCapacity,
    Declined,
    Returned,
    Expired,
}

impl Exclusion {
    pub fn as_str(&self) -> &'static str {
        match self {
            Exclusion::Inactive => "inactive",
            Exclusion::Paused => "paused",
            Exclusion::AtCapacity => "at_capacity",
            Exclusion::Declined => "declined",
            Exclusion::Returned => "returned",
            Exclusion::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Excluded {
    pub id: OrgId,
    pub name: String,
    pub reason: Exclusion,
}

/// Every candidate, best first, and every excluded partner with its reason.
#[derive(Debug, Clone, Default)]
pub struct Ranking {
    pub candidates: Vec<Scored>,
    pub excluded: Vec<Excluded>,
}

impl Ranking {
    pub fn best(&self) -> Option<&Scored> {
        self.candidates.first()
    }
}

/// Rule (tier): platinum counts fully, gold 3/4, silver 1/2, registered 1/4.
pub fn tier_factor(t: Tier) -> f64 {
    match t {
        Tier::Platinum => 1.0,
        Tier::Gold => 0.75,
        Tier::Silver => 0.5,
        Tier::Registered => 0.25,
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        0.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Rule (candidates): active, accepting partners with free capacity that
/// have not declined, returned or let expire this opportunity. The first
/// reason that applies is the one reported.
pub fn exclusion(p: &Partner) -> Option<Exclusion> {
    if !p.active {
        Some(Exclusion::Inactive)
    } else if !p.accepting {
        Some(Exclusion::Paused)
    } else if p.open >= p.capacity {
        Some(Exclusion::AtCapacity)
    } else {
        p.past.map(|a| match a {
            PastAnswer::Declined => Exclusion::Declined,
            PastAnswer::Returned => Exclusion::Returned,
            PastAnswer::Expired => Exclusion::Expired,
        })
    }
}

/// Rule (score): country match, industry match, share of the wanted product
/// lines covered, tier, share of capacity free, and history (half acceptance
/// rate, half win rate), each times its policy weight.
pub fn score(want: &Wanted, p: &Partner, w: &Weights) -> Parts {
    let has = |list: &[String], v: &Option<String>| {
        v.as_ref()
            .is_some_and(|v| list.iter().any(|x| x.eq_ignore_ascii_case(v)))
    };
    let covered = want
        .product_lines
        .iter()
        .filter(|l| p.product_lines.contains(l))
        .count();
    let covered_share = if want.product_lines.is_empty() {
        0.0
    } else {
        covered as f64 / want.product_lines.len() as f64
    };
    let free = ratio(p.capacity.saturating_sub(p.open), p.capacity);
    let h = p.history;
    let history = 0.5 * ratio(h.accepted, h.offered) + 0.5 * ratio(h.won, h.closed);
    let weigh = |weight: u32, share: f64| round2(f64::from(weight) * share);
    Parts {
        country: weigh(
            w.country,
            if has(&p.countries, &want.country) {
                1.0
            } else {
                0.0
            },
        ),
        industry: weigh(
            w.industry,
            if has(&p.industries, &want.industry) {
                1.0
            } else {
                0.0
            },
        ),
        product_lines: weigh(w.product_lines, covered_share),
        tier: weigh(w.tier, tier_factor(p.tier)),
        capacity: weigh(w.capacity, free),
        history: weigh(w.history, history),
    }
}

/// Ranks partners: excluded ones set aside with their reason; candidates by
/// score, ties to the partner assigned least recently (never first), then by
/// id so the same data always gives the same answer.
pub fn rank(want: &Wanted, partners: &[Partner], weights: &Weights) -> Ranking {
    let mut r = Ranking::default();
    for p in partners {
        match exclusion(p) {
            Some(reason) => r.excluded.push(Excluded {
                id: p.id,
                name: p.name.clone(),
                reason,
            }),
            None => {
                let parts = score(want, p, weights);
                r.candidates.push(Scored {
                    id: p.id,
                    name: p.name.clone(),
                    score: round2(parts.total()),
                    parts,
                    last_assigned_at: p.last_assigned_at,
                });
            }
        }
    }
    r.candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.last_assigned_at.cmp(&b.last_assigned_at))
            .then_with(|| a.id.cmp(&b.id))
    });
    r.excluded
        .sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn partner(name: &str) -> Partner {
        Partner {
            id: OrgId::new(),
            name: name.to_owned(),
            active: true,
            accepting: true,
            countries: vec!["DE".into()],
            industries: vec!["retail".into()],
            product_lines: vec!["cloud".into()],
            tier: Tier::Gold,
            capacity: 10,
            open: 5,
            history: History::default(),
            last_assigned_at: None,
            past: None,
        }
    }

    fn want() -> Wanted {
        Wanted {
            country: Some("DE".into()),
            industry: Some("retail".into()),
            product_lines: vec!["cloud".into(), "ai".into()],
        }
    }

    fn weights() -> Weights {
        Policy::default().weights
    }

    #[test]
    fn score_parts_follow_the_weights() {
        let p = Partner {
            history: History {
                offered: 4,
                accepted: 3,
                won: 1,
                closed: 2,
            },
            ..partner("A")
        };
        let parts = score(&want(), &p, &weights());
        assert_eq!(parts.country, 30.0);
        assert_eq!(parts.industry, 20.0);
        assert_eq!(parts.product_lines, 12.5, "half the wanted lines");
        assert_eq!(parts.tier, 7.5, "gold is 3/4");
        assert_eq!(parts.capacity, 5.0, "half the capacity is free");
        assert_eq!(parts.history, 3.13, "5 x (0.5 x 3/4 + 0.5 x 1/2)");
        assert_eq!(parts.total(), 78.13);
    }

    #[test]
    fn no_match_scores_nothing_for_that_part() {
        let p = Partner {
            countries: vec!["FR".into()],
            industries: vec![],
            product_lines: vec![],
            ..partner("B")
        };
        let parts = score(&want(), &p, &weights());
        assert_eq!(
            (parts.country, parts.industry, parts.product_lines),
            (0.0, 0.0, 0.0)
        );
        let none = score(&Wanted::default(), &partner("C"), &weights());
        assert_eq!(none.country + none.industry + none.product_lines, 0.0);
    }

    #[test]
    fn tiers_rank_in_order() {
        let w = weights();
        let s = |t| {
            score(
                &want(),
                &Partner {
                    tier: t,
                    ..partner("T")
                },
                &w,
            )
            .tier
        };
        assert!(s(Tier::Platinum) > s(Tier::Gold));
        assert!(s(Tier::Gold) > s(Tier::Silver));
        assert!(s(Tier::Silver) > s(Tier::Registered));
    }

    #[test]
    fn candidates_exclude_inactive_paused_full_and_those_who_refused_it() {
        let cases = [
            (
                Partner {
                    active: false,
                    ..partner("a")
                },
                Exclusion::Inactive,
            ),
            (
                Partner {
                    accepting: false,
                    ..partner("b")
                },
                Exclusion::Paused,
            ),
            (
                Partner {
                    open: 10,
                    ..partner("c")
                },
                Exclusion::AtCapacity,
            ),
            (
                Partner {
                    past: Some(PastAnswer::Declined),
                    ..partner("d")
                },
                Exclusion::Declined,
            ),
            (
                Partner {
                    past: Some(PastAnswer::Returned),
                    ..partner("e")
                },
                Exclusion::Returned,
            ),
            (
                Partner {
                    past: Some(PastAnswer::Expired),
                    ..partner("f")
                },
                Exclusion::Expired,
            ),
        ];
        let all: Vec<Partner> = cases
            .iter()
            .map(|(p, _)| p.clone())
            .chain([partner("ok")])
            .collect();
        let r = rank(&want(), &all, &weights());
        assert_eq!(r.candidates.len(), 1);
        assert_eq!(r.best().unwrap().name, "ok");
        for (p, reason) in &cases {
            let e = r.excluded.iter().find(|e| e.id == p.id).unwrap();
            assert_eq!(e.reason, *reason, "{}", p.name);
        }
    }

    #[test]
    fn the_best_score_wins() {
        let strong = Partner {
            tier: Tier::Platinum,
            ..partner("strong")
        };
        let weak = Partner {
            tier: Tier::Registered,
            ..partner("weak")
        };
        let r = rank(&want(), &[weak, strong.clone()], &weights());
        assert_eq!(r.best().unwrap().id, strong.id);
    }

    #[test]
    fn ties_go_to_the_partner_assigned_least_recently() {
        let now = Utc::now();
        let recent = Partner {
            last_assigned_at: Some(now),
            ..partner("recent")
        };
        let older = Partner {
            last_assigned_at: Some(now - chrono::Duration::days(3)),
            ..partner("older")
        };
        let never = Partner {
            last_assigned_at: None,
            ..partner("never")
        };
        let r = rank(&want(), &[recent, older.clone(), never.clone()], &weights());
        let order: Vec<_> = r.candidates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(order, ["never", "older", "recent"]);
    }

    #[test]
    fn the_same_data_gives_the_same_answer() {
        let ps: Vec<Partner> = (0..20).map(|i| partner(&format!("p{i}"))).collect();
        let first = rank(&want(), &ps, &weights());
        let mut reversed = ps.clone();
        reversed.reverse();
        let second = rank(&want(), &reversed, &weights());
        let ids = |r: &Ranking| r.candidates.iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(&first), ids(&second));
    }
}
