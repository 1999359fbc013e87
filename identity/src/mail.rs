//! Outgoing mail over SMTP (lettre, on tokio with rustls), configured with the original
//! Maestro's variables: `SMTP_HOST`, `SMTP_PORT`, `SMTP_SENDER`, `SMTP_USERNAME`,
//! `SMTP_PASSWORD`, `SMTP_USETSL`.

use std::fmt;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::{Email, IdentityError};

/// How to reach the SMTP server.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// The From address.
    pub sender: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// TLS: implicit on port 465, STARTTLS (required) on any other port. Without it the
    /// connection is plain, for a relay on the same machine or network.
    pub tls: bool,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("sender", &self.sender)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .finish()
    }
}

/// Plain 7bit when the text is ASCII with lines under SMTP's 998 octets, so that a link
/// stays one piece even where the raw mail is read (lettre would pick quoted-printable for
/// any line over 76, which splits links and turns `=` into `=3D`); lettre's choice else.
fn body_of(text: String) -> Body {
    if text.is_ascii() && text.lines().all(|line| line.len() < 998) && !text.contains('\r') {
        return Body::dangerous_pre_encoded(
            text.replace('\n', "\r\n").into_bytes(),
            ContentTransferEncoding::SevenBit,
        );
    }
    Body::new(text)
}

#[derive(Clone)]
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub(crate) fn new(settings: &SmtpSettings) -> Result<Mailer, IdentityError> {
        let from: Mailbox = settings.sender.parse().map_err(|error| {
            IdentityError::invalid(
                "SMTP_SENDER",
                format!("`{}` is not a mail address ({error})", settings.sender),
            )
        })?;
        let bad_host = |error: lettre::transport::smtp::Error| {
            IdentityError::invalid(
                "SMTP_HOST",
                format!("`{}` cannot be used for TLS ({error})", settings.host),
            )
        };
        let builder = match (settings.tls, settings.port) {
            (true, 465) => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host).map_err(bad_host)?,
            (true, _) => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host).map_err(bad_host)?
            }
            (false, _) => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host),
        };
        let mut builder = builder.port(settings.port).timeout(Some(Duration::from_secs(20)));
        if let Some(username) = &settings.username {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                settings.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    /// Sends a plain-text mail. `message_id` names it for good (a mail sent again after its
    /// answer was lost is then known as the same one); without it, a random one. The error
    /// says why, in one line, without the body.
    pub(crate) async fn send(
        &self,
        to: &Email,
        subject: &str,
        body: String,
        message_id: Option<String>,
    ) -> Result<(), String> {
        let to: Mailbox = to
            .as_str()
            .parse()
            .map_err(|error| format!("the address cannot be mailed to ({error})"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(message_id)
            .header(ContentType::TEXT_PLAIN)
            .body(body_of(body))
            .map_err(|error| format!("the mail could not be built ({error})"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|error| format!("the SMTP server did not take the mail ({error})"))
    }
}
