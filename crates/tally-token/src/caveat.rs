//! The closed caveat set: every kind a token may carry, typed so that an
//! invalid caveat cannot be built, with its canonical bytes.
//!
//! A caveat is encoded as `kind (1 byte) || length (1 byte) || body`, the
//! body at most [`MAX_CAVEAT_BODY_BYTES`]:
//!
//! | kind | caveat | body | holds when |
//! |---|---|---|---|
//! | `0x01` | [`Caveat::Tenant`] | the tenant, 1–128 bytes of [`Label`] text | the request names this tenant |
//! | `0x02` | [`Caveat::Scopes`] | `u16` big-endian bit set of [`Scope`]s, non-empty, no unknown bit | the request's scope is in the set |
//! | `0x03` | [`Caveat::Methods`] | `u8` bit set of [`Method`]s, non-empty, no unknown bit | the request's method is in the set |
//! | `0x04` | [`Caveat::PathPrefix`] | a [`PathPrefix`], 1–128 bytes | the request's path is under the prefix, on a segment boundary |
//! | `0x05` | [`Caveat::NotBefore`] | `u64` big-endian, seconds since the Unix epoch | `now >= not_before` |
//! | `0x06` | [`Caveat::Expiry`] | `u64` big-endian, seconds since the Unix epoch | `now < expiry` |
//! | `0x07` | [`Caveat::MaxAmount`] | `u128` big-endian, minor units | the request moves no amount, or at most this |
//! | `0x08` | [`Caveat::EpochId`] | the reward epoch id, 1–128 bytes of [`Label`] text | the request names this epoch id |
//!
//! Any other kind, a body of the wrong length, or a body that is not
//! canonical (an empty set, an unknown bit, a character outside the
//! alphabet) makes the whole token malformed: unknown caveats fail closed.

use core::fmt;
use core::str::FromStr;

use crate::error::{CaveatFailure, Malformed};

/// The largest caveat body, in bytes.
pub const MAX_CAVEAT_BODY_BYTES: usize = 128;
/// The largest encoded caveat (kind, length and body), in bytes.
pub const MAX_CAVEAT_BYTES: usize = 2 + MAX_CAVEAT_BODY_BYTES;
/// The longest [`Label`] (tenant, epoch id), in bytes.
pub const MAX_LABEL_BYTES: usize = 128;
/// The longest [`PathPrefix`], in bytes.
pub const MAX_PATH_PREFIX_BYTES: usize = 128;

/// One permission a request needs. A token with no scope caveat allows
/// every scope; each scope caveat narrows to its set (several intersect).
/// Scopes are flat: `admin` implies nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `ledger.read`
    LedgerRead,
    /// `ledger.write`
    LedgerWrite,
    /// `budget.reserve`
    BudgetReserve,
    /// `rewarder.run`
    RewarderRun,
    /// `rewarder.inspect`
    RewarderInspect,
    /// `decide.run`
    DecideRun,
    /// `audit.read`
    AuditRead,
    /// `admin`
    Admin,
}

impl Scope {
    /// Every scope, in bit order.
    pub const ALL: [Self; 8] = [
        Self::LedgerRead,
        Self::LedgerWrite,
        Self::BudgetReserve,
        Self::RewarderRun,
        Self::RewarderInspect,
        Self::DecideRun,
        Self::AuditRead,
        Self::Admin,
    ];

    /// Its bit in a scope set (bit 0 for `ledger.read`, … bit 7 for `admin`).
    #[must_use]
    pub const fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// Its name (`ledger.read`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::LedgerRead => "ledger.read",
            Self::LedgerWrite => "ledger.write",
            Self::BudgetReserve => "budget.reserve",
            Self::RewarderRun => "rewarder.run",
            Self::RewarderInspect => "rewarder.inspect",
            Self::DecideRun => "decide.run",
            Self::AuditRead => "audit.read",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scope {
    type Err = Malformed;
    fn from_str(text: &str) -> Result<Self, Malformed> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or(Malformed::UnknownScope)
    }
}

/// A non-empty set of [`Scope`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scopes(u16);

impl Scopes {
    const KNOWN: u16 = 0x00ff;

