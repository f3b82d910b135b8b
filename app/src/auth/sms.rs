//! SMS senders: how a verification code reaches the subscriber (`log` for development, an HTTP
//! webhook in production). Issuing and checking codes is `accounts::codes`.
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::configuration::{SmsSenderKind, SmsSettings};

/// Hands a code to the subscriber. `name()` is the `sender` label of `sms_codes_sent_total`.
pub trait SmsSender: Send + Sync {
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, tel: &'a str, code: &'a str) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// Development: the code goes to the log. In production the code itself is never logged (a
/// verification code is a secret): only the fact that no gateway delivered it.
pub struct LogSender {
    pub reveal_code: bool,
}

impl SmsSender for LogSender {
    fn name(&self) -> &'static str {
        "log"
    }
    fn send<'a>(&'a self, tel: &'a str, code: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if self.reveal_code {
                tracing::info!(tel, code, "SMS code (log sender: development only)");
            } else {
                tracing::warn!(
                    tel,
                    "SMS code not delivered: sms.sender = \"log\" in production; configure sms.sender = \"http\""
                );
            }
            Ok(())
        })
    }
}

/// Production: POST `{"tel","code"}` to a webhook (the SMS gateway) with a Bearer token; bounded
/// retries with exponential backoff on connection errors and 5xx.
pub struct HttpSender {
    client: reqwest::Client,
    url: String,
    token: String,
    retries: u32,
}

impl HttpSender {
    pub fn new(s: &SmsSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(Duration::from_millis(s.webhook_timeout_ms.max(1))).build()?;
        Ok(HttpSender {
            client,
            url: s.webhook_url.clone(),
            token: s.webhook_token.expose().to_string(),
            retries: s.webhook_max_retries,
        })
    }
}

impl SmsSender for HttpSender {
    fn name(&self) -> &'static str {
        "http"
    }
    fn send<'a>(&'a self, tel: &'a str, code: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let mut attempt = 0;
            loop {
                let mut req = self.client.post(&self.url).json(&serde_json::json!({"tel": tel, "code": code}));
                if !self.token.is_empty() {
                    req = req.bearer_auth(&self.token);
                }
                let err = match req.send().await {
                    Ok(res) if res.status().is_success() => return Ok(()),
                    // A 4xx will not get better by repeating it.
                    Ok(res) if res.status().is_client_error() => {
                        anyhow::bail!("SMS webhook refused the message: {}", res.status())
                    }
                    Ok(res) => anyhow::anyhow!("SMS webhook answered {}", res.status()),
                    Err(e) => anyhow::anyhow!(e).context("SMS webhook request failed"),
                };
                if attempt >= self.retries {
                    return Err(err);
                }
                tracing::warn!(attempt, error = %format!("{err:#}"), "SMS webhook failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
                attempt += 1;
            }
        })
    }
}

pub fn sender_from_settings(s: &SmsSettings, production: bool) -> anyhow::Result<Arc<dyn SmsSender>> {
    Ok(match s.sender {
        SmsSenderKind::Log => Arc::new(LogSender { reveal_code: !production }),
        SmsSenderKind::Http => Arc::new(HttpSender::new(s)?),
    })
}
