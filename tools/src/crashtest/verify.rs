//! After the restart: read back every tracked slot through the HTTP API, judge it with the
//! model, and cross-check each dialect's listing against its point reads (a listing must not
//! show a key nobody wrote, nor disagree with a read of the same key).

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context};
use reqwest::StatusCode;
use serde_json::Value as Json;

use super::api::{
    fetch, Tokens, KEYSTORE_TOKEN, KEYSTORE_USER_ID, KEYVALUES_API_KEY, VOX_APPLICATION_ID,
};
use super::model::{
    padding, rate_limit_for, unpad_value, Dialect, Model, Observed, Slot, Tally, Verdict,
    EXPIRY_SLACK_SECS,
};
use super::workload::{
    keystore_key, keyvalues_key, unix_now, voximplant_key, TokenWrite, KEYSTORE_KEYS,
    KEYSTORE_PAD_BYTES_MAX, KEYVALUES_KEYS, KEYVALUES_PAD_BYTES_MAX, VOXIMPLANT_KEYS,
    VOXIMPLANT_PAD_BYTES_MAX,
};

/// Page size of the key-store listing (its maximum).
const KEYSTORE_LIST_LIMIT: usize = 100;
/// Page size of the Voximplant listing (its maximum).
const VOXIMPLANT_LIST_COUNT: usize = 50;
/// Page size of the key-values listing: one page holds every key the test uses.
const KEYVALUES_LIST_RPP: usize = 1000;
/// Page size of the application-keys listing (its maximum).
const APP_KEYS_LIST_LIMIT: usize = 100;

/// Reads the restarted server and judges what it holds.
pub struct Verifier {
    pub http: reqwest::Client,
    pub base: String,
    /// Fresh tokens to read with.
    pub tokens: Tokens,
}

/// The result of one verification.
#[derive(Debug, Default)]
pub struct Verification {
    pub tally: Tally,
    /// Acknowledged tokens checked (each failed one is counted in `tally.lost`).
    pub tokens_checked: u64,
    /// One line per lost or garbage finding.
    pub failures: Vec<String>,
    /// What the next cycle's clients may address: key-values key -> id, application key ids.
    pub keyvalues_ids: HashMap<String, String>,
    pub app_keys: Vec<String>,
}

impl Verification {
    fn judge(&mut self, slot: &Slot, verdict: Verdict) {
        match verdict {
            Verdict::Ok { .. } => {}
            Verdict::Lost(why) => self.failures.push(format!("LOST {slot}: {why}")),
            Verdict::Garbage(why) => self.failures.push(format!("GARBAGE {slot}: {why}")),
        }
    }

    fn garbage(&mut self, what: String) {
        self.tally.garbage += 1;
        self.failures.push(format!("GARBAGE {what}"));
    }
}

impl Verifier {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs every check; `tokens` are the tokens acknowledged during the cycle.
    pub async fn verify(
        &self,
        model: &mut Model,
        tokens: &[TokenWrite],
    ) -> anyhow::Result<Verification> {
        let mut out = Verification::default();
        self.tokens(tokens, &mut out).await?;
        self.keystore(model, &mut out)
            .await
            .context("verifying the key store")?;
        self.voximplant(model, &mut out)
            .await
            .context("verifying Voximplant items")?;
        self.keyvalues(model, &mut out)
            .await
            .context("verifying key-values resources")?;
        self.app_keys(model, &mut out)
            .await
            .context("verifying application keys")?;
        out.tally.maybe += model.forget_unknown_app_keys();
        Ok(out)
    }

    /// An acknowledged token must still authorize a request.
    async fn tokens(&self, tokens: &[TokenWrite], out: &mut Verification) -> anyhow::Result<()> {
        for t in tokens {
            let request = match t.dialect {
                Dialect::KeyValues => self
                    .http
                    .get(self.url(&format!("/{KEYVALUES_API_KEY}/key-values?rpp=1"))),
                Dialect::AppKeys => self
                    .http
                    .get(self.url("/v2/application-keys?page[limit]=1")),
                other => unreachable!("{other:?} issues no tokens"),
            };
            let (status, body) = fetch(request.bearer_auth(&t.token)).await?;
            out.tokens_checked += 1;
            match status {
                StatusCode::OK => {}
                StatusCode::UNAUTHORIZED => {
                    out.tally.lost += 1;
                    out.failures.push(format!(
                        "LOST {} token {}…: acknowledged, refused after the restart: {body}",
                        t.dialect.name(),
                        &t.token[..t.token.len().min(8)]
                    ));
                }
                other => bail!("checking a {} token: {other} {body}", t.dialect.name()),
            }
        }
        Ok(())
    }

