//! The write traffic of one cycle: client tasks, each speaking one dialect, issuing writes
//! back to back until the daemon is killed, and recording what each answer implies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value as Json};

use super::api::{
    self, Credentials, Reply, Tokens, KEYSTORE_TOKEN, KEYVALUES_API_KEY, VOX_APPLICATION_ID,
};
use super::model::{
    padded_value, padding, payload, rate_limit_for, Dialect, Expiry, Slot, State, Value, Write,
    APP_KEYS_TAG,
};

/// Keys per dialect that clients pick from: few enough that clients collide on them.
pub const KEYSTORE_KEYS: usize = 48;
pub const VOXIMPLANT_KEYS: usize = 48;
pub const KEYVALUES_KEYS: usize = 32;
/// Above this many live application keys, clients delete rather than create.
const APP_KEYS_LIVE_MAX: usize = 32;
/// Padding of values, in bytes (within each dialect's value limit), so memtables fill and
/// flushes and compactions happen under the kill.
pub const KEYSTORE_PAD_BYTES_MAX: usize = 3000;
pub const VOXIMPLANT_PAD_BYTES_MAX: usize = 1500;
pub const KEYVALUES_PAD_BYTES_MAX: usize = 3000;
/// Voximplant's default item lifetime (when neither `ttl` nor `expires_at` is sent).
const VOX_TTL_SECS_DEFAULT: u64 = 2_592_000;
/// How far ahead an explicit Voximplant `expires_at` lies, in seconds.
const EXPIRES_AHEAD_SECS: std::ops::RangeInclusive<u64> = 5..=10;
/// How many anomalies one client keeps verbatim (the rest are only counted).
const ANOMALIES_KEPT_MAX: usize = 8;

/// Orders requests across clients: a tick before sending, a tick after the answer.
#[derive(Debug)]
pub struct Clock(AtomicU64);

impl Clock {
    /// Starts at 1: tick 0 is "before every write" (the state a cycle starts from).
    pub fn new() -> Clock {
        Clock(AtomicU64::new(1))
    }

