//! The pages that links in mails open: a password reset (a form for the new password that
//! calls `resetPassword`) and a sign-up confirmation (a button that calls
//! `confirmSignUp`), each with the token from the link's fragment (`#token=…`). The
//! fragment never reaches a server, so no access log sees the token; the pages send no
//! referrer and run only their own script.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

const HEADERS: [(header::HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CACHE_CONTROL, "no-store"),
];

/// A page of `title` holding `body`, then the script at `script`.
fn page(title: &str, body: &str, script: &str) -> Response {
    (
        HEADERS,
        Html(format!(
            r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <style>
    body {{ font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem; }}
    label, input, button {{ display: block; width: 100%; box-sizing: border-box; }}
    input {{ margin: .3rem 0 1rem; padding: .5rem; font-size: 1rem; }}
    button {{ padding: .6rem; font-size: 1rem; }}
    #message {{ margin-top: 1rem; }}
  </style>
</head>
<body>
{body}
  <p id="message" role="status"></p>
  <script src="{script}"></script>
</body>
</html>"#
        )),
    )
        .into_response()
}

/// A page's script, cached for an hour.
fn script(source: &'static str) -> Response {
    let mut headers = HEADERS;
    headers[3] = (header::CACHE_CONTROL, "max-age=3600");
    (
        headers,
        [(header::CONTENT_TYPE, "application/javascript; charset=utf-8")],
        source,
    )
        .into_response()
}

pub async fn reset_page() -> Response {
    page(
        "Reset your Maestro password",
        &format!(
            r#"  <h1>Choose a new password</h1>
  <form id="reset">
    <label for="password">New password (at least {min} characters)</label>
    <input id="password" type="password" autocomplete="new-password" minlength="{min}" required>
    <label for="again">Once more</label>
    <input id="again" type="password" autocomplete="new-password" minlength="{min}" required>
    <button type="submit">Set the new password</button>
  </form>"#,
            min = identity::MIN_PASSWORD_CHARS
        ),
        "/reset-password.js",
    )
}

pub async fn confirm_sign_up_page() -> Response {
    page(
        "Confirm your Maestro sign-up",
        r#"  <h1>Make your Maestro account</h1>
  <form id="confirm">
    <button type="submit">Make my account</button>
  </form>"#,
        "/confirm-sign-up.js",
    )
}

pub async fn confirm_sign_up_script() -> Response {
    script(
        r#""use strict";
const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
const message = document.getElementById("message");
const form = document.getElementById("confirm");
if (!token) {
  message.textContent = "This page needs the whole link from the mail (the part after #token= is missing).";
  form.hidden = true;
}
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  message.textContent = "Making the account…";
  try {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        query: "mutation($token: String!) { confirmSignUp(token: $token) { me { email } } }",
        variables: { token },
      }),
    });
    const body = await response.json();
    if (body.errors && body.errors.length) {
      message.textContent = body.errors[0].message;
      return;
    }
    form.hidden = true;
    history.replaceState(null, "", window.location.pathname);
    message.textContent = "Your account is made: log in as " + body.data.confirmSignUp.me.email + ".";
  } catch (error) {
    message.textContent = "Maestro did not answer (" + error + "); try again.";
  }
});
"#,
    )
}

pub async fn reset_script() -> Response {
    script(
        r#""use strict";
const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
const message = document.getElementById("message");
const form = document.getElementById("reset");
if (!token) {
  message.textContent = "This page needs the whole link from the mail (the part after #token= is missing).";
  form.hidden = true;
}
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = document.getElementById("password").value;
  if (password !== document.getElementById("again").value) {
    message.textContent = "The two passwords differ.";
    return;
  }
  message.textContent = "Setting the new password…";
  try {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        query: "mutation($token: String!, $password: String!) { resetPassword(token: $token, newPassword: $password) { me { email } } }",
        variables: { token, password },
      }),
    });
    const body = await response.json();
    if (body.errors && body.errors.length) {
      message.textContent = body.errors[0].message;
      return;
    }
    form.hidden = true;
    history.replaceState(null, "", window.location.pathname);
    message.textContent = "Your password is set: log in as " + body.data.resetPassword.me.email + " with it.";
  } catch (error) {
    message.textContent = "Maestro did not answer (" + error + "); try again.";
  }
});
"#,
    )
}