    /// The set of `scopes`, or `None` when it is empty.
    #[must_use]
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Option<Self> {
        let bits = scopes.into_iter().fold(0, |acc, s| acc | s.bit());
        Self::from_bits(bits)
    }

    /// The set of a bit field: `None` when empty or with an unknown bit.
    #[must_use]
    pub const fn from_bits(bits: u16) -> Option<Self> {
        if bits == 0 || bits & !Self::KNOWN != 0 {
            None
        } else {
            Some(Self(bits))
        }
    }

    /// Every scope.
    #[must_use]
    pub const fn all() -> Self {
        Self(Self::KNOWN)
    }

    /// Its bit field.
    #[must_use]
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether `scope` is in the set.
    #[must_use]
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes in both sets (possibly none: then the bit field is 0).
    #[must_use]
    pub const fn intersection_bits(self, other: Self) -> u16 {
        self.0 & other.0
    }

    /// The scopes of the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

/// An HTTP method a token may be limited to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// Every method, in bit order.
    pub const ALL: [Self; 6] = [
        Self::Get,
        Self::Head,
        Self::Post,
        Self::Put,
        Self::Patch,
        Self::Delete,
    ];

    /// Its bit in a method set (bit 0 for `GET`, … bit 5 for `DELETE`).
    #[must_use]
    pub const fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Its name, upper case (`GET`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = Malformed;
    /// An upper-case method name.
    fn from_str(text: &str) -> Result<Self, Malformed> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == text)
            .ok_or(Malformed::UnknownMethod)
    }
}

/// A non-empty set of [`Method`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Methods(u8);

impl Methods {
    const KNOWN: u8 = 0x3f;

    /// The set of `methods`, or `None` when it is empty.
    #[must_use]
    pub fn new(methods: impl IntoIterator<Item = Method>) -> Option<Self> {
        let bits = methods.into_iter().fold(0, |acc, m| acc | m.bit());
        Self::from_bits(bits)
    }

    /// The set of a bit field: `None` when empty or with an unknown bit.
    #[must_use]
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits == 0 || bits & !Self::KNOWN != 0 {
            None
        } else {
            Some(Self(bits))
        }
    }

    /// Its bit field.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether `method` is in the set.
    #[must_use]
    pub const fn contains(self, method: Method) -> bool {
        self.0 & method.bit() != 0
    }

    /// The methods of the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Method> {
        Method::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

/// A tenant or a reward epoch id: 1 to [`MAX_LABEL_BYTES`] bytes of ASCII
/// letters, digits and `._:@/+-` (the alphabet of tally-reward's ids).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(String);

fn label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._:@/+-".contains(&b)
}

