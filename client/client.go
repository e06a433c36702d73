package client

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of a Client made without options.
const (
	// DefaultTimeout bounds one request (each attempt of a retried one);
	// WithTimeout changes it. Watch streams are not bounded by it once they
	// are connected.
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent is the User-Agent header unless WithUserAgent sets
	// another.
	DefaultUserAgent = "butler-client-go/1"
)

// maxBody bounds the body of an answer the client reads.
const maxBody = 16 << 20

// Client talks to one Butler (or Plex Media Server). It is safe for
// concurrent use; make one and share it.
type Client struct {
	base      string // scheme://host[:port][/prefix], no trailing slash
	token     string
	clientID  string
	userAgent string
	hc        *http.Client
	timeout   time.Duration
	attempts  int
	backoff   time.Duration
}

// Option configures a Client made by New.
type Option func(*Client) error

// WithToken sets the access token, sent as X-Plex-Token. Without one, only
// Identity succeeds on a Butler.
func WithToken(token string) Option {
	return func(c *Client) error {
		c.token = token
		return nil
	}
}

// WithClientIdentifier sets the X-Plex-Client-Identifier header, which Plex
// servers use to tell their clients apart.
func WithClientIdentifier(id string) Option {
	return func(c *Client) error {
		c.clientID = id
		return nil
	}
}

// WithHTTPClient sets the http.Client that sends the requests (a custom
// transport, TLS configuration, proxy). Its Timeout, when set, also bounds
// Watch streams; prefer WithTimeout, which does not. The Client uses a copy
// of it whose redirects never carry the token to another origin than the
// server's; its CheckRedirect still decides which redirects are followed.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("client: WithHTTPClient(nil)")
		}
		c.hc = hc
		return nil
	}
}

// WithTimeout bounds each request (each attempt, when retried) and the
// connection of a Watch stream; 0 means no bound. The default is
// DefaultTimeout. The context given to each call bounds it as well.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("client: WithTimeout(%s): want 0 or more", d)
		}
		c.timeout = d
		return nil
	}
}

// WithRetry makes GET requests (which change nothing) up to attempts tries
// in all when the server cannot be reached or answers 502, 503 or 504,
// waiting backoff before the second try and twice as long before each next
// one, unless the call's context ends first. Requests that change something
// (POST, PUT, DELETE) are never retried. The default is one try.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(c *Client) error {
		if attempts < 1 {
			return fmt.Errorf("client: WithRetry(%d, %s): want at least 1 attempt", attempts, backoff)
		}
		if backoff < 0 {
			return fmt.Errorf("client: WithRetry(%d, %s): want a backoff of 0 or more", attempts, backoff)
		}
		c.attempts, c.backoff = attempts, backoff
		return nil
	}
}

// WithUserAgent sets the User-Agent header (default DefaultUserAgent).
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		c.userAgent = ua
		return nil
	}
}

// New returns a client of the server at serverURL, an http or https URL
// such as "http://127.0.0.1:28400" (a path prefix, for a server behind a
// reverse proxy, is kept).
func New(serverURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q: want http://HOST:PORT or https://HOST:PORT", serverURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: server URL %q: give the token with WithToken, and no query or fragment", serverURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c := &Client{
		base:      u.String(),
		userAgent: DefaultUserAgent,
		hc:        &http.Client{},
		timeout:   DefaultTimeout,
		attempts:  1,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	c.hc = keepTokenHome(c.hc, u)
	return c, nil
}

// maxRedirects is how many redirects a request follows, as net/http's
// default does.
const maxRedirects = 10

// keepTokenHome returns a copy of hc that never sends X-Plex-Token to
// another origin than the server's (scheme, host and port): net/http
// copies a request's header fields to the requests of the redirects it
// follows, to any host, and keeps back only the ones it knows to be
// secret (Authorization, Cookie). A redirect to another origin is followed
// without the token; one back to the server's origin carries it again.
// hc's own CheckRedirect, if any, then decides; else at most 10 redirects
// are followed.
func keepTokenHome(hc *http.Client, server *url.URL) *http.Client {
	c := *hc
	next := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(req.URL, server) {
			req.Header.Del("X-Plex-Token")
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return &c
}

// sameOrigin reports whether a and b have the same scheme, host and port
// (a scheme's default port when none is given).
func sameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if strings.EqualFold(u.Scheme, "https") {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// URL returns the server's base URL, as given to New without a trailing
// slash.
func (c *Client) URL() string { return c.base }

// Response is the answer of an operation that returns nothing but its
// status.
type Response struct {
	// StatusCode is the HTTP status (200 on success).
	StatusCode int
}

// answer is a response whose body has been read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// newRequest builds a request of path (already escaped) with the query.
func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values) (*http.Request, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("X-Plex-Token", c.token)
	}
	if c.clientID != "" {
		req.Header.Set("X-Plex-Client-Identifier", c.clientID)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	return req, nil
}

// once sends one request and reads its answer.
func (c *Client) once(ctx context.Context, method, path string, q url.Values) (*answer, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, method, path, q)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// retryable reports whether a status is worth another try of a GET.
func retryable(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// call sends the request (retrying GETs as configured) and returns the
// answer of a 1xx-3xx status, an *Error for a 4xx or 5xx one, or the
// transport error wrapped with op.
func (c *Client) call(ctx context.Context, op, method, path string, q url.Values) (*answer, error) {
	attempts := 1
	if method == http.MethodGet {
		attempts = c.attempts
	}
	var last error
	for i := range attempts {
		if i > 0 {
			shift := min(i-1, 16)
			t := time.NewTimer(c.backoff << shift)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("client: %s: %w (after %d attempts: %v)", op, ctx.Err(), i, last)
			case <-t.C:
			}
		}
		a, err := c.once(ctx, method, path, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("client: %s: %w", op, err)
			}
			last = err
			continue
		}
		if a.status >= 400 {
			e := errorOf(op, a)
			if retryable(a.status) && i < attempts-1 {
				last = e
				continue
			}
			return nil, e
		}
		return a, nil
	}
	var e *Error
	if errors.As(last, &e) {
		return nil, e
	}
	return nil, fmt.Errorf("client: %s: %w", op, last)
}

// decode reads the answer's body, JSON into jsonDst or XML into xmlDst,
// after its Content-Type (or its first byte, when that says neither).
func decode(op string, a *answer, jsonDst, xmlDst any) error {
	mt, _, _ := mime.ParseMediaType(a.header.Get("Content-Type"))
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	isXML := mt == "text/xml" || mt == "application/xml" || strings.HasSuffix(mt, "+xml")
	if !isJSON && !isXML {
		b := bytes.TrimSpace(a.body)
		isJSON = len(b) > 0 && (b[0] == '{' || b[0] == '[')
		isXML = len(b) > 0 && b[0] == '<'
	}
	var err error
	switch {
	case isJSON:
		err = json.Unmarshal(a.body, jsonDst)
	case isXML:
		err = xml.Unmarshal(a.body, xmlDst)
	default:
		return fmt.Errorf("client: %s: the answer is neither JSON nor XML (Content-Type %q)", op, a.header.Get("Content-Type"))
	}
	if err != nil {
		return fmt.Errorf("client: %s: decode the answer: %w", op, err)
	}
	return nil
}

// escape escapes one path segment.
func escape(s string) string { return url.PathEscape(s) }
