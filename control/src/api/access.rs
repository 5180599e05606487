//! Who may see and act on a support session.
//!
//! A session of another tenant does not exist for the caller (404, like a missing one).
//! Within the tenant: an administrator may see and join every session; an agent the
//! sessions it takes and those it was invited to watch; a customer only the one session
//! its token names. Anyone else of the tenant is refused with 403.

use super::caller::Caller;
use super::App;
use crate::http::Problem;
use crate::store::{Role, SessionId, SupportSession};

/// How the caller relates to a session it may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The customer of the session.
    Customer,
    /// The agent who takes the session.
    Owner,
    /// An agent invited to watch.
    Invited,
    /// An administrator of the tenant (who is not the owner).
    Admin,
}

impl Access {
    /// Whether the caller is the agent in charge or an administrator: may hold, resume,
    /// transfer, invite and end.
    pub fn is_in_charge(self) -> bool {
        matches!(self, Access::Owner | Access::Admin)
    }
}

/// The session `id` as `caller` may see it, and how the caller relates to it.
pub async fn session_for(
    app: &App,
    caller: &Caller,
    id: SessionId,
) -> Result<(SupportSession, Access), Problem> {
    let scope = app.store.tenant(caller.tenant());
    let session = scope.sessions().get(id).await?;
    let access = match caller {
        Caller::Customer(customer) if customer.session == id => Access::Customer,
        Caller::Customer(_) => return Err(forbidden()),
        Caller::Staff(staff) if staff.user == session.agent_id => Access::Owner,
        Caller::Staff(staff) if staff.role == Role::Admin => Access::Admin,
        Caller::Staff(staff) => {
            if scope.sessions().invited(id).await?.contains(&staff.user) {
                Access::Invited
            } else {
                return Err(forbidden());
            }
        }
    };
    Ok((session, access))
}

/// Parses a session id from a path; one that is not a UUID names no session (404).
pub fn parse_session_id(text: &str) -> Result<SessionId, Problem> {
    SessionId::parse(text).map_err(|_| Problem::not_found())
}

fn forbidden() -> Problem {
    Problem::forbidden("forbidden").with_detail("This session is not yours to see.")
}