impl Label {
    /// Validates `text`.
    ///
    /// # Errors
    /// [`Malformed::BadLabel`] when it is empty, too long or has a character
    /// outside the alphabet.
    pub fn new(text: &str) -> Result<Self, Malformed> {
        if text.is_empty() || text.len() > MAX_LABEL_BYTES || !text.bytes().all(label_byte) {
            return Err(Malformed::BadLabel);
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A path prefix: `/` followed by segments separated by `/`, 1 to
/// [`MAX_PATH_PREFIX_BYTES`] bytes of ASCII letters, digits and `-._~:@+/`,
/// with no empty segment (`//`) and no `.` or `..` segment. A trailing `/`
/// is allowed (`/ledger/`).
///
/// It matches a request path that is canonical in the same alphabet (see
/// [`canonical_path`]) and equal to it or under it on a segment boundary:
/// `/ledger` matches `/ledger` and `/ledger/x`, never `/ledgerx`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathPrefix(String);

fn path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:@+/".contains(&b)
}

/// Whether `path` is a canonical absolute path: it starts with `/`, holds
/// only ASCII letters, digits and `-._~:@+/` (no `%`: the caller decodes
/// first), and has no empty, `.` or `..` segment (a trailing `/` aside).
/// A path caveat refuses any other request path rather than guess how the
/// router would read it.
#[must_use]
pub fn canonical_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if !path.bytes().all(path_byte) {
        return false;
    }
    if rest.is_empty() {
        return true;
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/').all(|s| !matches!(s, "" | "." | ".."))
}

impl PathPrefix {
    /// Validates `text`.
    ///
    /// # Errors
    /// [`Malformed::BadPathPrefix`] when it is not a canonical path or too
    /// long.
    pub fn new(text: &str) -> Result<Self, Malformed> {
        if text.len() > MAX_PATH_PREFIX_BYTES || !canonical_path(text) {
            return Err(Malformed::BadPathPrefix);
        }
        Ok(Self(text.to_owned()))
    }

    /// The prefix.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `path` is under this prefix on a segment boundary (and
    /// canonical).
    #[must_use]
    pub fn matches(&self, path: &str) -> bool {
        let Some(after) = path.strip_prefix(self.0.as_str()) else {
            return false;
        };
        let boundary = self.0.ends_with('/') || after.is_empty() || after.starts_with('/');
        boundary && canonical_path(path)
    }
}

impl fmt::Display for PathPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One caveat: a condition every request the token authorizes must meet.
/// The set is closed; a token holding any other kind does not decode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Caveat {
    /// The request must name this tenant.
    Tenant(Label),
    /// The request's scope must be in this set.
    Scopes(Scopes),
    /// The request's method must be in this set.
    Methods(Methods),
    /// The request's path must be under this prefix.
    PathPrefix(PathPrefix),
    /// Not valid before this instant (seconds since the Unix epoch).
    NotBefore(u64),
    /// Not valid at or after this instant (seconds since the Unix epoch).
    Expiry(u64),
    /// The request may move at most this amount (minor units).
    MaxAmount(u128),
    /// The request must name this reward epoch id.
    EpochId(Label),
}

/// The kind bytes of the caveats.
mod kind {
    pub const TENANT: u8 = 0x01;
    pub const SCOPES: u8 = 0x02;
    pub const METHODS: u8 = 0x03;
    pub const PATH_PREFIX: u8 = 0x04;
    pub const NOT_BEFORE: u8 = 0x05;
    pub const EXPIRY: u8 = 0x06;
    pub const MAX_AMOUNT: u8 = 0x07;
    pub const EPOCH_ID: u8 = 0x08;
}

/// A caveat's encoding on the stack: no allocation on the verify path.
pub(crate) struct Encoded {
    buf: [u8; MAX_CAVEAT_BYTES],
    len: usize,
}

impl Encoded {
    fn new(kind: u8, body: &[u8]) -> Self {
        let mut buf = [0u8; MAX_CAVEAT_BYTES];
        // Bodies are at most MAX_CAVEAT_BODY_BYTES by construction (the
        // types check their lengths); `take` keeps this total anyway.
        let len = body.len().min(MAX_CAVEAT_BODY_BYTES);
        buf[0] = kind;
        buf[1] = len as u8;
        for (dst, src) in buf.iter_mut().skip(2).zip(body) {
            *dst = *src;
        }
        Self { buf, len: 2 + len }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl Caveat {
    /// The canonical bytes: kind, length, body.
    pub(crate) fn encode(&self) -> Encoded {
        match self {
            Self::Tenant(l) => Encoded::new(kind::TENANT, l.as_str().as_bytes()),
            Self::Scopes(s) => Encoded::new(kind::SCOPES, &s.bits().to_be_bytes()),
            Self::Methods(m) => Encoded::new(kind::METHODS, &[m.bits()]),
            Self::PathPrefix(p) => Encoded::new(kind::PATH_PREFIX, p.as_str().as_bytes()),
            Self::NotBefore(t) => Encoded::new(kind::NOT_BEFORE, &t.to_be_bytes()),
            Self::Expiry(t) => Encoded::new(kind::EXPIRY, &t.to_be_bytes()),
            Self::MaxAmount(a) => Encoded::new(kind::MAX_AMOUNT, &a.to_be_bytes()),
            Self::EpochId(l) => Encoded::new(kind::EPOCH_ID, l.as_str().as_bytes()),
        }
    }

    /// Decodes one caveat from the front of `bytes`; returns it and the
    /// number of bytes it took.
    pub(crate) fn decode(bytes: &[u8]) -> Result<(Self, usize), Malformed> {
        let [kind, len, rest @ ..] = bytes else {
            return Err(Malformed::Truncated);
        };
        let len = usize::from(*len);
        if len > MAX_CAVEAT_BODY_BYTES {
            return Err(Malformed::CaveatTooLong);
        }
        let body = rest.get(..len).ok_or(Malformed::Truncated)?;
        Ok((Self::from_body(*kind, body)?, 2 + len))
    }

    fn from_body(kind: u8, body: &[u8]) -> Result<Self, Malformed> {
        match kind {
            kind::TENANT => Ok(Self::Tenant(Label::new(label_text(body)?)?)),
            kind::SCOPES => Scopes::from_bits(u16::from_be_bytes(fixed(body)?))
                .map(Self::Scopes)
                .ok_or(Malformed::BadScopes),
            kind::METHODS => Methods::from_bits(u8::from_be_bytes(fixed(body)?))
                .map(Self::Methods)
                .ok_or(Malformed::BadMethods),
            kind::PATH_PREFIX => {
                let t = core::str::from_utf8(body).map_err(|_| Malformed::BadPathPrefix)?;
                Ok(Self::PathPrefix(PathPrefix::new(t)?))
            }
            kind::NOT_BEFORE => Ok(Self::NotBefore(u64::from_be_bytes(fixed(body)?))),
            kind::EXPIRY => Ok(Self::Expiry(u64::from_be_bytes(fixed(body)?))),
            kind::MAX_AMOUNT => Ok(Self::MaxAmount(u128::from_be_bytes(fixed(body)?))),
            kind::EPOCH_ID => Ok(Self::EpochId(Label::new(label_text(body)?)?)),
            _ => Err(Malformed::UnknownCaveat),
        }
    }

    /// Whether the caveat holds for `request`; the failure names the caveat.
    pub(crate) fn check(&self, request: &crate::Request<'_>) -> Result<(), CaveatFailure> {
        let holds = match self {
            Self::Tenant(t) => request.tenant == Some(t.as_str()),
            Self::Scopes(s) => s.contains(request.scope),
            Self::Methods(m) => m.contains(request.method),
            Self::PathPrefix(p) => p.matches(request.path),
            Self::NotBefore(t) => request.now_s >= *t,
            Self::Expiry(t) => request.now_s < *t,
            Self::MaxAmount(max) => request.amount.is_none_or(|a| a <= *max),
            Self::EpochId(e) => request.epoch_id == Some(e.as_str()),
        };
        if holds { Ok(()) } else { Err(self.failure()) }
    }

    /// The failure this caveat reports when it does not hold.
    #[must_use]
    pub fn failure(&self) -> CaveatFailure {
        match self {
            Self::Tenant(_) => CaveatFailure::Tenant,
            Self::Scopes(_) => CaveatFailure::Scope,
            Self::Methods(_) => CaveatFailure::Method,
            Self::PathPrefix(_) => CaveatFailure::PathPrefix,
            Self::NotBefore(_) => CaveatFailure::NotYetValid,
            Self::Expiry(_) => CaveatFailure::Expired,
            Self::MaxAmount(_) => CaveatFailure::Amount,
            Self::EpochId(_) => CaveatFailure::EpochId,
        }
    }
}

/// A label's body as text.
fn label_text(body: &[u8]) -> Result<&str, Malformed> {
    core::str::from_utf8(body).map_err(|_| Malformed::BadLabel)
}

/// A body of exactly `N` bytes.
fn fixed<const N: usize>(body: &[u8]) -> Result<[u8; N], Malformed> {
    body.try_into().map_err(|_| Malformed::BadLength)
}

impl fmt::Display for Caveat {
    /// `name = value`, one caveat, as `tally token inspect` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tenant(t) => write!(f, "tenant = {t}"),
            Self::Scopes(s) => {
                f.write_str("scope =")?;
                s.iter().try_for_each(|s| write!(f, " {s}"))
            }
            Self::Methods(m) => {
                f.write_str("method =")?;
                m.iter().try_for_each(|m| write!(f, " {m}"))
            }
            Self::PathPrefix(p) => write!(f, "path-prefix = {p}"),
            Self::NotBefore(t) => write!(f, "not-before = {t}"),
            Self::Expiry(t) => write!(f, "expiry = {t}"),
            Self::MaxAmount(a) => write!(f, "max-amount = {a}"),
            Self::EpochId(e) => write!(f, "epoch-id = {e}"),
        }
    }
}
