package config

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testEnv is the environment the tests parse with.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"PLEX_TOKEN":      "tok123",
		"NIGHTLY_API_KEY": "k-456",
		"EMPTY":           "",
		"MULTILINE":       "a\nb",
	}[name]
	return v, ok
}

func parseTest(t *testing.T, src string) (*File, error) {
	t.Helper()
	return parse([]byte(strings.TrimLeft(src, "\n")), "butler.yaml", testEnv)
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		src  string
		want string // the whole error
	}{
		// The file.
		{"syntax", "addr: [\n", `butler.yaml:1: invalid YAML: did not find expected node content`},
		{"tab indent", "tasks:\n\tX: 1\n", `butler.yaml:2: invalid YAML: found character that cannot start any token; the line is indented with a tab: YAML indents with spaces`},
		{"two documents", "addr: 127.0.0.1:1\n---\naddr: 127.0.0.1:2\n", `butler.yaml:2: a second YAML document (after ---); a config file holds one`},
		{"not a mapping", "- a\n- b\n", `butler.yaml:1: the file is a list; want a mapping of keys (addr: ..., tasks: ...)`},
		{"scalar file", "hello\n", `butler.yaml:1: the file is "hello"; want a mapping of keys (addr: ..., tasks: ...)`},
		{"unknown key", "addr: 127.0.0.1:1\nadr: x\n",
			`butler.yaml:2: adr: unknown key (did you mean addr?); known keys: addr, data_dir, database, token, log_level, friendly_name, node, metrics_public, plex_url, settings, databases, caches, libraries, media, busy, update_feed, tasks`},
		{"unknown key, case", "Data_Dir: /x\n", `butler.yaml:1: Data_Dir: unknown key (did you mean data_dir?); known keys: addr, data_dir, database, token, log_level, friendly_name, node, metrics_public, plex_url, settings, databases, caches, libraries, media, busy, update_feed, tasks`},
		{"unknown key, no guess", "colour: blue\n", `butler.yaml:1: colour: unknown key; known keys: addr, data_dir, database, token, log_level, friendly_name, node, metrics_public, plex_url, settings, databases, caches, libraries, media, busy, update_feed, tasks`},
		{"duplicate key", "addr: 127.0.0.1:1\nlog_level: info\naddr: 127.0.0.1:2\n", `butler.yaml:3: addr: given twice (first at line 1); give each key once`},
		{"merge key", "base: &b {path: /x}\n", `butler.yaml:1: base: unknown key (did you mean busy?); known keys: addr, data_dir, database, token, log_level, friendly_name, node, metrics_public, plex_url, settings, databases, caches, libraries, media, busy, update_feed, tasks`},
		{"merge key used", "caches:\n  - <<: {path: /x}\n", `butler.yaml:2: caches[0]: merge keys (<<) are not supported; write the keys out`},

		// Server keys.
		{"addr", "addr: localhost\n", `butler.yaml:1: addr: "localhost" is not HOST:PORT; use an address such as 127.0.0.1:28400`},
		{"addr list", "addr: [a]\n", `butler.yaml:1: addr: is a list; want HOST:PORT, such as 127.0.0.1:28400`},
		{"addr port range", "addr: \"127.0.0.1:99999\"\n", `butler.yaml:1: addr: "127.0.0.1:99999": the port "99999" is not a number from 0 to 65535; use an address such as 127.0.0.1:28400`},
		{"addr port name", "addr: \"127.0.0.1:http\"\n", `butler.yaml:1: addr: "127.0.0.1:http": the port "http" is not a number from 0 to 65535; use an address such as 127.0.0.1:28400`},
		{"data_dir relative", "data_dir: butler-data\n", `butler.yaml:1: data_dir: "butler-data" is not an absolute path; give the full path of Butler's data directory, starting with /`},
		{"database other kind", "database: mysql://u:secret@db/butler\n", `butler.yaml:1: database: names a database of another kind (mysql://); give a SQLite file's absolute path (/var/lib/butler/butler.db, or sqlite:///var/lib/butler/butler.db) or a PostgreSQL URL (postgres://USER@HOST:5432/DATABASE)`},
		{"node", "node: \"a b\"\n", `butler.yaml:1: node: a node name cannot contain spaces or control characters`},
		{"database relative", "database: b.db\n", `butler.yaml:1: database: "b.db" is not an absolute path; give a SQLite file's absolute path (/var/lib/butler/butler.db, or sqlite:///var/lib/butler/butler.db) or a PostgreSQL URL (postgres://USER@HOST:5432/DATABASE)`},
		{"database sqlite relative", "database: sqlite://b.db\n", `butler.yaml:1: database: "b.db" is not an absolute path; give a SQLite file's absolute path (/var/lib/butler/butler.db, or sqlite:///var/lib/butler/butler.db) or a PostgreSQL URL (postgres://USER@HOST:5432/DATABASE)`},
		{"addr empty", "addr:\n", `butler.yaml:1: addr: is empty; want HOST:PORT, such as 127.0.0.1:28400`},
		{"token short", "token: abc\n", `butler.yaml:1: token: is shorter than 8 characters; use a longer token`},
		{"token mapping", "token: {a: b}\n", `butler.yaml:1: token: is a mapping; want the access token, at least 8 characters`},
		{"metrics_public", "metrics_public: yes\n", `butler.yaml:1: metrics_public: is "yes"; want true or false`},
		{"metrics_public quoted", "metrics_public: \"true\"\n", `butler.yaml:1: metrics_public: is "true"; want true or false`},
		{"friendly_name list", "friendly_name: [a, b]\n", `butler.yaml:1: friendly_name: is a list; want the name clients show`},

		// databases.
		{"databases mapping", "databases: {name: x}\n", `butler.yaml:1: databases: is a mapping; want a list of databases, each with name and path`},
		{"database scalar", "databases:\n  - plex\n", `butler.yaml:2: databases[0]: is "plex"; want a database: a mapping with name and path`},
		{"database no name", "databases:\n  - path: /x.db\n", `butler.yaml:2: databases[0].name: missing; give each database a unique name of letters, digits, '_' and '-'`},
		{"database no path", "databases:\n  - name: x\n", `butler.yaml:2: databases[0].path: missing; give the absolute path of the SQLite database file`},
		{"database bad name", "databases:\n  - name: my db\n    path: /x.db\n", `butler.yaml:2: databases[0].name: "my db" is not a valid name; use letters, digits, '_' and '-'`},
		{"database duplicate name", "databases:\n  - {name: a, path: /a.db}\n  - {name: a, path: /b.db}\n", `butler.yaml:3: databases[1].name: "a" is the name of databases[0] too; names must be unique`},
		{"database duplicate path", "databases:\n  - {name: a, path: /a.db}\n  - {name: b, path: /x/../a.db}\n", `butler.yaml:3: databases[1].path: /a.db is the path of databases[0] too; list each database once`},
		{"database relative path", "databases:\n  - name: a\n    path: a.db\n", `butler.yaml:3: databases[0].path: "a.db" is not an absolute path; give the full path of the SQLite database file, starting with /`},
		{"database keep 0", "databases:\n  - {name: a, path: /a.db, keep: 0}\n", `butler.yaml:2: databases[0].keep: 0 is out of range; use a whole number from 1 to 100 (backups kept)`},
		{"database keep 101", "databases:\n  - {name: a, path: /a.db, keep: 101}\n", `butler.yaml:2: databases[0].keep: 101 is out of range; use a whole number from 1 to 100 (backups kept)`},
		{"database keep text", "databases:\n  - name: a\n    path: /a.db\n    keep: three\n", `butler.yaml:4: databases[0].keep: "three" is not a whole number; use a whole number from 1 to 100 (backups kept)`},
		{"database keep quoted", "databases:\n  - {name: a, path: /a.db, keep: \"3\"}\n", `butler.yaml:2: databases[0].keep: "3" is not a whole number; use a whole number from 1 to 100 (backups kept)`},
		{"database keep float", "databases:\n  - {name: a, path: /a.db, keep: 2.5}\n", `butler.yaml:2: databases[0].keep: "2.5" is not a whole number; use a whole number from 1 to 100 (backups kept)`},
		{"database backup_dir relative", "databases:\n  - {name: a, path: /a.db, backup_dir: backups}\n", `butler.yaml:2: databases[0].backup_dir: "backups" is not an absolute path; give the full path of the backup directory, starting with /`},
		{"database unknown key", "databases:\n  - name: a\n    path: /a.db\n    kept: 3\n", `butler.yaml:4: databases[0].kept: unknown key (did you mean keep?); known keys under databases[0]: name, path, keep, backup_dir, lock_timeout`},
		{"database lock_timeout too long", "databases:\n  - {name: a, path: /a.db, lock_timeout: 11m}\n", `butler.yaml:2: databases[0].lock_timeout: 11m0s is more than 10m0s; a maintenance task should not wait longer for another program's lock`},
		{"database lock_timeout zero", "databases:\n  - {name: a, path: /a.db, lock_timeout: 0s}\n", `butler.yaml:2: databases[0].lock_timeout: "0s" is not more than 0; use Go form like 5m or 1h30m`},
		{"database lock_timeout not a duration", "databases:\n  - {name: a, path: /a.db, lock_timeout: 5}\n", `butler.yaml:2: databases[0].lock_timeout: "5" is not a duration; use Go form like 5m or 1h30m`},
		{"database shared backup_dir", "databases:\n  - {name: a, path: /x/lib.db, backup_dir: /b}\n  - {name: b, path: /y/lib.db, backup_dir: /b}\n", `butler.yaml:3: databases[1].backup_dir: /b holds the backups of a, whose file has the same name; give each its own backup_dir`},

		// caches.
		{"caches scalar", "caches: /var/cache\n", `butler.yaml:1: caches: is "/var/cache"; want a list of cache directories, each with path`},
		{"cache no path", "caches:\n  - max_age_days: 3\n", `butler.yaml:2: caches[0].path: missing; give the absolute path of the cache directory`},
		{"cache relative", "caches:\n  - path: cache\n", `butler.yaml:2: caches[0].path: "cache" is not an absolute path; give the full path of the cache directory, starting with /`},
		{"cache duplicate", "caches:\n  - path: /c\n  - path: /c/\n", `butler.yaml:3: caches[1].path: /c is the path of caches[0] too; list each directory once`},
		{"cache max_age_days 0", "caches:\n  - {path: /c, max_age_days: 0}\n", `butler.yaml:2: caches[0].max_age_days: 0 is out of range; use a whole number from 1 to 3650 (days)`},
		{"cache max_size no unit", "caches:\n  - {path: /c, max_size: 10}\n", `butler.yaml:2: caches[0].max_size: "10" has no unit; use a number and a unit, like 10GiB or 500MB (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)`},
		{"cache max_size bad unit", "caches:\n  - {path: /c, max_size: 10 gigs}\n", `butler.yaml:2: caches[0].max_size: "10 gigs" has an unknown unit "gigs"; use a number and a unit, like 10GiB or 500MB (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)`},
		{"cache max_size garbage", "caches:\n  - {path: /c, max_size: lots}\n", `butler.yaml:2: caches[0].max_size: "lots" is not a size; use a number and a unit, like 10GiB or 500MB (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)`},
		{"cache max_size zero", "caches:\n  - {path: /c, max_size: 0GiB}\n", `butler.yaml:2: caches[0].max_size: "0GiB" is not more than 0 bytes; use a number and a unit, like 10GiB or 500MB (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)`},

		// update_feed.
		{"feed scalar", "update_feed: https://x/feed.json\n", `butler.yaml:1: update_feed: is "https://x/feed.json"; want a mapping with url`},
		{"feed no url", "update_feed: {}\n", `butler.yaml:1: update_feed.url: missing; give the URL of the JSON update feed`},
		{"feed ftp", "update_feed:\n  url: ftp://x/feed.json\n", `butler.yaml:2: update_feed.url: "ftp://x/feed.json" is not an absolute http or https URL; write it like http://127.0.0.1:32400/path or https://example.com/feed.json`},
		{"feed and task", "update_feed: {url: https://x/f.json}\ntasks:\n  CheckForUpdates:\n    http: {url: http://x/}\n", `butler.yaml:3: tasks.CheckForUpdates: update_feed binds CheckForUpdates already; remove update_feed or this task`},

		// tasks: names and shape.
		{"tasks list", "tasks:\n  - Nightly\n", `butler.yaml:2: tasks: is a list; want a mapping of task names to their exec or http action`},
		{"task bad name", "tasks:\n  9lives:\n    exec: {argv: [/bin/true]}\n", `butler.yaml:2: tasks.9lives: "9lives" is not a valid task name; start with a letter, then letters, digits or '_'`},
		{"task name dash", "tasks:\n  my-task:\n    exec: {argv: [/bin/true]}\n", `butler.yaml:2: tasks.my-task: "my-task" is not a valid task name; start with a letter, then letters, digits or '_'`},
		{"task reserved", "tasks:\n  runs:\n    exec: {argv: [/bin/true]}\n", `butler.yaml:2: tasks.runs: "runs" is reserved (GET /butler/runs is an API route); choose another name`},
		{"task reserved case", "tasks:\n  Plan:\n    exec: {argv: [/bin/true]}\n", `butler.yaml:2: tasks.Plan: "Plan" is reserved (GET /butler/plan is an API route); choose another name`},
		{"task builtin case", "tasks:\n  backupdatabase:\n    exec: {argv: [/bin/true]}\n", `butler.yaml:2: tasks.backupdatabase: "backupdatabase" differs from the Plex task BackupDatabase only in case; write BackupDatabase or choose another name`},
		{"task too long", "tasks:\n  " + strings.Repeat("A", 65) + ":\n    exec: {argv: [/bin/true]}\n", `butler.yaml:2: tasks.` + strings.Repeat("A", 65) + `: the name is longer than 64 characters; choose a shorter one`},
		{"task duplicate", "tasks:\n  A:\n    exec: {argv: [/bin/true]}\n  A:\n    exec: {argv: [/bin/true]}\n", `butler.yaml:4: tasks.A: given twice (first at line 2); give each key once`},
		{"task scalar", "tasks:\n  Nightly: /bin/true\n", `butler.yaml:2: tasks.Nightly: is "/bin/true"; want a mapping with exec or http`},
		{"task no action", "tasks:\n  Nightly:\n    interval: 2\n", `butler.yaml:2: tasks.Nightly: no action; give exactly one of exec or http`},
		{"task both actions", "tasks:\n  Nightly:\n    exec: {argv: [/bin/true]}\n    http: {url: http://x/}\n", `butler.yaml:2: tasks.Nightly: both exec and http; give exactly one of them`},
		{"task unknown key", "tasks:\n  Nightly:\n    exec: {argv: [/bin/true]}\n    intervall: 2\n", `butler.yaml:4: tasks.Nightly.intervall: unknown key (did you mean interval?); known keys under tasks.Nightly: exec, http, interval, randomized, enabled, title, description, stop_at_window_end`},
		{"task interval 0", "tasks:\n  Nightly:\n    exec: {argv: [/bin/true]}\n    interval: 0\n", `butler.yaml:4: tasks.Nightly.interval: 0 is out of range; use a whole number from 1 to 365 (days)`},
		{"task interval text", "tasks:\n  Nightly:\n    exec: {argv: [/bin/true]}\n    interval: daily\n", `butler.yaml:4: tasks.Nightly.interval: "daily" is not a whole number; use a whole number from 1 to 365 (days)`},
		{"task enabled text", "tasks:\n  Nightly:\n    exec: {argv: [/bin/true]}\n    enabled: on\n", `butler.yaml:4: tasks.Nightly.enabled: is "on"; want true or false`},
		{"task title blank", "tasks:\n  Nightly:\n    exec: {argv: [/bin/true]}\n    title: \"  \"\n", `butler.yaml:4: tasks.Nightly.title: is blank; give a title or leave the key out`},

		// exec.
		{"exec scalar", "tasks:\n  N:\n    exec: /bin/true\n", `butler.yaml:3: tasks.N.exec: is "/bin/true"; want a mapping with argv`},
		{"exec no argv", "tasks:\n  N:\n    exec: {dir: /tmp}\n", `butler.yaml:3: tasks.N.exec.argv: missing; give the program and its arguments, like [/usr/local/bin/nightly.sh, --fast]`},
		{"exec argv string", "tasks:\n  N:\n    exec:\n      argv: /bin/true --x\n", `butler.yaml:4: tasks.N.exec.argv: is "/bin/true --x"; want a list: the program and its arguments, like [/usr/local/bin/nightly.sh, --fast]`},
		{"exec argv empty", "tasks:\n  N:\n    exec:\n      argv: []\n", `butler.yaml:4: tasks.N.exec.argv: is empty; give the program and its arguments, like [/usr/local/bin/nightly.sh, --fast]`},
		{"exec argv relative", "tasks:\n  N:\n    exec:\n      argv: [nightly.sh, --fast]\n", `butler.yaml:4: tasks.N.exec.argv[0]: "nightly.sh" is not an absolute path; give the program's full path (it is run without a shell or PATH look-up)`},
		{"exec argv item list", "tasks:\n  N:\n    exec:\n      argv:\n        - /bin/x\n        - [a]\n", `butler.yaml:6: tasks.N.exec.argv[1]: is a list; want a string`},
		{"exec argv item null", "tasks:\n  N:\n    exec:\n      argv: [/bin/x, ~]\n", `butler.yaml:4: tasks.N.exec.argv[1]: is empty; want a string`},
		{"exec dir relative", "tasks:\n  N:\n    exec: {argv: [/bin/true], dir: tmp}\n", `butler.yaml:3: tasks.N.exec.dir: "tmp" is not an absolute path; give the full path of the working directory, starting with /`},
		{"exec env list", "tasks:\n  N:\n    exec:\n      argv: [/bin/true]\n      env: [FOO=bar]\n", `butler.yaml:5: tasks.N.exec.env: is a list; want a mapping of variable names to values`},
		{"exec env bad name", "tasks:\n  N:\n    exec:\n      argv: [/bin/true]\n      env:\n        1FOO: bar\n", `butler.yaml:6: tasks.N.exec.env.1FOO: "1FOO" is not a valid environment variable name; use letters, digits and '_', not starting with a digit`},
		{"exec env name with =", "tasks:\n  N:\n    exec:\n      argv: [/bin/true]\n      env: {\"A=B\": c}\n", `butler.yaml:5: tasks.N.exec.env.A=B: "A=B" is not a valid environment variable name; use letters, digits and '_', not starting with a digit`},
		{"exec env null", "tasks:\n  N:\n    exec:\n      argv: [/bin/true]\n      env:\n        FOO:\n", `butler.yaml:6: tasks.N.exec.env.FOO: is empty; want a string (write "" for an empty value)`},
		{"exec env unset var", "tasks:\n  N:\n    exec:\n      argv: [/bin/true]\n      env: {KEY: \"${NOPE}\"}\n", `butler.yaml:5: tasks.N.exec.env.KEY: environment variable NOPE is not set; set it in Butler's environment or write the value itself`},
		{"exec time_limit", "tasks:\n  Nightly:\n    exec:\n      argv: [/bin/true]\n      time_limit: 5 minutes\n", `butler.yaml:5: tasks.Nightly.exec.time_limit: "5 minutes" is not a duration; use Go form like 5m or 1h30m`},
		{"exec time_limit number", "tasks:\n  N:\n    exec: {argv: [/bin/true], time_limit: 10}\n", `butler.yaml:3: tasks.N.exec.time_limit: "10" is not a duration; use Go form like 5m or 1h30m`},
		{"exec time_limit zero", "tasks:\n  N:\n    exec: {argv: [/bin/true], time_limit: 0s}\n", `butler.yaml:3: tasks.N.exec.time_limit: "0s" is not more than 0; use Go form like 5m or 1h30m`},
		{"exec grace negative", "tasks:\n  N:\n    exec: {argv: [/bin/true], grace: -1s}\n", `butler.yaml:3: tasks.N.exec.grace: "-1s" is not more than 0; use Go form like 5m or 1h30m`},
		{"exec unknown key", "tasks:\n  N:\n    exec: {argv: [/bin/true], shell: true}\n", `butler.yaml:3: tasks.N.exec.shell: unknown key; known keys under tasks.N.exec: argv, dir, env, time_limit, grace`},

		// http.
		{"http no url", "tasks:\n  R:\n    http: {method: POST}\n", `butler.yaml:3: tasks.R.http.url: missing; give the request's http or https URL`},
		{"http bad url", "tasks:\n  R:\n    http: {url: \"localhost:32400/x\"}\n", `butler.yaml:3: tasks.R.http.url: "localhost:32400/x" is not an absolute http or https URL; write it like http://127.0.0.1:32400/path or https://example.com/feed.json`},
		{"http method", "tasks:\n  R:\n    http:\n      method: FETCH\n      url: http://x/\n", `butler.yaml:4: tasks.R.http.method: "FETCH" is not a method Butler sends; use GET, POST, PUT, PATCH, DELETE or HEAD`},
		{"http headers list", "tasks:\n  R:\n    http:\n      url: http://x/\n      headers: [a]\n", `butler.yaml:5: tasks.R.http.headers: is a list; want a mapping of header names to values`},
		{"http header name", "tasks:\n  R:\n    http:\n      url: http://x/\n      headers: {\"X Plex\": a}\n", `butler.yaml:5: tasks.R.http.headers.X Plex: "X Plex" is not a valid header name; use letters, digits and '-'`},
		{"http header twice", "tasks:\n  R:\n    http:\n      url: http://x/\n      headers:\n        X-Token: a\n        x-token: b\n", `butler.yaml:7: tasks.R.http.headers.x-token: given twice (header names ignore case); give each header once`},
		{"http header unset var", "tasks:\n  R:\n    http:\n      url: http://x/\n      headers:\n        X-Plex-Token: ${PLEX_TOKN}\n", `butler.yaml:6: tasks.R.http.headers.X-Plex-Token: environment variable PLEX_TOKN is not set; set it in Butler's environment or write the value itself`},
		{"http header unclosed", "tasks:\n  R:\n    http:\n      url: http://x/\n      headers: {X-Plex-Token: \"${PLEX_TOKEN\"}\n", `butler.yaml:5: tasks.R.http.headers.X-Plex-Token: has "${" without a closing "}"; write ${NAME}, or $${ for a literal ${`},
		{"http header bad var", "tasks:\n  R:\n    http:\n      url: http://x/\n      headers: {X-A: \"${1X}\"}\n", `butler.yaml:5: tasks.R.http.headers.X-A: "${1X}" does not name an environment variable; write ${NAME}, or $${ for a literal ${`},
		{"http header line break", "tasks:\n  R:\n    http:\n      url: http://x/\n      headers: {X-A: \"${MULTILINE}\"}\n", `butler.yaml:5: tasks.R.http.headers.X-A: the value holds a line break or NUL (after ${VAR} expansion); header values are one line`},
		{"http header mapping", "tasks:\n  R:\n    http:\n      url: http://x/\n      headers: {X-A: {b: c}}\n", `butler.yaml:5: tasks.R.http.headers.X-A: is a mapping; want a string (write "" for an empty value)`},
		{"http expect scalar", "tasks:\n  R:\n    http: {url: http://x/, expect: 200}\n", `butler.yaml:3: tasks.R.http.expect: is "200"; want a list of HTTP statuses, like [200, 204]`},
		{"http expect range", "tasks:\n  R:\n    http:\n      url: http://x/\n      expect: [200, 600]\n", `butler.yaml:5: tasks.R.http.expect[1]: 600 is out of range; use a whole number from 100 to 599 (an HTTP status)`},
		{"http expect text", "tasks:\n  R:\n    http:\n      url: http://x/\n      expect: [ok]\n", `butler.yaml:5: tasks.R.http.expect[0]: "ok" is not a whole number; use a whole number from 100 to 599 (an HTTP status)`},
		{"http body list", "tasks:\n  R:\n    http: {url: http://x/, body: [a]}\n", `butler.yaml:3: tasks.R.http.body: is a list; want a string (write "" for none)`},
		{"http time_limit", "tasks:\n  R:\n    http: {url: http://x/, time_limit: soon}\n", `butler.yaml:3: tasks.R.http.time_limit: "soon" is not a duration; use Go form like 5m or 1h30m`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := parseTest(t, c.src)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v\nwant: %s", f, c.want)
			}
			if err.Error() != c.want {
				t.Errorf("Parse error\n got: %s\nwant: %s", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "butler.yaml" {
				t.Errorf("error %T is not a *config.Error naming the file", err)
			}
		})
	}
}

