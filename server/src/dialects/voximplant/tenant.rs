//! Which application of the authenticated account a request addresses.
//!
//! `application_id`, `application_name` or both may be given (Voximplant documents both as
//! ways to name the application; its SDKs always send the id). Both given → they must name the
//! same application.

use hyper::StatusCode;

use super::error::{VoxError, CODE_APP_NOT_FOUND, CODE_INVALID_APP_NAME};
use super::params::Params;
use super::validate;
use crate::config::{VoximplantAccount, VoximplantApplication};

/// The application id the request addresses, within `account`.
pub fn application_id(account: &VoximplantAccount, params: &Params) -> Result<u64, VoxError> {
    let by_id = params
        .get("application_id")
        .map(|raw| find_by_id(account, raw))
        .transpose()?;
    let by_name = params
        .get("application_name")
        .map(|name| find_by_name(account, name))
        .transpose()?;
    match (by_id, by_name) {
        (Some(a), Some(b)) if a.application_id != b.application_id => Err(VoxError::new(
            StatusCode::BAD_REQUEST,
            CODE_INVALID_APP_NAME,
            format!(
                "application_name {:?} is not application {}",
                b.application_name, a.application_id
            ),
        )),
        (Some(app), _) | (None, Some(app)) => Ok(app.application_id),
        (None, None) => Err(VoxError::invalid(
            "application_id (or application_name) is required",
        )),
    }
}

fn find_by_id<'a>(
    account: &'a VoximplantAccount,
    raw: &str,
) -> Result<&'a VoximplantApplication, VoxError> {
    let id = validate::uint("application_id", raw)?;
    account
        .applications
        .iter()
        .find(|a| a.application_id == id)
        .ok_or_else(|| {
            VoxError::new(
                StatusCode::NOT_FOUND,
                CODE_APP_NOT_FOUND,
                format!("application {id} not found"),
            )
        })
}

fn find_by_name<'a>(
    account: &'a VoximplantAccount,
    name: &str,
) -> Result<&'a VoximplantApplication, VoxError> {
    account
        .applications
        .iter()
        .find(|a| a.application_name == name)
        .ok_or_else(|| {
            VoxError::new(
                StatusCode::NOT_FOUND,
                CODE_INVALID_APP_NAME,
                format!("application {name:?} not found"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> VoximplantAccount {
        VoximplantAccount {
            account_id: 1,
            keys: vec![],
            applications: vec![
                VoximplantApplication {
                    application_id: 10,
                    application_name: "one.acc.voximplant.com".into(),
                },
                VoximplantApplication {
                    application_id: 20,
                    application_name: "two.acc.voximplant.com".into(),
                },
            ],
        }
    }

    fn resolve(pairs: &[(&str, &str)]) -> Result<u64, VoxError> {
        application_id(&account(), &Params::from_pairs(&[], pairs))
    }

    #[test]
    fn by_id_by_name_or_both() {
        assert_eq!(resolve(&[("application_id", "20")]), Ok(20));
        assert_eq!(
            resolve(&[("application_name", "one.acc.voximplant.com")]),
            Ok(10)
        );
        assert_eq!(
            resolve(&[
                ("application_id", "10"),
                ("application_name", "one.acc.voximplant.com")
            ]),
            Ok(10)
        );
    }

    #[test]
    fn refusals() {
        let e = resolve(&[]).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, 101));
        let e = resolve(&[("application_id", "x")]).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, 101));
        let e = resolve(&[("application_id", "30")]).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, 901));
        let e = resolve(&[("application_name", "three.acc.voximplant.com")]).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, 107));
        let e = resolve(&[
            ("application_id", "10"),
            ("application_name", "two.acc.voximplant.com"),
        ])
        .unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, 107));
    }
}