    fn tick(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

pub fn keystore_key(i: usize) -> String {
    format!("ks-{i:03}")
}
pub fn voximplant_key(i: usize) -> String {
    format!("vx-{i:03}")
}
pub fn keyvalues_key(i: usize) -> String {
    format!("kv-{i:03}")
}

/// What clients share within a cycle: server-assigned ids they may address.
#[derive(Debug, Default)]
pub struct Shared {
    /// Key-values key -> id of its resource, as last seen.
    pub keyvalues_ids: Mutex<HashMap<String, String>>,
    /// Application key ids believed to exist.
    pub app_keys: Mutex<Vec<String>>,
}

/// Everything a client needs for one cycle.
pub struct CycleCtx {
    pub cycle: u32,
    pub http: reqwest::Client,
    pub base: String,
    pub tokens: Tokens,
    pub credentials: Arc<Credentials>,
    pub clock: Arc<Clock>,
    /// Set just before the kill: clients stop, and an answer missing after it is expected.
    pub stop: Arc<AtomicBool>,
    pub shared: Arc<Shared>,
}

/// A token a 2xx handed out: it is a durable write, so it must work after the restart.
#[derive(Debug, Clone)]
pub struct TokenWrite {
    pub dialect: Dialect,
    pub token: String,
}

/// What one client did in one cycle.
#[derive(Debug, Default)]
pub struct ClientReport {
    pub client: u32,
    /// Payloads generated (numbered 0..issued).
    pub issued: u64,
    /// Writes that took or may have taken effect. `None` slot: an application key created by
    /// a request that got no answer (its id is unknown).
    pub writes: Vec<(Option<Slot>, Write)>,
    pub tokens: Vec<TokenWrite>,
    /// Answers the test does not expect (count, and the first few verbatim).
    pub anomalies: u64,
    pub anomaly_samples: Vec<String>,
    pub requests: u64,
}

/// What a write implies for its slot if it took effect.
enum Implied {
    /// The same slot and state whether acknowledged or not.
    Fixed(Slot, State),
    /// Decided by the answer (`None` if it never came) and the unix time it settled at. Gives
    /// the slot (`None`: unknown, an unanswered create) and its state.
    Answer(AnswerFn),
}

type AnswerFn = Box<dyn FnOnce(Option<&Json>, u64) -> Result<(Option<Slot>, State), String> + Send>;

/// How a Voximplant write sets the item's lifetime.
#[derive(Clone, Copy)]
enum Life {
    /// `ttl` seconds from the server's clock (`send_ttl`: false leaves the default implied).
    Ttl { secs: u64, send_ttl: bool },
    /// `expires_at`, an exact unix second.
    ExpiresAt(u64),
}

/// Runs one client until `ctx.stop` is set.
pub async fn run_client(
    ctx: Arc<CycleCtx>,
    client: u32,
    dialect: Dialect,
    rng: StdRng,
) -> ClientReport {
    let mut c = Client {
        report: ClientReport {
            client,
            ..ClientReport::default()
        },
        ctx,
        rng,
    };
    while !c.ctx.stop.load(Ordering::SeqCst) {
        match dialect {
            Dialect::Keystore => c.keystore().await,
            Dialect::Voximplant => c.voximplant().await,
            Dialect::KeyValues => c.keyvalues().await,
            Dialect::AppKeys => c.app_keys().await,
        }
    }
    c.report
}

struct Client {
    ctx: Arc<CycleCtx>,
    rng: StdRng,
    report: ClientReport,
}

impl Client {
    fn next_payload(&mut self, tag: &str) -> String {
        let p = payload(tag, self.ctx.cycle, self.report.client, self.report.issued);
        self.report.issued += 1;
        p
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.ctx.base)
    }

    fn anomaly(&mut self, what: String) {
        self.report.anomalies += 1;
        if self.report.anomaly_samples.len() < ANOMALIES_KEPT_MAX {
            self.report.anomaly_samples.push(what);
        }
    }

    /// Sends a write and records what its answer implies. Returns the body if acknowledged.
    async fn write(
        &mut self,
        op: &'static str,
        request: RequestBuilder,
        refusals: &[StatusCode],
        implied: Implied,
    ) -> Option<Json> {
        let invoked = self.ctx.clock.tick();
        self.report.requests += 1;
        let reply = api::send(request, refusals).await;
        let settled = self.ctx.clock.tick();
        let (acked, body) = match reply {
            Reply::Acked(body) => (true, Some(body)),
            Reply::Refused => return None,
            Reply::NoAnswer(why) => {
                if !self.ctx.stop.load(Ordering::SeqCst) {
                    self.anomaly(format!("{op}: no answer before the kill: {why}"));
                }
                (false, None)
            }
            Reply::Unexpected { status, body } => {
                self.anomaly(format!("{op}: unexpected {status}: {body:.300}"));
                if !status.is_server_error() {
                    return None; // A 4xx changed nothing.
                }
                (false, None)
            }
        };
        let outcome = match implied {
            Implied::Fixed(slot, state) => Ok((Some(slot), state)),
            Implied::Answer(f) => f(body.as_ref(), unix_now()),
        };
        let (slot, state) = match outcome {
            Ok(x) => x,
            Err(why) => {
                self.anomaly(format!("{op}: {why}"));
                return None;
            }
        };
        let write = Write {
            op,
            state,
            invoked,
            acked: acked.then_some(settled),
        };
        self.report.writes.push((slot, write));
        body
    }

    async fn keystore(&mut self) {
        let key = keystore_key(self.rng.gen_range(0..KEYSTORE_KEYS));
        let slot = Slot::new(Dialect::Keystore, &key);
        let http = self.ctx.http.clone();
        let roll = self.rng.gen_range(0..100);
        if roll < 25 {
            let request = http
                .delete(self.url(&format!("/v1/key-store/{key}")))
                .bearer_auth(KEYSTORE_TOKEN);
            let implied = Implied::Fixed(slot, None);
            self.write(
                "keystore delete",
                request,
                &[StatusCode::NOT_FOUND],
                implied,
            )
            .await;
            return;
        }
        let payload = self.next_payload(&key);
        let data = json!({"v": payload, "pad": padding(&payload, KEYSTORE_PAD_BYTES_MAX)});
        let create = self.url("/v1/key-store/");
        let (op, request, refusals): (_, _, &[StatusCode]) = match roll {
            25..45 => (
                "keystore insert",
                http.post(create).json(&json!({"key": key, "data": data})),
                &[StatusCode::CONFLICT],
            ),
            // 409 here: the guarded read-modify-write lost every retry (code 5002).
            45..70 => (
                "keystore upsert",
                http.post(create)
                    .json(&json!({"key": key, "data": data, "createOrUpdate": true})),
                &[StatusCode::CONFLICT],
            ),
            70..85 => (
                "keystore force",
                http.post(create)
                    .json(&json!({"key": key, "data": data, "force": true})),
                &[],
            ),
            _ => (
                "keystore update",
                http.put(self.url(&format!("/v1/key-store/{key}")))
                    .json(&json!({"data": data})),
                &[StatusCode::NOT_FOUND, StatusCode::CONFLICT],
            ),
        };
        let request = request.bearer_auth(KEYSTORE_TOKEN);
        let state = Some(Value {
            payload,
            id: None,
            expiry: Expiry::Never,
        });
        self.write(op, request, refusals, Implied::Fixed(slot, state))
            .await;
    }

    fn vox(&self, method: &str, params: &[(&str, String)]) -> RequestBuilder {
        let mut form: Vec<(&str, String)> =
            vec![("application_id", VOX_APPLICATION_ID.to_string())];
        form.extend(params.iter().cloned());
        self.ctx
            .http
            .post(self.url(&format!("/platform_api/{method}")))
            .bearer_auth(&self.ctx.tokens.vox)
            .form(&form)
    }

    async fn voximplant(&mut self) {
        let key = voximplant_key(self.rng.gen_range(0..VOXIMPLANT_KEYS));
        let slot = Slot::new(Dialect::Voximplant, &key);
        let roll = self.rng.gen_range(0..100);
        if roll < 30 {
            let request = self.vox("DelKeyValueItem", &[("key", key)]);
            let implied = Implied::Fixed(slot, None);
            self.write(
                "voximplant delete",
                request,
                &[StatusCode::NOT_FOUND],
                implied,
            )
            .await;
            return;
        }
        let payload = self.next_payload(&key);
        let value = padded_value(&payload, VOXIMPLANT_PAD_BYTES_MAX);
        let (op, life) = match roll {
            30..55 => (
                "voximplant set ttl=3600",
                Life::Ttl {
                    secs: 3600,
                    send_ttl: true,
                },
            ),
            55..75 => (
                "voximplant set short ttl",
                Life::Ttl {
                    secs: self.rng.gen_range(1..=3),
                    send_ttl: true,
                },
            ),
            75..85 => (
                "voximplant set default ttl",
                Life::Ttl {
                    secs: VOX_TTL_SECS_DEFAULT,
                    send_ttl: false,
                },
            ),
            85..95 => (
                "voximplant set expires_at",
                // Far enough ahead that a slow request still arrives before it (the server
                // refuses a past `expires_at`), near enough to expire within a few cycles.
                Life::ExpiresAt(unix_now() + self.rng.gen_range(EXPIRES_AHEAD_SECS)),
            ),
            _ => (
                "voximplant set ttl=0",
                Life::Ttl {
                    secs: 0,
                    send_ttl: true,
                },
            ),
        };
        let mut params = vec![("key", key), ("value", value)];
        match life {
            Life::Ttl {
                secs,
                send_ttl: true,
            } => params.push(("ttl", secs.to_string())),
            Life::Ttl { .. } => {}
            Life::ExpiresAt(at) => params.push(("expires_at", at.to_string())),
        }
        let request = self.vox("SetKeyValueItem", &params);
        let invoked_unix = unix_now();
        let implied = Implied::Answer(Box::new(move |body, settled_unix| {
            let expiry = match (body, life) {
                (Some(body), _) => Expiry::At(
                    body["result"]["expires_at"]
                        .as_u64()
                        .ok_or_else(|| format!("answer without result.expires_at: {body}"))?,
                ),
                (None, Life::ExpiresAt(at)) => Expiry::At(at),
                // The server read its clock somewhere between sending and the failure.
                (None, Life::Ttl { secs, .. }) => Expiry::Within {
                    earliest: invoked_unix + secs,
                    latest: settled_unix + secs + 1,
                },
            };
            let state = Some(Value {
                payload,
                id: None,
                expiry,
            });
            Ok((Some(slot), state))
        }));
        self.write(op, request, &[], implied).await;
    }

    async fn keyvalues(&mut self) {
        let key = keyvalues_key(self.rng.gen_range(0..KEYVALUES_KEYS));
        let slot = Slot::new(Dialect::KeyValues, &key);
        let known_id = self
            .ctx
            .shared
            .keyvalues_ids
            .lock()
            .expect("lock")
            .get(&key)
            .cloned();
        let roll = self.rng.gen_range(0..100);
        let http = self.ctx.http.clone();
        let token = self.ctx.tokens.keyvalues.clone();
        let items = self.url(&format!("/{KEYVALUES_API_KEY}/key-values"));
        match (roll, known_id) {
            (0..2, _) => {
                let request = self.ctx.credentials.keyvalues_login(&http, &self.ctx.base);
                self.token_write("keyvalues login", Dialect::KeyValues, request)
                    .await;
            }
            (2..35, _) | (_, None) => {
                let payload = self.next_payload(&key);
                let value = padded_value(&payload, KEYVALUES_PAD_BYTES_MAX);
                let request = http
                    .post(items)
                    .bearer_auth(token)
                    .json(&json!({"key": key, "value": value}));
                let shared = self.ctx.shared.clone();
                let implied = Implied::Answer(Box::new(move |body, _| {
                    // Unanswered: the id is unknown, any id will do.
                    let id = match body {
                        Some(body) => {
                            let id = body["id"]
                                .as_str()
                                .ok_or_else(|| format!("create answer without id: {body}"))?;
                            let mut ids = shared.keyvalues_ids.lock().expect("lock");
                            ids.insert(key, id.to_owned());
                            Some(id.to_owned())
                        }
                        None => None,
                    };
                    let state = Some(Value {
                        payload,
                        id,
                        expiry: Expiry::Never,
                    });
                    Ok((Some(slot), state))
                }));
                self.write(
                    "keyvalues create",
                    request,
                    &[StatusCode::CONFLICT],
                    implied,
                )
                .await;
            }
            (35..70, Some(id)) => {
                let payload = self.next_payload(&key);
                let value = padded_value(&payload, KEYVALUES_PAD_BYTES_MAX);
                let request = http
                    .put(format!("{items}/{id}"))
                    .bearer_auth(token)
                    .json(&json!({"value": value}));
                // Resources are never renamed, so the id still names this key (or is gone:
                // 404).
                let state = Some(Value {
                    payload,
                    id: Some(id),
                    expiry: Expiry::Never,
                });
                let refusals = [StatusCode::NOT_FOUND, StatusCode::CONFLICT];
                self.write(
                    "keyvalues update",
                    request,
                    &refusals,
                    Implied::Fixed(slot, state),
                )
                .await;
            }
            (_, Some(id)) => {
                let request = http.delete(format!("{items}/{id}")).bearer_auth(token);
                let implied = Implied::Fixed(slot, None);
                self.write(
                    "keyvalues delete",
                    request,
                    &[StatusCode::NOT_FOUND],
                    implied,
                )
                .await;
            }
        }
    }

    /// A token request: an acknowledged token is a durable write, checked after the restart.
    async fn token_write(&mut self, op: &'static str, dialect: Dialect, request: RequestBuilder) {
        self.report.requests += 1;
        match api::send(request, &[]).await {
            Reply::Acked(body) => match body["access_token"].as_str() {
                Some(token) => self.report.tokens.push(TokenWrite {
                    dialect,
                    token: token.to_owned(),
                }),
                None => self.anomaly(format!("{op}: answer without access_token: {body}")),
            },
            Reply::Refused => unreachable!("no refusal is expected"),
            Reply::NoAnswer(why) => {
                if !self.ctx.stop.load(Ordering::SeqCst) {
                    self.anomaly(format!("{op}: no answer before the kill: {why}"));
                }
            }
            Reply::Unexpected { status, body } => {
                self.anomaly(format!("{op}: unexpected {status}: {body:.300}"))
            }
        }
    }

    async fn app_keys(&mut self) {
        let roll = self.rng.gen_range(0..100);
        let http = self.ctx.http.clone();
        if roll >= 97 {
            let request = self.ctx.credentials.app_keys_token(&http, &self.ctx.base);
            self.token_write("app-keys token", Dialect::AppKeys, request)
                .await;
            return;
        }
        let (live, picked) = {
            let ids = self.ctx.shared.app_keys.lock().expect("lock");
            (ids.len(), ids.choose(&mut self.rng).cloned())
        };
        let token = self.ctx.tokens.app_keys.clone();
        let keys_url = self.url("/v2/application-keys");
        let create = roll < 40 && live < APP_KEYS_LIVE_MAX;
        match picked {
            Some(id) if !create && roll < 70 => {
                let payload = self.next_payload(APP_KEYS_TAG);
                let request = http
                    .put(format!("{keys_url}/{id}"))
                    .bearer_auth(token)
                    .json(&app_key_body(&payload));
                let state = Some(Value {
                    payload,
                    id: None,
                    expiry: Expiry::Never,
                });
                // 409/429: the budget's optimistic write lost every retry.
                let refusals = [
                    StatusCode::NOT_FOUND,
                    StatusCode::CONFLICT,
                    StatusCode::TOO_MANY_REQUESTS,
                ];
                let slot = Slot::new(Dialect::AppKeys, id);
                self.write(
                    "app-keys update",
                    request,
                    &refusals,
                    Implied::Fixed(slot, state),
                )
                .await;
            }
            Some(id) if !create => {
                let request = http.delete(format!("{keys_url}/{id}")).bearer_auth(token);
                let refusals = [StatusCode::NOT_FOUND, StatusCode::TOO_MANY_REQUESTS];
                let slot = Slot::new(Dialect::AppKeys, &id);
                let acked = self
                    .write(
                        "app-keys delete",
                        request,
                        &refusals,
                        Implied::Fixed(slot, None),
                    )
                    .await
                    .is_some();
                if acked {
                    let mut ids = self.ctx.shared.app_keys.lock().expect("lock");
                    ids.retain(|k| *k != id);
                }
            }
            _ => {
                let payload = self.next_payload(APP_KEYS_TAG);
                let request = http
                    .post(keys_url)
                    .bearer_auth(token)
                    .json(&app_key_body(&payload));
                let shared = self.ctx.shared.clone();
                let implied = Implied::Answer(Box::new(move |body, _| {
                    let state = Some(Value {
                        payload,
                        id: None,
                        expiry: Expiry::Never,
                    });
                    let Some(body) = body else {
                        return Ok((None, state));
                    };
                    let id = body["data"]["id"]
                        .as_str()
                        .ok_or_else(|| format!("create answer without data.id: {body}"))?;
                    shared.app_keys.lock().expect("lock").push(id.to_owned());
                    Ok((Some(Slot::new(Dialect::AppKeys, id)), state))
                }));
                let refusals = [StatusCode::CONFLICT, StatusCode::TOO_MANY_REQUESTS];
                self.write("app-keys create", request, &refusals, implied)
                    .await;
            }
        }
    }
}

/// The create/update body of an application key named `payload`.
fn app_key_body(payload: &str) -> Json {
    json!({"data": {"type": "application_key", "name": payload,
        "reserved_rate_limit": rate_limit_for(payload)}})
}
