#!/usr/bin/env bash
# The GraphQL benchmarks of issue 3, each beside its reference in the same run
# (../shared/BENCHMARKS.md), printing both numbers and their ratio:
#
#   graphql-list    servers(first: 100, filter: {environment: {eq: "Production"}}) over
#                   100,000 servers, wrk -t2 -c32, Maestro's gateway vs PostGraphile 4
#                   serving the same read-model table. Target: >= 2x the requests/s and
#                   <= 0.5x the p99.
#   graphql-update  updateServer on random servers (each appends one event), wrk -t2 -c8,
#                   vs pgbench appending one ~500-byte jsonb row per transaction to a
#                   plain table with the event log's keys, -c 8 -j 2. Target: >= 0.5x.
#
# Works in a fresh database (maestro_bench_graphql, dropped first and kept afterwards
# for inspection); logs and wrk output go to a temporary directory it names. Needs
# node/npm (PostGraphile is installed from ops/bench-graphql/package-lock.json) and wrk
# (installed from Debian when missing). Knobs, all optional:
#   BENCH_SERVERS=100000  BENCH_SECONDS=15  BENCH_WARMUP_SECONDS=3
#   BENCH_DB=maestro_bench_graphql  BENCH_DROP_DB=1 (drop the database at the end)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
here=$root/ops/bench-graphql
cd "$root"

servers=${BENCH_SERVERS:-100000}
seconds=${BENCH_SECONDS:-15}
warmup=${BENCH_WARMUP_SECONDS:-3}
db=${BENCH_DB:-maestro_bench_graphql}
pg_base=postgres://postgres@127.0.0.1:5432
db_url=$pg_base/$db
work=$(mktemp -d /tmp/maestro-bench-graphql.XXXXXX)
export MAESTRO_LOG=${MAESTRO_LOG:-warn}

say() { printf '\n== %s\n' "$*"; }
die() {
	printf 'bench-graphql: error: %s\n' "$*" >&2
	exit 1
}
psql_db() { PGOPTIONS="-c client_min_messages=warning" psql -X -w -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres -d "$1" "${@:2}"; }