    async fn keystore(&self, model: &mut Model, out: &mut Verification) -> anyhow::Result<()> {
        let mut read = BTreeMap::new();
        for i in 0..KEYSTORE_KEYS {
            let key = keystore_key(i);
            let request = self
                .http
                .get(self.url(&format!("/v1/key-store/{key}")))
                .bearer_auth(KEYSTORE_TOKEN);
            let (status, body) = fetch(request).await?;
            let observed = match status {
                StatusCode::OK => keystore_item(&body["data"], Some(&key)),
                StatusCode::NOT_FOUND => Observed::Absent,
                other => bail!("GET {key}: {other} {body}"),
            };
            let slot = Slot::new(Dialect::Keystore, &key);
            let verdict = model.verify(&slot, observed.clone(), unix_now(), &mut out.tally);
            out.judge(&slot, verdict);
            read.insert(key, observed);
        }
        let mut listed = BTreeMap::new();
        for page in 1.. {
            let request = self
                .http
                .get(self.url(&format!(
                    "/v1/key-store/?page={page}&limit={KEYSTORE_LIST_LIMIT}"
                )))
                .bearer_auth(KEYSTORE_TOKEN);
            let (status, body) = fetch(request).await?;
            if status != StatusCode::OK {
                bail!("listing page {page}: {status} {body}");
            }
            let items = body["data"]["items"]
                .as_array()
                .with_context(|| format!("listing without data.items: {body}"))?;
            for item in items {
                let key = item["key"].as_str().unwrap_or_default().to_owned();
                listed.insert(key, keystore_item(item, None));
            }
            if body["data"]["hasNextPage"] != Json::Bool(true) {
                break;
            }
        }
        compare_listing(Dialect::Keystore, &read, &listed, out, |_, _| false);
        Ok(())
    }

    fn vox(&self, method: &str, params: &[(&str, String)]) -> reqwest::RequestBuilder {
        let mut form: Vec<(&str, String)> =
            vec![("application_id", VOX_APPLICATION_ID.to_string())];
        form.extend(params.iter().cloned());
        self.http
            .post(self.url(&format!("/platform_api/{method}")))
            .bearer_auth(&self.tokens.vox)
            .form(&form)
    }

    async fn voximplant(&self, model: &mut Model, out: &mut Verification) -> anyhow::Result<()> {
        let mut read = BTreeMap::new();
        for i in 0..VOXIMPLANT_KEYS {
            let key = voximplant_key(i);
            let (status, body) =
                fetch(self.vox("GetKeyValueItem", &[("key", key.clone())])).await?;
            let observed = match status {
                StatusCode::OK => vox_item(&body["result"], Some(&key)),
                StatusCode::NOT_FOUND => Observed::Absent,
                other => bail!("GetKeyValueItem {key}: {other} {body}"),
            };
            let slot = Slot::new(Dialect::Voximplant, &key);
            let verdict = model.verify(&slot, observed.clone(), unix_now(), &mut out.tally);
            out.judge(&slot, verdict);
            read.insert(key, observed);
        }
        let mut listed = BTreeMap::new();
        for page in 0.. {
            let params = [
                ("key", String::new()),
                ("count", VOXIMPLANT_LIST_COUNT.to_string()),
                ("offset", (page * VOXIMPLANT_LIST_COUNT).to_string()),
            ];
            let (status, body) = fetch(self.vox("GetKeyValueItems", &params)).await?;
            if status != StatusCode::OK {
                bail!("GetKeyValueItems page {page}: {status} {body}");
            }
            let items = body["result"]
                .as_array()
                .with_context(|| format!("listing without result: {body}"))?;
            for item in items {
                let key = item["key"].as_str().unwrap_or_default().to_owned();
                listed.insert(key, vox_item(item, None));
            }
            if items.len() < VOXIMPLANT_LIST_COUNT {
                break;
            }
        }
        // Items expire between the reads and the listing: a read item missing from the
        // listing is fine if it may have expired meanwhile.
        let now = unix_now();
        compare_listing(
            Dialect::Voximplant,
            &read,
            &listed,
            out,
            |read, listed| match (read, listed) {
                (Observed::Present { expires_at, .. }, None) => {
                    expires_at.is_some_and(|e| e <= now + EXPIRY_SLACK_SECS)
                }
                _ => false,
            },
        );
        Ok(())
    }

