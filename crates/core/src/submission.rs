//! The rules mail submitted by a logged-in user must meet before it is signed and sent: one
//! unambiguous From: header, holding an address the account may send as. Front ends (SMTP
//! submission today) call this; the store decides what "may send as" means (own address or
//! an alias of it).

use crate::accounts;
use crate::inbound_policy::ambiguous_from;
use crate::store::{self, Account, Backend};

/// Why a submission is refused (`553 5.7.1 <text>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// Checks the From: of a message `account` submits; on success, the domain to sign for.
pub fn check_from(
    store: &dyn Backend,
    account: &Account,
    message: &[u8],
) -> Result<Result<String, Refusal>, store::Error> {
    let author = mailkeep_imap::author::author(message).ok();
    let Some(author) = author.filter(|_| ambiguous_from(message).is_none()) else {
        return Ok(Err(Refusal(
            "The message needs exactly one From: header field with your address".into(),
        )));
    };
    let address = author.address();
    if !accounts::owns_address(store, account, &address)? {
        return Ok(Err(Refusal(format!(
            "From: <{address}> is not an address of {}",
            account.address
        ))));
    }
    Ok(Ok(author.domain))
}
