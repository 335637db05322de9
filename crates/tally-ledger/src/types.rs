//! Accounts, transfers, their flags, and the events a batch carries.
//!
//! The events a client submits ([`NewAccount`], [`NewTransfer`]) carry no
//! balances and no timestamp: those are the ledger's, so an event that
//! claims them cannot be built. What the ledger stores ([`Account`],
//! [`Transfer`]) adds them.

/// The largest number of events in one batch (TigerBeetle's).
pub const MAX_BATCH_EVENTS: usize = 8_189;

/// Nanoseconds per second: a transfer's `timeout` is in seconds, the
/// ledger's clock in nanoseconds.
pub const NANOS_PER_SECOND: u64 = 1_000_000_000;

macro_rules! flags {
    ($(#[$doc:meta])* $name:ident: $ty:ty { $($(#[$fdoc:meta])* $flag:ident = $bit:expr,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name($ty);

        impl $name {
            $($(#[$fdoc])* pub const $flag: Self = Self(1 << $bit);)*
            /// Every flag this version knows.
            pub const ALL: Self = Self(0 $(| (1 << $bit))*);

            /// No flag.
            #[must_use]
            pub const fn empty() -> Self {
                Self(0)
            }

            /// From raw bits; `None` when a bit this version does not know is set.
            #[must_use]
            pub const fn from_bits(bits: $ty) -> Option<Self> {
                if bits & !Self::ALL.0 == 0 { Some(Self(bits)) } else { None }
            }

            /// The raw bits.
            #[must_use]
            pub const fn bits(self) -> $ty {
                self.0
            }

            /// Whether every flag of `other` is set.
            #[must_use]
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// Both sets of flags.
            #[must_use]
            pub const fn union(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }
        }

        impl core::ops::BitOr for $name {
            type Output = Self;
            fn bitor(self, other: Self) -> Self {
                self.union(other)
            }
        }
    };
}

flags! {
    /// An account's flags.
    AccountFlags: u16 {
        /// Linked to the next event of the batch: they succeed or fail together.
        LINKED = 0,
        /// `debits_pending + debits_posted` may never exceed `credits_posted`.
        DEBITS_MUST_NOT_EXCEED_CREDITS = 1,
        /// `credits_pending + credits_posted` may never exceed `debits_posted`.
        CREDITS_MUST_NOT_EXCEED_DEBITS = 2,
        /// Keep the account's balance after every transfer (for history queries).
        HISTORY = 3,
    }
}

flags! {
    /// A transfer's flags.
    TransferFlags: u16 {
        /// Linked to the next event of the batch: they succeed or fail together.
        LINKED = 0,
        /// A two-phase transfer's first phase: the amount is held (pending).
        PENDING = 1,
        /// Posts a pending transfer (fully, or partially and the rest released).
        POST_PENDING_TRANSFER = 2,
        /// Voids a pending transfer (releases all of it).
        VOID_PENDING_TRANSFER = 3,
        /// Debits at most what the debit account has available.
        BALANCING_DEBIT = 4,
        /// Credits at most what the credit account may still take.
        BALANCING_CREDIT = 5,
    }
}

/// An account to create.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NewAccount {
    /// The client-chosen id: not 0, not `u128::MAX`.
    pub id: u128,
    /// Opaque to the ledger.
    pub user_data_128: u128,
    /// Opaque to the ledger.
    pub user_data_64: u64,
    /// Opaque to the ledger.
    pub user_data_32: u32,
    /// The ledger (currency, asset) it belongs to: not 0.
    pub ledger: u32,
    /// A chart-of-accounts code: not 0.
    pub code: u16,
    /// Its flags.
    pub flags: AccountFlags,
}

/// An account as the ledger keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Account {
    /// The id.
    pub id: u128,
    /// Held debits (pending transfers).
    pub debits_pending: u128,
    /// Posted debits.
    pub debits_posted: u128,
    /// Held credits (pending transfers).
    pub credits_pending: u128,
    /// Posted credits.
    pub credits_posted: u128,
    /// Opaque to the ledger.
    pub user_data_128: u128,
    /// Opaque to the ledger.
    pub user_data_64: u64,
    /// Opaque to the ledger.
    pub user_data_32: u32,
    /// Its ledger.
    pub ledger: u32,
    /// Its code.
    pub code: u16,
    /// Its flags.
    pub flags: AccountFlags,
    /// When it was created (the ledger's clock, nanoseconds).
    pub timestamp: u64,
}

/// A transfer to create (or a post or void of a pending one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NewTransfer {
    /// The client-chosen id: not 0, not `u128::MAX`.
    pub id: u128,
    /// Debited. For a post or void: 0 (taken from the pending transfer) or
    /// the pending transfer's.
    pub debit_account_id: u128,
    /// Credited. For a post or void: 0 or the pending transfer's.
    pub credit_account_id: u128,
    /// The amount, above 0. For a post: at most the pending amount, 0 for all
    /// of it; for a void: 0 or the pending amount. With a balancing flag: the
    /// most to move.
    pub amount: u128,
    /// For a post or void: the pending transfer's id; otherwise 0.
    pub pending_id: u128,
    /// Opaque to the ledger.
    pub user_data_128: u128,
    /// Opaque to the ledger.
    pub user_data_64: u64,
    /// Opaque to the ledger.
    pub user_data_32: u32,
    /// For a pending transfer: seconds until it expires (0: never).
    pub timeout: u32,
    /// Its ledger (the accounts'). For a post or void: 0 or the pending's.
    pub ledger: u32,
    /// Its code. For a post or void: 0 or the pending's.
    pub code: u16,
    /// Its flags.
    pub flags: TransferFlags,
}

/// A transfer as the ledger keeps it: what was submitted, with the amount
/// actually moved and the ledger's timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Transfer {
    /// The id.
    pub id: u128,
    /// Debited.
    pub debit_account_id: u128,
    /// Credited.
    pub credit_account_id: u128,
    /// The amount moved (held, for a pending transfer).
    pub amount: u128,
    /// For a post or void: the pending transfer's id.
    pub pending_id: u128,
    /// Opaque to the ledger.
    pub user_data_128: u128,
    /// Opaque to the ledger.
    pub user_data_64: u64,
    /// Opaque to the ledger.
    pub user_data_32: u32,
    /// For a pending transfer: seconds until it expires (0: never).
    pub timeout: u32,
    /// Its ledger.
    pub ledger: u32,
    /// Its code.
    pub code: u16,
    /// Its flags.
    pub flags: TransferFlags,
    /// When it was applied (the ledger's clock, nanoseconds; strictly
    /// increasing over the ledger's life).
    pub timestamp: u64,
}

/// Where a pending transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PendingState {
    /// Held, neither posted nor voided nor expired.
    Pending,
    /// Posted (the amount posted).
    Posted(u128),
    /// Voided.
    Voided,
    /// Expired at its timeout.
    Expired,
}

/// An account's balances after a transfer (history).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AccountBalance {
    /// The transfer's timestamp.
    pub timestamp: u64,
    /// Held debits.
    pub debits_pending: u128,
    /// Posted debits.
    pub debits_posted: u128,
    /// Held credits.
    pub credits_pending: u128,
    /// Posted credits.
    pub credits_posted: u128,
}
