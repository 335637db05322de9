//! One result per event, in TigerBeetle's vocabulary.

use core::fmt;

macro_rules! results {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// The name, as TigerBeetle spells it (`exceeds_credits`).
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

results! {
    /// The result of creating one account.
    CreateAccountResult {
        /// Created.
        Ok => "ok",
        /// Another event of its linked chain failed.
        LinkedEventFailed => "linked_event_failed",
        /// The batch ended with this chain still open.
        LinkedEventChainOpen => "linked_event_chain_open",
        /// The id is 0.
        IdMustNotBeZero => "id_must_not_be_zero",
        /// The id is `u128::MAX`.
        IdMustNotBeIntMax => "id_must_not_be_int_max",
        /// Both "must not exceed" flags.
        FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive",
        /// The ledger is 0.
        LedgerMustNotBeZero => "ledger_must_not_be_zero",
        /// The code is 0.
        CodeMustNotBeZero => "code_must_not_be_zero",
        /// The id exists with other flags.
        ExistsWithDifferentFlags => "exists_with_different_flags",
        /// The id exists with another `user_data_128`.
        ExistsWithDifferentUserData128 => "exists_with_different_user_data_128",
        /// The id exists with another `user_data_64`.
        ExistsWithDifferentUserData64 => "exists_with_different_user_data_64",
        /// The id exists with another `user_data_32`.
        ExistsWithDifferentUserData32 => "exists_with_different_user_data_32",
        /// The id exists with another ledger.
        ExistsWithDifferentLedger => "exists_with_different_ledger",
        /// The id exists with another code.
        ExistsWithDifferentCode => "exists_with_different_code",
        /// The same account exists: nothing changed.
        Exists => "exists",
    }
}

results! {
    /// The result of creating one transfer.
    CreateTransferResult {
        /// Applied.
        Ok => "ok",
        /// Another event of its linked chain failed.
        LinkedEventFailed => "linked_event_failed",
        /// The batch ended with this chain still open.
        LinkedEventChainOpen => "linked_event_chain_open",
        /// The id is 0.
        IdMustNotBeZero => "id_must_not_be_zero",
        /// The id is `u128::MAX`.
        IdMustNotBeIntMax => "id_must_not_be_int_max",
        /// Flags that cannot go together.
        FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive",
        /// The debit account id is 0.
        DebitAccountIdMustNotBeZero => "debit_account_id_must_not_be_zero",
        /// The debit account id is `u128::MAX`.
        DebitAccountIdMustNotBeIntMax => "debit_account_id_must_not_be_int_max",
        /// The credit account id is 0.
        CreditAccountIdMustNotBeZero => "credit_account_id_must_not_be_zero",
        /// The credit account id is `u128::MAX`.
        CreditAccountIdMustNotBeIntMax => "credit_account_id_must_not_be_int_max",
        /// Debit and credit account are the same.
        AccountsMustBeDifferent => "accounts_must_be_different",
        /// A pending id on a transfer that neither posts nor voids.
        PendingIdMustBeZero => "pending_id_must_be_zero",
        /// A post or void without a pending id.
        PendingIdMustNotBeZero => "pending_id_must_not_be_zero",
        /// A pending id of `u128::MAX`.
        PendingIdMustNotBeIntMax => "pending_id_must_not_be_int_max",
        /// A post or void that names itself.
        PendingIdMustBeDifferent => "pending_id_must_be_different",
        /// A timeout on a transfer that is not pending.
        TimeoutReservedForPendingTransfer => "timeout_reserved_for_pending_transfer",
        /// An amount of 0 (where one is needed).
        AmountMustNotBeZero => "amount_must_not_be_zero",
        /// The ledger is 0.
        LedgerMustNotBeZero => "ledger_must_not_be_zero",
        /// The code is 0.
        CodeMustNotBeZero => "code_must_not_be_zero",
        /// No such debit account.
        DebitAccountNotFound => "debit_account_not_found",
        /// No such credit account.
        CreditAccountNotFound => "credit_account_not_found",
        /// The accounts are on different ledgers.
        AccountsMustHaveTheSameLedger => "accounts_must_have_the_same_ledger",
        /// The transfer's ledger is not the accounts'.
        TransferMustHaveTheSameLedgerAsAccounts => "transfer_must_have_the_same_ledger_as_accounts",
        /// No such pending transfer.
        PendingTransferNotFound => "pending_transfer_not_found",
        /// The transfer named is not pending.
        PendingTransferNotPending => "pending_transfer_not_pending",
        /// The debit account is not the pending transfer's.
        PendingTransferHasDifferentDebitAccountId => "pending_transfer_has_different_debit_account_id",
        /// The credit account is not the pending transfer's.
        PendingTransferHasDifferentCreditAccountId => "pending_transfer_has_different_credit_account_id",
        /// The ledger is not the pending transfer's.
        PendingTransferHasDifferentLedger => "pending_transfer_has_different_ledger",
        /// The code is not the pending transfer's.
        PendingTransferHasDifferentCode => "pending_transfer_has_different_code",
        /// A post of more than is pending.
        ExceedsPendingTransferAmount => "exceeds_pending_transfer_amount",
        /// A void of an amount other than the pending one.
        PendingTransferHasDifferentAmount => "pending_transfer_has_different_amount",
        /// The pending transfer was posted already.
        PendingTransferAlreadyPosted => "pending_transfer_already_posted",
        /// The pending transfer was voided already.
        PendingTransferAlreadyVoided => "pending_transfer_already_voided",
        /// The pending transfer expired.
        PendingTransferExpired => "pending_transfer_expired",
        /// The id exists with other flags.
        ExistsWithDifferentFlags => "exists_with_different_flags",
        /// The id exists with another debit account.
        ExistsWithDifferentDebitAccountId => "exists_with_different_debit_account_id",
        /// The id exists with another credit account.
        ExistsWithDifferentCreditAccountId => "exists_with_different_credit_account_id",
        /// The id exists with another amount.
        ExistsWithDifferentAmount => "exists_with_different_amount",
        /// The id exists with another pending id.
        ExistsWithDifferentPendingId => "exists_with_different_pending_id",
        /// The id exists with another `user_data_128`.
        ExistsWithDifferentUserData128 => "exists_with_different_user_data_128",
        /// The id exists with another `user_data_64`.
        ExistsWithDifferentUserData64 => "exists_with_different_user_data_64",
        /// The id exists with another `user_data_32`.
        ExistsWithDifferentUserData32 => "exists_with_different_user_data_32",
        /// The id exists with another timeout.
        ExistsWithDifferentTimeout => "exists_with_different_timeout",
        /// The id exists with another ledger.
        ExistsWithDifferentLedger => "exists_with_different_ledger",
        /// The id exists with another code.
        ExistsWithDifferentCode => "exists_with_different_code",
        /// The same transfer exists: nothing changed.
        Exists => "exists",
        /// The id failed before (with a result that depends on the ledger's
        /// state): it stays failed.
        IdAlreadyFailed => "id_already_failed",
        /// A held debit balance would overflow.
        OverflowsDebitsPending => "overflows_debits_pending",
        /// A held credit balance would overflow.
        OverflowsCreditsPending => "overflows_credits_pending",
        /// A posted debit balance would overflow.
        OverflowsDebitsPosted => "overflows_debits_posted",
        /// A posted credit balance would overflow.
        OverflowsCreditsPosted => "overflows_credits_posted",
        /// Held plus posted debits would overflow.
        OverflowsDebits => "overflows_debits",
        /// Held plus posted credits would overflow.
        OverflowsCredits => "overflows_credits",
        /// The expiry would overflow the clock.
        OverflowsTimeout => "overflows_timeout",
        /// The debit account's debits would exceed its credits.
        ExceedsCredits => "exceeds_credits",
        /// The credit account's credits would exceed its debits.
        ExceedsDebits => "exceeds_debits",
    }
}

impl CreateTransferResult {
    /// Whether this failure depends on the ledger's state (and not on the
    /// event alone): such an id is recorded as failed, and a resubmission
    /// is [`CreateTransferResult::IdAlreadyFailed`], even once the state
    /// would let it pass.
    #[must_use]
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            Self::DebitAccountNotFound
                | Self::CreditAccountNotFound
                | Self::PendingTransferNotFound
                | Self::PendingTransferExpired
                | Self::ExceedsCredits
                | Self::ExceedsDebits
                | Self::OverflowsDebitsPending
                | Self::OverflowsCreditsPending
                | Self::OverflowsDebitsPosted
                | Self::OverflowsCreditsPosted
                | Self::OverflowsDebits
                | Self::OverflowsCredits
                | Self::OverflowsTimeout
        )
    }
}