    async fn keyvalues(&self, model: &mut Model, out: &mut Verification) -> anyhow::Result<()> {
        let base = format!("/{KEYVALUES_API_KEY}/key-values");
        let mut read = BTreeMap::new();
        for i in 0..KEYVALUES_KEYS {
            let key = keyvalues_key(i);
            let request = self
                .http
                .get(self.url(&format!("{base}/{key}")))
                .bearer_auth(&self.tokens.keyvalues);
            let (status, body) = fetch(request).await?;
            let observed = match status {
                StatusCode::OK => keyvalues_item(&body, Some(&key)),
                StatusCode::NOT_FOUND => Observed::Absent,
                other => bail!("GET {key}: {other} {body}"),
            };
            if let Observed::Present { id: Some(id), .. } = &observed {
                out.keyvalues_ids.insert(key.clone(), id.clone());
            }
            let slot = Slot::new(Dialect::KeyValues, &key);
            let verdict = model.verify(&slot, observed.clone(), unix_now(), &mut out.tally);
            out.judge(&slot, verdict);
            read.insert(key, observed);
        }
        let request = self
            .http
            .get(self.url(&format!("{base}?rpp={KEYVALUES_LIST_RPP}&page=1")))
            .bearer_auth(&self.tokens.keyvalues);
        let (status, body) = fetch(request).await?;
        if status != StatusCode::OK {
            bail!("listing: {status} {body}");
        }
        let items = body["item"]
            .as_array()
            .with_context(|| format!("listing without item: {body}"))?;
        if body["totalRecords"].as_u64() != Some(items.len() as u64) {
            out.garbage(format!(
                "keyvalues listing: totalRecords {} but {} items (at most {KEYVALUES_KEYS} exist)",
                body["totalRecords"],
                items.len()
            ));
        }
        let listed = items
            .iter()
            .map(|item| {
                let key = item["key"].as_str().unwrap_or_default().to_owned();
                (key, keyvalues_item(item, None))
            })
            .collect();
        compare_listing(Dialect::KeyValues, &read, &listed, out, |_, _| false);
        Ok(())
    }

    async fn app_keys(&self, model: &mut Model, out: &mut Verification) -> anyhow::Result<()> {
        let mut listed: BTreeMap<String, Observed> = BTreeMap::new();
        let mut reserved_sum = 0u64;
        let mut offset = 0;
        // (meta.results.total, meta.total_reserved_rate_limit) of the last page.
        let meta = loop {
            let request = self
                .http
                .get(self.url(&format!(
                    "/v2/application-keys?page[limit]={APP_KEYS_LIST_LIMIT}&page[offset]={offset}"
                )))
                .bearer_auth(&self.tokens.app_keys);
            let (status, body) = fetch(request).await?;
            if status != StatusCode::OK {
                bail!("listing at offset {offset}: {status} {body}");
            }
            let keys = body["data"]
                .as_array()
                .with_context(|| format!("listing without data: {body}"))?;
            for key in keys {
                let id = key["id"].as_str().unwrap_or_default().to_owned();
                reserved_sum += key["reserved_rate_limit"].as_u64().unwrap_or(0);
                listed.insert(id, app_key_item(key));
            }
            let total = body["meta"]["results"]["total"].as_u64().unwrap_or(0);
            offset += APP_KEYS_LIST_LIMIT;
            if keys.is_empty() || offset as u64 >= total {
                break (total, body["meta"]["total_reserved_rate_limit"].as_u64());
            }
        };
        // The budget record is written in the same batch as every key change: after any
        // crash it must agree with the keys.
        let (total, reserved) = meta;
        if total != listed.len() as u64 || reserved != Some(reserved_sum) {
            out.garbage(format!(
                "app-keys budget: meta says {total} keys reserving {reserved:?}, \
                 the listing has {} keys reserving {reserved_sum}",
                listed.len()
            ));
        }
        let tracked: Vec<Slot> = model.slots(Dialect::AppKeys).cloned().collect();
        for slot in &tracked {
            let observed = listed.remove(&slot.name).unwrap_or(Observed::Absent);
            if matches!(observed, Observed::Present { .. }) {
                out.app_keys.push(slot.name.clone());
            }
            let verdict = model.verify(slot, observed, unix_now(), &mut out.tally);
            out.judge(slot, verdict);
        }
        for (id, observed) in listed {
            let verdict = model.adopt_unknown_app_key(&id, observed, &mut out.tally);
            out.app_keys.push(id.clone());
            out.judge(&Slot::new(Dialect::AppKeys, id), verdict);
        }
        Ok(())
    }
}

