package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/headtail"
)

// HTTP is an action that sends one HTTP request and succeeds when the
// response's status is one of Expect (any 2xx when Expect is empty).
//
// The request carries ctx, so a stop or the task's time limit ends it
// promptly however long the target takes. The default client follows no
// redirects: a 3xx answer is reported as it is (list it in Expect to
// accept it), with its Location. At most MaxBody bytes of the response
// body are read; the rest is not read at all. The summary is "HTTP
// <status>"; the status line and the body read are passed to the
// Reporter's Output. Query values
// whose names suggest a secret (token, key, secret, password, auth) and a
// URL's password are redacted in errors, logs and summaries.
type HTTP struct {
	// Method is the request method; empty means GET.
	Method string
	// URL is the absolute http or https URL.
	URL string
	// Header holds the request's header fields. A "Host" field sets the
	// request's host.
	Header http.Header
	// Body is the request body; empty means none.
	Body string
	// Expect lists the statuses that mean success; empty means 200..299.
	Expect []int
	// Client sends the request; nil means a client without a timeout of
	// its own (ctx bounds the request) that does not follow redirects.
	Client *http.Client
	// MaxBody is how many bytes of the response body are kept; 0 or less
	// means 64 KiB.
	MaxBody int
}

var _ butler.Action = (*HTTP)(nil)

// noRedirectClient is HTTP's default client.
var noRedirectClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Run sends the request and checks the response's status.
func (h *HTTP) Run(ctx context.Context, r butler.Reporter) error {
	method := h.Method
	if method == "" {
		method = http.MethodGet
	}
	shown := redactURL(h.URL)
	what := method + " " + shown
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("request %s not sent: %w", what, err)
	}
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("http: %q is not an absolute http or https URL", shown)
	}
	var body io.Reader
	if h.Body != "" {
		body = strings.NewReader(h.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.URL, body)
	if err != nil {
		return fmt.Errorf("http: request %s: %v", what, redactErr(err, h.URL))
	}
	for k, vs := range h.Header {
		if strings.EqualFold(k, "Host") {
			if len(vs) > 0 {
				req.Host = vs[0]
			}
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "butler")
	}
	client := h.Client
	if client == nil {
		client = noRedirectClient
	}
	log := r.Logger().With("method", method, "url", shown)
	r.Progress(-1, "sending "+what)
	resp, err := client.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("request %s stopped: %w", what, ctxErr)
		}
		return fmt.Errorf("request %s: %w", what, redactErr(err, h.URL))
	}
	defer resp.Body.Close()

	r.Progress(-1, "reading the response")
	maxBody := h.MaxBody
	if maxBody <= 0 {
		maxBody = defaultMaxOutput
	}
	kept, more, readErr := readBounded(resp.Body, maxBody)
	if readErr != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("request %s stopped while reading the response: %w", what, ctxErr)
		}
	}
	output := "HTTP " + resp.Status + "\n" + string(kept)
	if more {
		if resp.ContentLength > 0 {
			output += fmt.Sprintf("\n[... %d more bytes not read ...]\n", resp.ContentLength-int64(len(kept)))
		} else {
			output += fmt.Sprintf("\n[... body cut at %d bytes ...]\n", len(kept))
		}
	}
	if readErr != nil {
		output += fmt.Sprintf("\n[... reading the body failed: %v ...]\n", readErr)
	}
	r.Output(output)

	summary := "HTTP " + strconv.Itoa(resp.StatusCode)
	r.Summary(summary)
	log.Info("request sent", "status", resp.StatusCode, "body_bytes", len(kept))
	if !h.expected(resp.StatusCode) {
		msg := fmt.Sprintf("request %s: unexpected status %s (want %s)", what, resp.Status, h.expectText())
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			// The body of a redirect only repeats its Location.
			if loc := resp.Header.Get("Location"); loc != "" {
				msg += "; it redirects to " + redactURL(loc)
			}
		} else if first := firstLine(kept); first != "" {
			msg += ": " + first
		}
		return errors.New(msg)
	}
	if readErr != nil {
		return fmt.Errorf("request %s: status %s, but reading the response failed: %w", what, resp.Status, readErr)
	}
	r.Progress(100, "done")
	return nil
}

// expected reports whether status means success.
func (h *HTTP) expected(status int) bool {
	if len(h.Expect) == 0 {
		return status >= 200 && status <= 299
	}
	return slices.Contains(h.Expect, status)
}

// expectText says which statuses are expected: "2xx" or "200, 204".
func (h *HTTP) expectText() string {
	if len(h.Expect) == 0 {
		return "2xx"
	}
	s := make([]string, len(h.Expect))
	for i, c := range h.Expect {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ", ")
}

// readBounded reads at most limit bytes of rd. more says rd had more.
func readBounded(rd io.Reader, limit int) (kept []byte, more bool, err error) {
	kept, err = io.ReadAll(io.LimitReader(rd, int64(limit)+1))
	if len(kept) > limit {
		return kept[:limit], true, err
	}
	return kept, false, err
}

// firstLine returns the first non-empty line of body, as one bounded line.
func firstLine(body []byte) string {
	for line := range strings.SplitSeq(string(body), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if len(line) > 200 {
				line = string(headtail.TrimCutRuneEnd([]byte(line[:200]))) + "…"
			}
			return oneLine(line)
		}
	}
	return ""
}

// secretQueryWords are the parts of query names whose values are redacted.
var secretQueryWords = []string{"token", "key", "secret", "password", "passwd", "auth", "signature", "sig"}

// redactURL returns raw with its password and the values of query
// parameters whose names suggest a secret replaced by "xxxxx".
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k, vs := range q {
			lk := strings.ToLower(k)
			for _, w := range secretQueryWords {
				if strings.Contains(lk, w) {
					for i := range vs {
						vs[i] = "xxxxx"
					}
					changed = true
					break
				}
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// redactErr returns err with raw (as it appears in errors of net/http)
// replaced by its redacted form.
func redactErr(err error, raw string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	shown := redactURL(raw)
	if shown == raw {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), raw, shown))
}
