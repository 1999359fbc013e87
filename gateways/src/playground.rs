//! The GraphiQL playground. Its scripts are served from `gateways/playground` (installed
//! with npm by `ops/assets`) so that it works on machines that cannot reach a CDN; when
//! they are not installed, the page loads them from unpkg instead.

use std::path::PathBuf;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The files the page needs: (npm package, version, path in the package).
const FILES: [(&str, &str, &str); 4] = [
    ("react", "18.3.1", "umd/react.production.min.js"),
    ("react-dom", "18.3.1", "umd/react-dom.production.min.js"),
    ("graphiql", "3.8.3", "graphiql.min.js"),
    ("graphiql", "3.8.3", "graphiql.min.css"),
];

fn assets_dir() -> PathBuf {
    std::env::var_os("MAESTRO_PLAYGROUND_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/playground/node_modules")))
}

fn installed() -> bool {
    FILES
        .iter()
        .all(|(package, _, path)| assets_dir().join(package).join(path).is_file())
}

pub fn page() -> Html<String> {
    let local = installed();
    let url = |index: usize| {
        let (package, version, path) = FILES[index];
        if local {
            format!("/playground/{package}/{path}")
        } else {
            format!("https://unpkg.com/{package}@{version}/{path}")
        }
    };
    Html(format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Maestro GraphQL playground</title>
  <style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
  <link rel="stylesheet" href="{css}">
  <script src="{react}"></script>
  <script src="{react_dom}"></script>
  <script src="{graphiql}"></script>
</head>
<body>
  <div id="graphiql">Loading the playground…</div>
  <script>
    const url = new URL("/graphql", window.location.origin);
    const subscriptionUrl = new URL("/graphql", window.location.origin);
    subscriptionUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    // Sessions: a token from logIn, signUp, resetPassword or changePassword run here is
    // kept (in this browser's localStorage) and sent with the requests that follow, over
    // HTTP and in the WebSocket's connection_init, unless the Headers tab sets its own
    // Authorization. A token the gateway no longer takes (401) is dropped.
    const SESSION = "maestro.session";
    const SESSION_FIELDS = ["logIn", "signUp", "resetPassword", "changePassword"];
    async function sessionFetch(input, init = {{}}) {{
      let response = await window.fetch(input, init);
      const headers = new Headers(init.headers || {{}});
      const stored = window.localStorage.getItem(SESSION);
      if (response.status === 401 && stored && headers.get("Authorization") === "Bearer " + stored) {{
        window.localStorage.removeItem(SESSION);
        headers.delete("Authorization");
        response = await window.fetch(input, {{ ...init, headers }});
      }}
      response.clone().json().then((body) => {{
        for (const field of SESSION_FIELDS) {{
          const token = body && body.data && body.data[field] && body.data[field].token;
          if (typeof token === "string") window.localStorage.setItem(SESSION, token);
        }}
      }}, () => {{}});
      return response;
    }}
    const graphiqlFetcher = GraphiQL.createFetcher({{ url: url.toString(), subscriptionUrl: subscriptionUrl.toString(), fetch: sessionFetch }});
    const fetcher = (params, options = {{}}) => {{
      const headers = {{ ...(options.headers || {{}}) }};
      const stored = window.localStorage.getItem(SESSION);
      if (stored && !Object.keys(headers).some((name) => name.toLowerCase() === "authorization")) {{
        headers.Authorization = "Bearer " + stored;
      }}
      return graphiqlFetcher(params, {{ ...options, headers }});
    }};
    const defaultQuery = "# Log in first: the playground keeps the session for the requests that follow\n# (ops/demo prints the demo user's password).\n#\n#   mutation {{ logIn(email: \"demo@maestro.local\", password: \"...\") {{ token }} }}\n#\n# Or set {{\"Authorization\": \"Bearer <token>\"}} in the Headers tab below.\n\n{{\n  servers(first: 10) {{\n    totalCount\n    nodes {{ id hostname environment ipv4Private applications {{ name }} }}\n  }}\n}}\n";
    ReactDOM.createRoot(document.getElementById("graphiql"))
      .render(React.createElement(GraphiQL, {{ fetcher, defaultQuery, defaultEditorToolsVisibility: true }}));
  </script>
</body>
</html>"##,
        css = url(3),
        react = url(0),
        react_dom = url(1),
        graphiql = url(2),
    ))
}

/// Serves one of the page's files, and nothing else from that folder.
pub async fn asset(Path((package, path)): Path<(String, String)>) -> Response {
    let Some((package, _, path)) = FILES.iter().find(|(p, _, f)| *p == package && *f == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let content_type = if path.ends_with(".css") {
        "text/css"
    } else {
        "application/javascript"
    };
    match tokio::fs::read(assets_dir().join(package).join(path)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "max-age=86400"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            "playground files are not installed: run ops/assets",
        )
            .into_response(),
    }
}