# ------------------------------------------------------------------ cleanup
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "${BENCH_DROP_DB:-}" ]; then
		psql_db postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop() { # pid: stops one server this script started
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

free_port() {
	node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# POSTs a GraphQL body file to a URL and prints the response; signed in as the bench
# user once $BENCH_TOKEN is set (PostGraphile ignores the header).
post() {
	curl -sS --max-time 30 -H 'Content-Type: application/json' ${BENCH_TOKEN:+-H "Authorization: Bearer $BENCH_TOKEN"} \
		--data-binary "@$2" "$1"
}

wait_graphql() { # url pid name log
	local i body=$work/typename.json
	printf '{"query":"{ __typename }"}' >"$body"
	for ((i = 0; i < 240; i++)); do
		kill -0 "$2" 2>/dev/null || { tail -n 30 "$4" >&2; die "$3 exited during startup (log $4)"; }
		post "$1" "$body" 2>/dev/null | grep -q '"__typename"' && return 0
		sleep 0.5
	done
	tail -n 30 "$4" >&2
	die "$3 did not answer on $1 within 120s (log $4)"
}

# Reads key=value from a "BENCH ..." line.
field() { sed -n "s/^BENCH .*\b$1=\([^ ]*\).*/\1/p" "$2" | head -1; }

run_wrk() { # name connections script url [env...]: prints wrk's output, keeps it in $work/name.wrk
	local name=$1 conns=$2 script=$3 url=$4
	shift 4
	echo "-- warm-up ${warmup}s"
	env "$@" wrk -t2 -c"$conns" -d"${warmup}s" -s "$script" "$url" >"$work/$name.warmup.wrk"
	echo "-- wrk -t2 -c$conns -d${seconds}s --latency ($name)"
	env "$@" wrk -t2 -c"$conns" -d"${seconds}s" --latency -s "$script" "$url" | tee "$work/$name.wrk" | sed 's/^/   /'
	grep -q '^BENCH ' "$work/$name.wrk" || die "wrk printed no result for $name (see $work/$name.wrk)"
}

# ------------------------------------------------------------------ tools and services
bash "$root/ops/up"

if ! command -v wrk >/dev/null 2>&1; then
	echo "tools: installing wrk"
	{ apt-get -o DPkg::Lock::Timeout=300 install -y wrk || { apt-get update && apt-get install -y wrk; }; } \
		</dev/null >"$work/apt.log" 2>&1 || die "installing wrk failed (see $work/apt.log); run as root or install it yourself"
fi
command -v node >/dev/null 2>&1 || die "node not found; PostGraphile 4 needs Node (20 works)"
if [ ! -x "$here/node_modules/.bin/postgraphile" ]; then
	echo "tools: installing PostGraphile from $here/package-lock.json"
	(cd "$here" && npm ci --no-audit --no-fund >"$work/npm.log" 2>&1) || die "npm ci failed (see $work/npm.log)"
fi

# shellcheck source=ops/cargo-env.sh
. "$root/ops/cargo-env.sh"
say "building maestro (release)"
cargo build --release --bin maestro
maestro=${CARGO_TARGET_DIR:-$root/target}/release/maestro
[ -x "$maestro" ] || die "no binary at $maestro after the build"

# ------------------------------------------------------------------ data
say "database $db: $servers servers"
psql_db postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
psql_db postgres -c "CREATE DATABASE $db"
DATABASE_URL=$db_url "$maestro" migrate

# Every request is someone's: the bench user signs up on a gateway started first, and
# owns every server (its admin grant is in each created event, as for any creator).
say "graphql: maestro gateway, bench user"
maestro_port=$(free_port)
maestro_url=http://127.0.0.1:$maestro_port/graphql
DATABASE_URL=$db_url MAESTRO_PORT=$maestro_port \
	"$maestro" serve --roles gateway >"$work/maestro.log" 2>&1 &
maestro_pid=$!
pids+=("$maestro_pid")
wait_graphql "$maestro_url" "$maestro_pid" maestro "$work/maestro.log"
printf '{"query":"mutation { signUp(email: \\"bench@example.com\\", password: \\"bench password 1234\\") { token me { id } } }"}' \
	>"$work/sign-up.json"
post "$maestro_url" "$work/sign-up.json" >"$work/sign-up.out"
read -r bench_user BENCH_TOKEN < <(node -e '
const a = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
if (!a.data || !a.data.signUp) { console.error("signUp failed: " + JSON.stringify(a)); process.exit(1); }
console.log(a.data.signUp.me.id + " " + a.data.signUp.token);' "$work/sign-up.out") || die "the bench user could not sign up"
export BENCH_TOKEN
echo "bench user $bench_user"

start=$SECONDS
# One created event per server, shaped like domain/tests/golden/created.v1.json.
psql_db "$db" -v n="$servers" -v owner="$bench_user" <<'SQL'
INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, metadata)
SELECT gen_random_uuid(), 'server', gen_random_uuid(), 1, 'created', 1,
       jsonb_build_object('grants', jsonb_build_object(:'owner', 'admin'), 'fields', jsonb_build_object(
           'hostname', 'host-' || n || '.example.com',
           'name', 'host-' || n || '.example.com',
           'environment', (ARRAY['Production', 'Stage', 'Development'])[1 + n % 3],
           'cpu', 1 + n % 16,
           'memory', 1024 * (1 + n % 8),
           'ipv4_private', '10.' || (n / 65536) % 256 || '.' || (n / 256) % 256 || '.' || n % 256)),
       '{"actor":"bench","actor_kind":"system"}'::jsonb
FROM generate_series(1, :n) AS n;
SQL
echo "inserted $servers created events in $((SECONDS - start))s"
start=$SECONDS
DATABASE_URL=$db_url "$maestro" rebuild inventory
psql_db "$db" -c "ANALYZE"
echo "read model built and analyzed in $((SECONDS - start))s"
read -r rows production < <(psql_db "$db" -F ' ' -c \
	"SELECT count(*), count(*) FILTER (WHERE environment = 'Production' AND active) FROM servers")
[ "$rows" -eq "$servers" ] || die "servers holds $rows rows, expected $servers"
echo "servers: $rows rows, $production active in Production"

# ------------------------------------------------------------------ graphql-list: maestro
list_fields='nodes { id hostname environment cpu ipv4Private } pageInfo { hasNextPage endCursor }'
printf '{"query":"{ servers(first: 100, filter: {environment: {eq: \\"Production\\"}}) { %s } }"}' \
	"$list_fields" >"$work/maestro-list.json"
printf '{"query":"{ allServers(first: 100, condition: {environment: \\"Production\\"}) { %s } }"}' \
	"$list_fields" >"$work/postgraphile-list.json"

# Checks a list answer: no errors, 100 Production servers with every field, a next page.
check_list() { # response-file connection-field
	node - "$1" "$2" <<'JS'
const [file, field] = process.argv.slice(2);
const answer = JSON.parse(require("fs").readFileSync(file, "utf8"));
const fail = (why) => { console.error(`bad ${field} answer: ${why}\n${JSON.stringify(answer).slice(0, 600)}`); process.exit(1); };
if (answer.errors) fail("it has errors");
const page = answer.data && answer.data[field];
if (!page || !Array.isArray(page.nodes)) fail("no nodes");
if (page.nodes.length !== 100) fail(`${page.nodes.length} nodes, expected 100`);
for (const node of page.nodes) {
  for (const key of ["id", "hostname", "environment", "cpu", "ipv4Private"])
    if (node[key] === null || node[key] === undefined) fail(`a node lacks ${key}`);
  if (node.environment !== "Production") fail(`a node is in ${node.environment}`);
}
if (page.pageInfo.hasNextPage !== true || !page.pageInfo.endCursor) fail("pageInfo does not point to a next page");
console.log(`ok: 100 Production nodes, e.g. ${JSON.stringify(page.nodes[0])}`);
JS
}

say "graphql-list: maestro gateway"
post "$maestro_url" "$work/maestro-list.json" >"$work/maestro-list.out"
check_list "$work/maestro-list.out" servers
run_wrk maestro-list 32 "$here/post.lua" "$maestro_url" BENCH_BODY_FILE="$work/maestro-list.json"
post "$maestro_url" "$work/maestro-list.json" >"$work/maestro-list.after.out"
check_list "$work/maestro-list.after.out" servers >/dev/null

# ------------------------------------------------------------------ graphql-list: postgraphile
say "graphql-list: PostGraphile $(node -p "require('$here/node_modules/postgraphile/package.json').version")"
pg_port=$(free_port)
pg_url=http://127.0.0.1:$pg_port/graphql
"$here/node_modules/.bin/postgraphile" -c "$db_url" -s public --host 127.0.0.1 --port "$pg_port" \
	--disable-query-log >"$work/postgraphile.log" 2>&1 &
pg_pid=$!
pids+=("$pg_pid")
wait_graphql "$pg_url" "$pg_pid" postgraphile "$work/postgraphile.log"
# The field names the reference query relies on, from PostGraphile's own schema.
cat >"$work/introspect.json" <<'JSON'
{"query":"{ query: __type(name: \"Query\") { fields { name args { name } } } server: __type(name: \"Server\") { fields { name type { name kind ofType { name } } } } condition: __type(name: \"ServerCondition\") { inputFields { name type { name } } } }"}
JSON
post "$pg_url" "$work/introspect.json" >"$work/introspect.out"
node - "$work/introspect.out" <<'JS'
const answer = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const d = answer.data || {};
const fail = (why) => { console.error(`PostGraphile schema: ${why}\n${JSON.stringify(answer).slice(0, 800)}`); process.exit(1); };
const all = d.query && d.query.fields.find((f) => f.name === "allServers");
if (!all) fail("no allServers query field");
for (const arg of ["first", "condition"]) if (!all.args.some((a) => a.name === arg)) fail(`allServers has no ${arg} argument`);
if (!d.condition || !d.condition.inputFields.some((f) => f.name === "environment")) fail("ServerCondition has no environment");
const types = Object.fromEntries((d.server ? d.server.fields : []).map((f) => [f.name, f.type.name || (f.type.ofType || {}).name]));
for (const name of ["id", "hostname", "environment", "cpu", "ipv4Private"]) if (!(name in types)) fail(`Server has no ${name} field`);
console.log("introspection ok: allServers(first, condition: ServerCondition{environment}); Server fields " +
  ["id", "hostname", "environment", "cpu", "ipv4Private"].map((n) => `${n}: ${types[n]}`).join(", "));
JS
post "$pg_url" "$work/postgraphile-list.json" >"$work/postgraphile-list.out"
check_list "$work/postgraphile-list.out" allServers
run_wrk postgraphile-list 32 "$here/post.lua" "$pg_url" BENCH_BODY_FILE="$work/postgraphile-list.json"
post "$pg_url" "$work/postgraphile-list.json" >"$work/postgraphile-list.after.out"
check_list "$work/postgraphile-list.after.out" allServers >/dev/null
stop "$pg_pid"

# ------------------------------------------------------------------ graphql-update: maestro
say "graphql-update: maestro gateway, updateServer on random servers"
psql_db "$db" -c "SELECT id FROM servers" >"$work/ids.txt"
some_id=$(head -1 "$work/ids.txt")
printf '{"query":"mutation { updateServer(id: \\"%s\\", input: {cpu: 999}) { id version cpu } }"}' "$some_id" \
	>"$work/update.json"
post "$maestro_url" "$work/update.json" >"$work/update.out"
if grep -q '"errors"' "$work/update.out" || ! grep -q '"version":2' "$work/update.out"; then
	die "updateServer answered unexpectedly: $(head -c 600 "$work/update.out")"
fi
echo "ok: $(cat "$work/update.out")"
events_before=$(psql_db "$db" -c "SELECT count(*) FROM events")
run_wrk maestro-update 8 "$here/mutate.lua" "$maestro_url" BENCH_IDS_FILE="$work/ids.txt"
events_after=$(psql_db "$db" -c "SELECT count(*) FROM events")
stop "$maestro_pid"
update_events=$((events_after - events_before))
update_requests=$(($(field requests "$work/maestro-update.wrk") + $(field requests "$work/maestro-update.warmup.wrk")))
echo "events appended by the warm-up and the measured run: $update_events, for $update_requests completed requests"

# ------------------------------------------------------------------ graphql-update: pgbench
say "graphql-update reference: pgbench single-event appends"
psql_db "$db" <<'SQL'
DROP TABLE IF EXISTS raw_events;
CREATE TABLE raw_events (
    position  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id  uuid UNIQUE DEFAULT gen_random_uuid(),
    stream_id uuid,
    version   bigint,
    type      text,
    data      jsonb,
    UNIQUE (stream_id, version)
);
SQL
# An event-sized document: about 500 bytes of jsonb.
raw_doc='{"fields": {"hostname": "web-0001.example.internal", "name": "web-0001.example.internal", "environment": "Production", "status": "Running", "owner": "team-web", "cpu": 8, "memory": 16384, "ipv4_private": "10.0.12.34", "ipv4_public": "203.0.113.34", "dns_private": "ip-10-0-12-34.eu-west-1.compute.internal", "dns_public": "ec2-203-0-113-34.eu-west-1.compute.amazonaws.com", "role": "web", "datacenters": {"provider": "AWS", "region": "eu-west-1"}}}'
printf "INSERT INTO raw_events(stream_id, version, type, data)\nVALUES (gen_random_uuid(), 1, 'server.created', '%s');\n" \
	"$raw_doc" >"$work/raw_insert.sql"
echo "row: $(psql_db "$db" -c "SELECT pg_column_size('$raw_doc'::jsonb)") bytes of jsonb per insert"
echo "-- warm-up ${warmup}s"
pgbench -n -c 8 -j 2 -T "$warmup" -f "$work/raw_insert.sql" "$db_url" >"$work/pgbench.warmup.log" 2>&1 ||
	{ cat "$work/pgbench.warmup.log" >&2; die "pgbench failed"; }
echo "-- pgbench -n -c 8 -j 2 -T $seconds"
pgbench -n -c 8 -j 2 -T "$seconds" -f "$work/raw_insert.sql" "$db_url" 2>&1 | tee "$work/pgbench.log" | sed 's/^/   /'
raw_tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$work/pgbench.log")
raw_lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$work/pgbench.log")
[ -n "$raw_tps" ] || die "pgbench printed no tps (see $work/pgbench.log)"

# ------------------------------------------------------------------ summary
errors_of() { # wrk result file: wrk's error counts, in words
	local f=$1 graphql
	graphql=$(field graphql_errors "$f")
	printf 'non-2xx %s, socket errors connect %s read %s write %s timeout %s%s' \
		"$(field non2xx "$f")" "$(field connect "$f")" "$(field read "$f")" "$(field write "$f")" "$(field timeout "$f")" \
		"$([ "$graphql" = -1 ] || echo ", GraphQL errors $graphql")"
}
m=$work/maestro-list.wrk p=$work/postgraphile-list.wrk u=$work/maestro-update.wrk
# Mutations that succeeded, per second: wrk's count less non-2xx and GraphQL errors.
update_ok=$(awk -v r="$(field requests "$u")" -v s="$(field non2xx "$u")" -v g="$(field graphql_errors "$u")" \
	-v d="$(field duration_us "$u")" 'BEGIN { printf "%.1f", (r - s - g) / (d / 1e6) }')
summary=$(
	awk -v mr="$(field rps "$m")" -v m50="$(field p50_ms "$m")" -v m99="$(field p99_ms "$m")" \
		-v pr="$(field rps "$p")" -v p50="$(field p50_ms "$p")" -v p99="$(field p99_ms "$p")" \
		-v ur="$update_ok" -v u50="$(field p50_ms "$u")" -v u99="$(field p99_ms "$u")" \
		-v rt="$raw_tps" -v rl="$raw_lat" '
	function verdict(ok) { return ok ? "MET" : "MISSED" }
	BEGIN {
		rr = mr / pr; lr = m99 / p99; ar = ur / rt
		printf "graphql-list   maestro %.0f req/s p50 %.1fms p99 %.1fms | postgraphile %.0f req/s p50 %.1fms p99 %.1fms | ratio rps %.2f (target >= 2: %s), p99 %.2f (target <= 0.5: %s)\n",
			mr, m50, m99, pr, p50, p99, rr, verdict(rr >= 2), lr, verdict(lr <= 0.5)
		printf "graphql-update maestro %.0f mutations/s p50 %.1fms p99 %.1fms | pgbench raw append %.0f tps (avg %.2fms) | ratio %.2f (target >= 0.5: %s)\n",
			ur, u50, u99, rt, rl, ar, verdict(ar >= 0.5)
	}'
)
say "summary (${servers} servers, ${seconds}s per run, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "$summary"
echo "errors: maestro list: $(errors_of "$m")"
echo "        postgraphile list: $(errors_of "$p")"
echo "        maestro update: $(errors_of "$u"); $update_events events appended for $update_requests requests"
echo "logs and wrk output: $work; database $db kept${BENCH_DROP_DB:+ (dropped on exit)}"
