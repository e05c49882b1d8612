//! The wire names of the contract's enums and of the host's own: one spelling each, read
//! and written here and nowhere else. Storage, the API, the portal and the logs all go
//! through `as_str` / `Display` and `FromStr`.
//!
//! | type | names |
//! |---|---|
//! | [`Assurance`] | `none`, `low`, `substantial`, `high` |
//! | [`IdentityAttribute`] | `national-id`, `mobile` |
//! | [`ServiceKind`] | `inquiry`, `application` |
//! | [`Status`] | `submitted`, `in-review`, `action-required`, `approved`, `rejected`, `completed`, `cancelled` |
//! | [`Audience`] | `persons`, `legal-entities`, `everyone` |
//! | [`SubjectKind`] | `person`, `legal-entity` |
//! | [`Purpose`] | `inquiry`, `application` |
//! | [`Source`] | `otp`, `oidc` |

use crate::runtime::bindings::{Assurance, Audience, IdentityAttribute, ServiceKind, Status, SubjectKind};

/// A name that is none of its type's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a valid {kind}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
}

macro_rules! wire_names {
    ($ty:ident, $kind:literal { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the contract's order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = UnknownName;

            fn from_str(name: &str) -> Result<Self, UnknownName> {
                match name {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(UnknownName { kind: $kind, name: name.to_owned() }),
                }
            }
        }
    };
}

wire_names!(Assurance, "assurance level" {
    None => "none",
    Low => "low",
    Substantial => "substantial",
    High => "high",
});

wire_names!(IdentityAttribute, "identity attribute" {
    NationalId => "national-id",
    Mobile => "mobile",
});

wire_names!(ServiceKind, "service kind" {
    Inquiry => "inquiry",
    Application => "application",
});

wire_names!(Status, "application status" {
    Submitted => "submitted",
    InReview => "in-review",
    ActionRequired => "action-required",
    Approved => "approved",
    Rejected => "rejected",
    Completed => "completed",
    Cancelled => "cancelled",
});

wire_names!(Audience, "audience" {
    Persons => "persons",
    LegalEntities => "legal-entities",
    Everyone => "everyone",
});

wire_names!(SubjectKind, "subject kind" {
    Person => "person",
    LegalEntity => "legal-entity",
});

wire_names!(Purpose, "purpose" {
    Inquiry => "inquiry",
    Application => "application",
});

wire_names!(Source, "sign-in source" {
    Otp => "otp",
    Oidc => "oidc",
});

impl Assurance {
    /// Order of assurance levels, weakest first.
    pub fn rank(self) -> u8 {
        match self {
            Assurance::None => 0,
            Assurance::Low => 1,
            Assurance::Substantial => 2,
            Assurance::High => 3,
        }
    }
}

impl Audience {
    /// Whether a subject of `kind` may use a service for this audience.
    pub fn admits(self, kind: SubjectKind) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Persons => kind == SubjectKind::Person,
            Audience::LegalEntities => kind == SubjectKind::LegalEntity,
        }
    }
}

impl Status {
    /// After this status the agency decides nothing more: the host stops following it.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Approved | Status::Rejected | Status::Completed | Status::Cancelled)
    }
}

/// Why the host handed a citizen's identity attribute to an adapter, as the data-usage log
/// shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Inquiry,
    Application,
}

/// Which identity source vouched for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The built-in one-time-code provider.
    Otp,
    /// An OpenID Connect provider such as the national SSO.
    Oidc,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_value() {
        fn round_trip<T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr>(all: &[T]) {
            for value in all {
                assert_eq!(value.to_string().parse::<T>().ok(), Some(*value));
            }
        }
        round_trip(Assurance::ALL);
        round_trip(IdentityAttribute::ALL);
        round_trip(ServiceKind::ALL);
        round_trip(Status::ALL);
        round_trip(Audience::ALL);
        round_trip(SubjectKind::ALL);
        round_trip(Purpose::ALL);
        round_trip(Source::ALL);
        assert_eq!("in-review".parse::<Status>(), Ok(Status::InReview));
        let unknown = "In-Review".parse::<Status>().unwrap_err();
        assert_eq!(unknown.to_string(), "`In-Review` is not a valid application status");
    }
}