// TestParseTokenNeverQuoted checks that a bad token is not repeated in the
// error.
func TestParseTokenNeverQuoted(t *testing.T) {
	_, err := parseTest(t, "token: s3cr3t\n")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Parse = %v, want an error that does not quote the token", err)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "\n", "# only a comment\n", "---\n", "~\n"} {
		f, err := parseTest(t, src)
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		if !reflect.DeepEqual(f, &File{Path: "butler.yaml"}) {
			t.Errorf("Parse(%q) = %+v, want an empty File", src, f)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	f, err := parseTest(t, `
databases:
  - name: plex
    path: /var/lib/plex/library.db
caches:
  - path: /var/cache/app
update_feed:
  url: https://example.invalid/feed.json
tasks:
  RefreshLibraries:
    http:
      url: http://127.0.0.1:32400/library/sections/all/refresh
  Nightly:
    exec:
      argv: [/usr/local/bin/nightly.sh]
`)
	if err != nil {
		t.Fatal(err)
	}
	want := &File{
		Path:       "butler.yaml",
		Databases:  Databases{{Name: "plex", Path: Path{"/var/lib/plex/library.db", 3}, Keep: 3, Line: 2}},
		Caches:     Caches{{Path: Path{"/var/cache/app", 5}, MaxAgeDays: 7, Line: 5}},
		UpdateFeed: &UpdateFeed{URL: URL{"https://example.invalid/feed.json", 7}, Line: 7},
		Tasks: Tasks{
			{Name: "RefreshLibraries", Line: 9, HTTP: &HTTP{Method: "GET", URL: RequestURL{"http://127.0.0.1:32400/library/sections/all/refresh", 11}}},
			{Name: "Nightly", Line: 12, Exec: &Exec{Argv: Argv{"/usr/local/bin/nightly.sh"}, ArgvLine: 14, Grace: Duration{Duration: 10 * time.Second}}},
		},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("Parse =\n%#v\nwant\n%#v", f, want)
	}
	if f.Tasks[1].TimeLimit() != 0 || f.Tasks[1].Interval != 0 || f.Tasks[1].Enabled != nil {
		t.Error("unset task fields are not zero")
	}
	// Empty sections are no sections.
	f, err = parseTest(t, "databases:\ncaches:\nupdate_feed:\ntasks:\n")
	if err != nil || !reflect.DeepEqual(f, &File{Path: "butler.yaml"}) {
		t.Errorf("empty sections: %+v, %v", f, err)
	}
}

func TestParseValues(t *testing.T) {
	f, err := parseTest(t, `
addr: "[::1]:32400"
data_dir: /srv/butler
database: sqlite:///srv/butler/b.db
token: "12345678"
log_level: DEBUG
friendly_name: 2026
node: a
metrics_public: true
databases:
  - {name: a_b-1, path: /x/../db/a.db, keep: 100, backup_dir: /backups/a/, lock_timeout: 1m30s}
caches:
  - {path: /c1, max_age_days: 3650, max_size: 10GiB}
  - {path: /c2, max_size: 1.5 GB}
  - {path: /c3, max_size: 512kib}
  - {path: /c4, max_size: 1 B}
tasks:
  R:
    http:
      method: post
      url: https://plex.local/refresh?x=1
      headers:
        X-Plex-Token: ${PLEX_TOKEN}
        X-Empty: "${EMPTY}"
        X-Literal: "$${PLEX_TOKEN} costs $5"
        X-Two: "${PLEX_TOKEN}:${NIGHTLY_API_KEY}"
      body: '{"a": 1}'
      expect: [200, 204]
      time_limit: 1h30m
    interval: 7
    randomized: true
    enabled: false
    title: Refresh
    description: Refresh it
    stop_at_window_end: true
  N:
    exec:
      argv: [/bin/nightly, "--fast", "a b", "$HOME"]
      dir: /tmp/
      env: {ZED: last, API_KEY: "${NIGHTLY_API_KEY}", EMPTY: ""}
      time_limit: 90s
      grace: 250ms
`)
	if err != nil {
		t.Fatal(err)
	}
	if f.Addr != "[::1]:32400" || f.DataDir.Value != "/srv/butler" || f.Database != "sqlite:///srv/butler/b.db" ||
		f.Token != "12345678" || f.LogLevel != "DEBUG" || f.FriendlyName != "2026" || f.Node != "a" || !f.MetricsPublic {
		t.Errorf("server keys = %+v", f)
	}
	if want := (Databases{{Name: "a_b-1", Path: Path{"/db/a.db", 10}, Keep: 100, BackupDir: Path{"/backups/a", 10}, LockTimeout: Duration{90 * time.Second, 10}, Line: 10}}); !reflect.DeepEqual(f.Databases, want) {
		t.Errorf("databases = %+v", f.Databases)
	}
	wantCaches := Caches{
		{Path: Path{"/c1", 12}, MaxAgeDays: 3650, MaxSize: Size{10 << 30, 12}, Line: 12},
		{Path: Path{"/c2", 13}, MaxAgeDays: 7, MaxSize: Size{1500000000, 13}, Line: 13},
		{Path: Path{"/c3", 14}, MaxAgeDays: 7, MaxSize: Size{512 << 10, 14}, Line: 14},
		{Path: Path{"/c4", 15}, MaxAgeDays: 7, MaxSize: Size{1, 15}, Line: 15},
	}
	if !reflect.DeepEqual(f.Caches, wantCaches) {
		t.Errorf("caches = %+v", f.Caches)
	}
	r := f.Tasks[0]
	wantHTTP := &HTTP{
		Method: "POST", URL: RequestURL{"https://plex.local/refresh?x=1", 20},
		Header: Header{"X-Plex-Token": {"tok123"}, "X-Empty": {""}, "X-Literal": {"${PLEX_TOKEN} costs $5"}, "X-Two": {"tok123:k-456"}},
		Body:   `{"a": 1}`, Expect: Statuses{200, 204}, TimeLimit: Duration{90 * time.Minute, 28},
	}
	if !reflect.DeepEqual(r.HTTP, wantHTTP) {
		t.Errorf("http = %+v\nwant %+v", r.HTTP, wantHTTP)
	}
	if r.Interval != 7 || r.Randomized == nil || !*r.Randomized || r.Enabled == nil || *r.Enabled ||
		r.StopAtWindowEnd == nil || !*r.StopAtWindowEnd || r.Title != "Refresh" || r.Description != "Refresh it" || r.Line != 17 {
		t.Errorf("task R = %+v", r)
	}
	n := f.Tasks[1]
	wantExec := &Exec{
		Argv: Argv{"/bin/nightly", "--fast", "a b", "$HOME"}, ArgvLine: 37, Dir: Path{"/tmp", 38},
		Env:       Env{"API_KEY=k-456", "EMPTY=", "ZED=last"},
		TimeLimit: Duration{90 * time.Second, 40}, Grace: Duration{250 * time.Millisecond, 41},
	}
	if !reflect.DeepEqual(n.Exec, wantExec) {
		t.Errorf("exec = %+v\nwant %+v", n.Exec, wantExec)
	}
}

func TestParseAliases(t *testing.T) {
	f, err := parseTest(t, `
tasks:
  A:
    exec: &job
      argv: [/bin/job]
      time_limit: 5m
  B:
    exec: *job
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tasks) != 2 || !reflect.DeepEqual(f.Tasks[0].Exec, f.Tasks[1].Exec) {
		t.Errorf("tasks = %+v", f.Tasks)
	}
}

// TestExampleFile parses docs/butler.example.yaml, which must use every
// key.
func TestExampleFile(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "butler.example.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parse(data, path, testEnv)
	if err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	if len(f.Databases) != 2 || len(f.Caches) != 2 || len(f.Libraries) != 2 || f.Media == nil || f.UpdateFeed == nil || len(f.Tasks) != 2 {
		t.Errorf("example = %+v", f)
	}
	if got := http.Header(f.Tasks[0].HTTP.Header).Get("X-Plex-Token"); got != "tok123" {
		t.Errorf("X-Plex-Token = %q, want the expanded variable", got)
	}
	// Every key of the format appears in the example.
	text := string(data)
	for _, keys := range allKeys() {
		for _, k := range keys {
			if !strings.Contains(text, k+":") {
				t.Errorf("the example does not show key %s", k)
			}
		}
	}
	// And docs/config.md documents every key.
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, keys := range allKeys() {
		for _, k := range keys {
			if !strings.Contains(string(doc), "`"+k+"`") {
				t.Errorf("docs/config.md does not document key %s", k)
			}
		}
	}
}

// allKeys returns the keys of every section of the format.
func allKeys() [][]string {
	return [][]string{keyNames(&File{}), keyNames(&Database{}), keyNames(&Cache{}), keyNames(&Library{}), keyNames(&Media{}),
		keyNames(&UpdateFeed{}), keyNames(&Task{}), keyNames(&Exec{}), keyNames(&HTTP{})}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "butler.yaml")
	if err := os.WriteFile(path, []byte("addr: 127.0.0.1:9\nlog_level: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || err.Error() != path+`:2: log_level: "nope" is not a log level; use debug, info, warn or error` {
		t.Errorf("Load = %v", err)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load of a missing file = %v", err)
	}
}

func TestParseUsesProcessEnvironment(t *testing.T) {
	t.Setenv("BUTLER_CONFIG_TEST_TOKEN", "from-env")
	f, err := Parse([]byte("tasks:\n  R:\n    http:\n      url: http://x/\n      headers: {X-Plex-Token: \"${BUTLER_CONFIG_TEST_TOKEN}\"}\n"), "b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := http.Header(f.Tasks[0].HTTP.Header).Get("X-Plex-Token"); got != "from-env" {
		t.Errorf("header = %q", got)
	}
}

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  string
	}{
		{"1B", 1, ""},
		{"10GiB", 10 << 30, ""},
		{"10 GiB", 10 << 30, ""},
		{"1.5GB", 1500000000, ""},
		{"2tib", 2 << 40, ""},
		{"3KB", 3000, ""},
		{"7MiB", 7 << 20, ""},
		{"10", 0, "has no unit"},
		{"10 GiBs", 0, `has an unknown unit "GiBs"`},
		{"-1GiB", 0, "is not a size"},
		{"0.1B", 0, "is not more than 0 bytes"},
		{"99999999TiB", 0, "is too large"},
		{"", 0, "is not a size"},
	} {
		got, err := ParseSize(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("ParseSize(%q) = %d, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

// TestParseReportsEveryError checks that every problem of a file is
// reported at once, in line order, each on its own line and each an
// *Error that errors.As finds.
func TestParseReportsEveryError(t *testing.T) {
	_, err := parseTest(t, `
log_level: loud
addr: nope
databases:
  - {name: a, path: relative.db, keep: 0}
  - pth: /x.db
tasks:
  Nightly:
    exec: {argv: [nightly.sh], grace: soon}
  runs:
    http: {url: http://x/}
`)
	want := []string{
		`butler.yaml:1: log_level: "loud" is not a log level; use debug, info, warn or error`,
		`butler.yaml:2: addr: "nope" is not HOST:PORT; use an address such as 127.0.0.1:28400`,
		`butler.yaml:4: databases[0].path: "relative.db" is not an absolute path; give the full path of the SQLite database file, starting with /`,
		`butler.yaml:4: databases[0].keep: 0 is out of range; use a whole number from 1 to 100 (backups kept)`,
		`butler.yaml:5: databases[1].pth: unknown key (did you mean path?); known keys under databases[1]: name, path, keep, backup_dir, lock_timeout`,
		`butler.yaml:8: tasks.Nightly.exec.argv[0]: "nightly.sh" is not an absolute path; give the program's full path (it is run without a shell or PATH look-up)`,
		`butler.yaml:8: tasks.Nightly.exec.grace: "soon" is not a duration; use Go form like 5m or 1h30m`,
		`butler.yaml:9: tasks.runs: "runs" is reserved (GET /butler/runs is an API route); choose another name`,
	}
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("Parse errors\n got: %q\nwant: %q", got, want)
	}
	var es Errors
	if !errors.As(err, &es) || len(es) != len(want) {
		t.Fatalf("error %T is not Errors of %d", err, len(want))
	}
	var ce *Error
	if !errors.As(err, &ce) || ce != es[0] {
		t.Errorf("errors.As finds %v, want the first problem", ce)
	}
}

func TestParseSettings(t *testing.T) {
	f, err := parseTest(t, "settings:\n  ButlerStartHour: 1\n  ButlerTimeZone: Europe/Berlin\n  ButlerTaskBackupDatabase: false\n")
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{{"ButlerStartHour", "1", 2}, {"ButlerTimeZone", "Europe/Berlin", 3}, {"ButlerTaskBackupDatabase", "false", 4}}
	if !reflect.DeepEqual(f.Settings, want) {
		t.Errorf("settings = %+v, want %+v", f.Settings, want)
	}
	for src, msg := range map[string]string{
		"settings: [a]\n":                     `butler.yaml:1: settings: is a list; want a mapping of setting ids to values, like ButlerStartHour: 2`,
		"settings:\n  ButlerStartHour: [1]\n": `butler.yaml:2: settings.ButlerStartHour: is a list; want the setting's value, like 2, true or Europe/Berlin`,
		"settings:\n  ButlerStartHour:\n":     `butler.yaml:2: settings.ButlerStartHour: is empty; want the setting's value, like 2, true or Europe/Berlin`,
		"settings:\n  Start-Hour: 1\n":        `butler.yaml:2: settings.Start-Hour: "Start-Hour" is not a setting id; use the ids GET /:/prefs and butler settings list, like ButlerStartHour`,
		"settings:\n  A: 1\n  A: 2\n":         `butler.yaml:3: settings.A: given twice (first at line 2); give each key once`,
	} {
		if _, err := parseTest(t, src); err == nil || err.Error() != msg {
			t.Errorf("Parse(%q) = %v\nwant %s", src, err, msg)
		}
	}
}

func TestParsePlexURL(t *testing.T) {
	f, err := parseTest(t, "plex_url: http://127.0.0.1:32400/\ntasks:\n  RefreshLibraries:\n    http: {method: POST, url: /library/sections/all/refresh}\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Tasks[0].HTTP.URL.Value; got != "http://127.0.0.1:32400/library/sections/all/refresh" {
		t.Errorf("url = %q, want it resolved against plex_url", got)
	}
	_, err = parseTest(t, "tasks:\n  RefreshLibraries:\n    http: {url: /library/sections/all/refresh}\n")
	if want := `butler.yaml:3: tasks.RefreshLibraries.http.url: "/library/sections/all/refresh" is a path on the Plex server, but plex_url is not set; set plex_url (like http://127.0.0.1:32400) or give an absolute URL`; err == nil || err.Error() != want {
		t.Errorf("a path without plex_url: %v\nwant %s", err, want)
	}
	_, err = parseTest(t, "plex_url: 127.0.0.1:32400\n")
	if want := `butler.yaml:1: plex_url: "127.0.0.1:32400" is not an absolute http or https URL; write it like http://127.0.0.1:32400/path or https://example.com/feed.json`; err == nil || err.Error() != want {
		t.Errorf("a bad plex_url: %v\nwant %s", err, want)
	}
}

// TestEveryKeyDecodes checks that the type of every key of every section
// decodes itself (object would panic on one that does not).
func TestEveryKeyDecodes(t *testing.T) {
	valueType := reflect.TypeFor[value]()
	for _, s := range []any{&File{}, &Database{}, &Cache{}, &Library{}, &Media{}, &Busy{}, &Sessions{}, &UpdateFeed{}, &Task{}, &Exec{}, &HTTP{}} {
		st := reflect.TypeOf(s).Elem()
		for _, f := range keysOf(st) {
			ft := st.Field(f.index).Type
			if ft.Kind() != reflect.Pointer {
				ft = reflect.PointerTo(ft)
			}
			if !ft.Implements(valueType) {
				t.Errorf("%s.%s (key %s): %s does not decode itself", st.Name(), st.Field(f.index).Name, f.name, ft)
			}
		}
	}
}
