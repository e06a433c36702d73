package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/plexbutler/butler/internal/childproc"
)

// server is how to start butler serve on one database.
type server struct {
	kids     *childproc.Group
	bin      string
	dataDir  string
	database string // "" for the data directory's SQLite file
	config   string
}

// newServer makes what a server of a setup needs: a temporary data
// directory and config file (configured exec tasks), and, for database
// "postgres", a fresh database on the server at pgURL. target is the
// database to fill (the SQLite file or the URL); done removes it all.
func newServer(ctx context.Context, kids *childproc.Group, bin, database, pgURL string, configured int) (srv *server, target string, done func() error, err error) {
	tmp, err := os.MkdirTemp("", "historybench-")
	if err != nil {
		return nil, "", nil, err
	}
	done = func() error { return os.RemoveAll(tmp) }
	srv = &server{kids: kids, bin: bin, dataDir: filepath.Join(tmp, "data"), config: filepath.Join(tmp, "butler.yaml")}
	if err := os.MkdirAll(srv.dataDir, 0o700); err != nil {
		return nil, "", nil, errors.Join(err, done())
	}
	if err := writeConfig(srv.config, configured); err != nil {
		return nil, "", nil, errors.Join(err, done())
	}
	target = filepath.Join(srv.dataDir, "butler.db")
	if database == "postgres" {
		dbURL, drop, err := freshDatabase(ctx, pgURL)
		if err != nil {
			return nil, "", nil, errors.Join(err, done())
		}
		removeDir := done
		done = func() error { return errors.Join(drop(), removeDir()) }
		srv.database, target = dbURL, dbURL
	}
	return srv, target, done, nil
}

// firstAnswer is the call whose first 200 ends a cold start.
const firstAnswer = "/butler/runs?limit=1"

// start starts butler serve on a free port and polls GET
// /butler/runs?limit=1 every millisecond over fresh connections until it
// answers 200. It returns the process, its base URL and the time from just
// before cmd.Start() to that answer.
func (s *server) start(ctx context.Context) (*childproc.Proc, string, time.Duration, error) {
	addr, err := childproc.FreeAddr()
	if err != nil {
		return nil, "", 0, err
	}
	args := []string{"serve", "--addr", addr, "--data-dir", s.dataDir, "--token", token, "--config", s.config, "--node", "historybench"}
	if s.database != "" {
		args = append(args, "--database", s.database)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(os.Environ(), "BUTLER_CONFIG=", "BUTLER_DATABASE=", "BUTLER_LOG_LEVEL=warn")
	base := "http://" + addr
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+firstAnswer, nil)
	if err != nil {
		return nil, "", 0, err
	}
	req.Header.Set("X-Plex-Token", token)
	req.Header.Set("Accept", "application/json")
	p, d, err := s.kids.StartUntilOK(ctx, cmd, req, 2*time.Minute)
	if err != nil {
		return nil, "", 0, err
	}
	return p, base, d, nil
}

// api is a keep-alive client of one running server.
type api struct {
	base string
	hc   *http.Client
}

func newAPI(base string) *api {
	return &api{base: base, hc: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
}

// do sends one request with the token and Accept: application/json, reads
// the whole answer, and returns it with the time from just before sending to
// the last byte read. A status other than 200 is an error.
func (a *api) do(ctx context.Context, method, path string) (*http.Response, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, nil)
	if err != nil {
		return nil, nil, 0, err
	}
	req.Header.Set("X-Plex-Token", token)
	req.Header.Set("Accept", "application/json")
	t0 := time.Now()
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, nil, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	d := time.Since(t0)
	resp.Body.Close()
	if err != nil {
		return nil, nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp, body, d, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return resp, body, d, nil
}

// getJSON GETs path and decodes the answer into v.
func (a *api) getJSON(ctx context.Context, path string, v any) error {
	_, body, _, err := a.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (a *api) close() { a.hc.CloseIdleConnections() }