/// Flags keys a listing shows that the point reads do not explain, and reads the listing
/// lacks (unless `excused(read, listed)`).
fn compare_listing(
    dialect: Dialect,
    read: &BTreeMap<String, Observed>,
    listed: &BTreeMap<String, Observed>,
    out: &mut Verification,
    excused: impl Fn(&Observed, Option<&Observed>) -> bool,
) {
    for (key, item) in listed {
        match read.get(key) {
            None => out.garbage(format!(
                "{} listing shows {key:?}, a key never written: {item}",
                dialect.name()
            )),
            Some(r) if r == item => {}
            Some(r) if excused(r, Some(item)) => {}
            Some(r) => out.garbage(format!(
                "{} listing shows {key:?} as {item}, a read returned {r}",
                dialect.name()
            )),
        }
    }
    for (key, r) in read {
        if matches!(r, Observed::Present { .. }) && !listed.contains_key(key) && !excused(r, None) {
            out.garbage(format!(
                "{} listing lacks {key:?}, a read returned {r}",
                dialect.name()
            ));
        }
    }
}

/// Checks that an item names the key it was read under.
fn key_matches(item: &Json, key: Option<&str>) -> Result<(), String> {
    match key {
        Some(key) if item["key"].as_str() != Some(key) => {
            Err(format!("read under {key:?}, names {}", item["key"]))
        }
        _ => Ok(()),
    }
}

/// A key-store item `{key, data: {v, pad}, createdBy}`.
fn keystore_item(item: &Json, key: Option<&str>) -> Observed {
    let parse = || -> Result<Observed, String> {
        key_matches(item, key)?;
        // One user writes everything, so every entry was created by it.
        if item["createdBy"] != KEYSTORE_USER_ID {
            return Err(format!("createdBy {} is not the writer", item["createdBy"]));
        }
        let data = &item["data"];
        let payload = data["v"]
            .as_str()
            .ok_or_else(|| format!("data without v: {data}"))?;
        if data["pad"].as_str() != Some(&padding(payload, KEYSTORE_PAD_BYTES_MAX)) {
            return Err(format!("padding of {payload:?} is damaged"));
        }
        Ok(Observed::Present {
            payload: payload.to_owned(),
            id: None,
            expires_at: None,
        })
    };
    parse().unwrap_or_else(Observed::Malformed)
}

/// A Voximplant item `{key, value, expires_at}`.
fn vox_item(item: &Json, key: Option<&str>) -> Observed {
    let parse = || -> Result<Observed, String> {
        key_matches(item, key)?;
        let value = item["value"]
            .as_str()
            .ok_or_else(|| format!("item without value: {item}"))?;
        let expires_at = item["expires_at"]
            .as_u64()
            .ok_or_else(|| format!("item without expires_at: {item}"))?;
        Ok(Observed::Present {
            payload: unpad_value(value, VOXIMPLANT_PAD_BYTES_MAX)?.to_owned(),
            id: None,
            expires_at: Some(expires_at),
        })
    };
    parse().unwrap_or_else(Observed::Malformed)
}

/// A key-values resource `{id, key, value, ...}`.
fn keyvalues_item(item: &Json, key: Option<&str>) -> Observed {
    let parse = || -> Result<Observed, String> {
        key_matches(item, key)?;
        let value = item["value"]
            .as_str()
            .ok_or_else(|| format!("resource without value: {item}"))?;
        let id = item["id"]
            .as_str()
            .ok_or_else(|| format!("resource without id: {item}"))?;
        Ok(Observed::Present {
            payload: unpad_value(value, KEYVALUES_PAD_BYTES_MAX)?.to_owned(),
            id: Some(id.to_owned()),
            expires_at: None,
        })
    };
    parse().unwrap_or_else(Observed::Malformed)
}

