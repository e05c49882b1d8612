//! E-mail to citizens over SMTP (`[notifications.email]`), with lettre.
//!
//! The relay is the operator's (a mail server on the host's network); the host speaks plain
//! SMTP to it, with AUTH when configured. A 5xx answer is a permanent failure (the address
//! is refused), anything else is tried again later.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::EmailSettings;

/// Why an e-mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// The relay refused for good (a bad address): do not try again.
    #[error("the mail relay refused the message: {0}")]
    Permanent(String),
    #[error("the mail relay did not take the message: {0}")]
    Temporary(String),
}

/// The relay.
#[derive(Debug)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(settings: &EmailSettings) -> anyhow::Result<Mailer> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .timeout(Some(settings.timeout));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer { transport: builder.build(), from: settings.from.parse()? })
    }

    /// Sends a plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), EmailError> {
        let to: Mailbox = to.parse().map_err(|e| EmailError::Permanent(format!("not an address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| EmailError::Permanent(e.to_string()))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(EmailError::Permanent(error.to_string())),
            Err(error) => Err(EmailError::Temporary(error.to_string())),
        }
    }
}