/// An application key `{id, name, reserved_rate_limit, ...}` (its payload is its name).
fn app_key_item(key: &Json) -> Observed {
    let parse = || -> Result<Observed, String> {
        let name = key["name"]
            .as_str()
            .ok_or_else(|| format!("key without name: {key}"))?;
        let limit = key["reserved_rate_limit"].as_u64();
        if limit != Some(rate_limit_for(name)) {
            return Err(format!(
                "{name:?} reserves {limit:?}, it was written with {}",
                rate_limit_for(name)
            ));
        }
        Ok(Observed::Present {
            payload: name.to_owned(),
            id: None,
            expires_at: None,
        })
    };
    parse().unwrap_or_else(Observed::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crashtest::model::{padded_value, payload};
    use serde_json::json;

    #[test]
    fn keystore_items_are_checked_to_the_byte() {
        let p = payload("ks-001", 1, 0, 0);
        let good = json!({"key": "ks-001", "createdBy": KEYSTORE_USER_ID, "data": {"v": p,
            "pad": padding(&p, KEYSTORE_PAD_BYTES_MAX)}});
        assert!(matches!(
            keystore_item(&good, Some("ks-001")),
            Observed::Present { .. }
        ));
        assert!(matches!(
            keystore_item(&good, Some("ks-002")),
            Observed::Malformed(_)
        ));
        let damaged = json!({"key": "ks-001", "createdBy": KEYSTORE_USER_ID,
            "data": {"v": p, "pad": "0"}});
        assert!(matches!(
            keystore_item(&damaged, None),
            Observed::Malformed(_)
        ));
        let mut stranger = good.clone();
        stranger["createdBy"] = json!("000000000000000000000000");
        assert!(matches!(
            keystore_item(&stranger, None),
            Observed::Malformed(_)
        ));
    }

    #[test]
    fn vox_and_keyvalues_items_carry_expiry_and_id() {
        let p = payload("vx-001", 1, 0, 0);
        let item = json!({"key": "vx-001", "value": padded_value(&p, VOXIMPLANT_PAD_BYTES_MAX),
            "expires_at": 77});
        assert_eq!(
            vox_item(&item, Some("vx-001")),
            Observed::Present {
                payload: p.clone(),
                id: None,
                expires_at: Some(77)
            }
        );
        let res = json!({"id": "abc", "key": "kv-001",
            "value": padded_value(&p, KEYVALUES_PAD_BYTES_MAX)});
        assert_eq!(
            keyvalues_item(&res, Some("kv-001")),
            Observed::Present {
                payload: p,
                id: Some("abc".into()),
                expires_at: None
            }
        );
    }

    #[test]
    fn app_key_reserved_limit_must_match_its_name() {
        let p = payload("ak", 1, 0, 0);
        let good = json!({"name": p, "reserved_rate_limit": rate_limit_for(&p)});
        assert!(matches!(app_key_item(&good), Observed::Present { .. }));
        let bad = json!({"name": p, "reserved_rate_limit": rate_limit_for(&p) + 1});
        assert!(matches!(app_key_item(&bad), Observed::Malformed(_)));
    }

    #[test]
    fn listing_must_agree_with_reads() {
        let present = |p: &str| Observed::Present {
            payload: p.into(),
            id: None,
            expires_at: None,
        };
        let read: BTreeMap<String, Observed> = [
            ("a".to_owned(), present("1")),
            ("b".to_owned(), Observed::Absent),
        ]
        .into();
        let mut out = Verification::default();
        let agree: BTreeMap<String, Observed> = [("a".to_owned(), present("1"))].into();
        compare_listing(Dialect::Keystore, &read, &agree, &mut out, |_, _| false);
        assert_eq!(out.tally.garbage, 0, "{:?}", out.failures);

        let unknown: BTreeMap<String, Observed> = [
            ("a".to_owned(), present("1")),
            ("z".to_owned(), present("9")),
        ]
        .into();
        compare_listing(Dialect::Keystore, &read, &unknown, &mut out, |_, _| false);
        assert_eq!(out.tally.garbage, 1);

        let missing = BTreeMap::new();
        compare_listing(Dialect::Keystore, &read, &missing, &mut out, |_, _| false);
        assert_eq!(out.tally.garbage, 2);

        let differs: BTreeMap<String, Observed> = [("a".to_owned(), present("2"))].into();
        compare_listing(Dialect::Keystore, &read, &differs, &mut out, |_, _| false);
        assert_eq!(out.tally.garbage, 3);
    }
}
