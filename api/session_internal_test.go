package api

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestSessions_Expiry: a session is valid until its 30 days are over, and
// not a nanosecond after; an ended one is not valid.
func TestSessions_Expiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSessions()
		id, ends := s.create()
		if !ends.Equal(time.Now().Add(sessionLifetime)) {
			t.Fatalf("session ends %v, want 30 days from now", ends)
		}
		other, _ := s.create()
		if id == other || !s.valid(id) || !s.valid(other) {
			t.Fatalf("two sessions: %q %q, valid %v %v", id, other, s.valid(id), s.valid(other))
		}
		time.Sleep(sessionLifetime - time.Nanosecond)
		if !s.valid(id) {
			t.Fatal("a session ended before its 30 days")
		}
		time.Sleep(time.Nanosecond)
		if s.valid(id) {
			t.Fatal("a session is valid after its 30 days")
		}
		s.end(other)
		if s.valid(other) || s.valid("") {
			t.Fatal("an ended session, or none, is valid")
		}
	})
}

// TestSessions_Bounded: beyond maxSessions, signing in ends the session
// closest to its end, and expired sessions are dropped first.
func TestSessions_Bounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSessions()
		first, _ := s.create()
		time.Sleep(time.Second)
		for range maxSessions - 1 {
			s.create()
		}
		last, _ := s.create()
		if s.valid(first) || !s.valid(last) || len(s.expiry) != maxSessions {
			t.Fatalf("after %d sign-ins: first valid %v, last valid %v, %d kept; want the first ended and %d kept",
				maxSessions+1, s.valid(first), s.valid(last), len(s.expiry), maxSessions)
		}
		time.Sleep(sessionLifetime)
		s.create()
		if len(s.expiry) != 1 {
			t.Fatalf("%d sessions kept after the others expired, want 1", len(s.expiry))
		}
	})
}

func TestTokenMatches(t *testing.T) {
	for _, c := range []struct {
		got, want string
		ok        bool
	}{
		{"secret-token", "secret-token", true},
		{"secret-toke", "secret-token", false},
		{"secret-tokenn", "secret-token", false},
		{"Secret-token", "secret-token", false},
		{"", "secret-token", false},
		{"", "", false},
	} {
		if got := tokenMatches(c.got, c.want); got != c.ok {
			t.Errorf("tokenMatches(%q, %q) = %v, want %v", c.got, c.want, got, c.ok)
		}
	}
}

// TestTokenComparedInConstantTime reads the package's source: tokenMatches
// compares with subtle.ConstantTimeCompare, and no other code compares a
// token or a session id with == or != (other than with ""), nor with
// bytes.Equal or strings.EqualFold; the session ids are looked up by their
// SHA-256.
func TestTokenComparedInConstantTime(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	secret := func(e ast.Expr) bool {
		var name string
		switch e := e.(type) {
		case *ast.Ident:
			name = e.Name
		case *ast.SelectorExpr:
			name = e.Sel.Name
		case *ast.CallExpr:
			if sel, ok := e.Fun.(*ast.SelectorExpr); ok {
				name = sel.Sel.Name
			}
		}
		n := strings.ToLower(name)
		return n == "got" || n == "want" || strings.Contains(n, "token") || strings.Contains(n, "session")
	}
	empty := func(e ast.Expr) bool {
		lit, ok := e.(*ast.BasicLit)
		return ok && lit.Value == `""`
	}
	sawConstantTime := false
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Name.Name == "tokenMatches" {
					ast.Inspect(n.Body, func(m ast.Node) bool {
						if sel, ok := m.(*ast.SelectorExpr); ok && sel.Sel.Name == "ConstantTimeCompare" {
							sawConstantTime = true
						}
						return true
					})
				}
			case *ast.BinaryExpr:
				if (n.Op == token.EQL || n.Op == token.NEQ) && (secret(n.X) || secret(n.Y)) && !empty(n.X) && !empty(n.Y) {
					t.Errorf("%s: %s compares a secret with %s; use tokenMatches", fset.Position(n.Pos()), src[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset], n.Op)
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Equal" || sel.Sel.Name == "EqualFold" || sel.Sel.Name == "Compare") {
					for _, a := range n.Args {
						if secret(a) {
							t.Errorf("%s: %s compares a secret in variable time; use tokenMatches", fset.Position(n.Pos()), sel.Sel.Name)
						}
					}
				}
			}
			return true
		})
	}
	if !sawConstantTime {
		t.Error("tokenMatches does not call subtle.ConstantTimeCompare")
	}
}

func TestCheckOrigin(t *testing.T) {
	for _, c := range []struct {
		name, method, host, tls string
		header                  map[string]string
		ok                      bool
	}{
		{"SameOrigin", "POST", "example.com:32400", "", map[string]string{"Origin": "http://example.com:32400"}, true},
		{"DefaultPort", "POST", "example.com", "", map[string]string{"Origin": "http://example.com:80"}, true},
		{"DefaultPortHost", "POST", "example.com:80", "", map[string]string{"Origin": "http://example.com"}, true},
		{"HostCase", "POST", "Example.COM:32400", "", map[string]string{"Origin": "http://example.com:32400"}, true},
		{"IPv6", "POST", "[::1]:32400", "", map[string]string{"Origin": "http://[::1]:32400"}, true},
		{"ProxyTLS", "POST", "butler.example", "https", map[string]string{"Origin": "https://butler.example"}, true},
		{"ProxyTLSPlainOrigin", "POST", "butler.example", "https", map[string]string{"Origin": "http://butler.example"}, false},
		{"PlainHTTPSOrigin", "POST", "butler.example", "", map[string]string{"Origin": "https://butler.example"}, false},
		{"OtherPort", "POST", "example.com:32400", "", map[string]string{"Origin": "http://example.com:32401"}, false},
		{"OtherHost", "POST", "example.com:32400", "", map[string]string{"Origin": "http://evil.example:32400"}, false},
		{"Suffix", "POST", "example.com:32400", "", map[string]string{"Origin": "http://example.com:32400.evil.example"}, false},
		{"Null", "POST", "example.com:32400", "", map[string]string{"Origin": "null"}, false},
		{"NoHost", "POST", "", "", map[string]string{"Origin": "null"}, false},
		{"Nothing", "DELETE", "example.com:32400", "", nil, false},
		{"NothingGET", "GET", "example.com:32400", "", nil, true},
		{"NoneGET", "GET", "example.com:32400", "", map[string]string{"Sec-Fetch-Site": "none"}, true},
		{"NonePUT", "PUT", "example.com:32400", "", map[string]string{"Sec-Fetch-Site": "none"}, false},
		{"SameSiteGET", "GET", "example.com:32400", "", map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{"RefererPath", "PUT", "example.com:32400", "", map[string]string{"Referer": "http://example.com:32400/web?x=1"}, true},
		{"RefererOther", "GET", "example.com:32400", "", map[string]string{"Referer": "http://example.com:8080/"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "/butler", nil)
			r.Host = c.host
			if c.tls != "" {
				r.Header.Set("X-Forwarded-Proto", c.tls)
			}
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			if err := checkOrigin(r); (err == nil) != c.ok {
				t.Errorf("checkOrigin: %v, want ok %v", err, c.ok)
			}
		})
	}
}

// TestLoopbackHosts_OnlyOnLoopback: a request that reached a non-loopback
// address is not asked for its Host (a LAN server is reached by any name).
func TestLoopbackHosts_OnlyOnLoopback(t *testing.T) {
	h := loopbackHosts("tok", "myhost", newGuesses(slog.New(slog.DiscardHandler), GuessLimit{}), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, c := range []struct {
		local  net.IP
		host   string
		status int
	}{
		{net.ParseIP("192.0.2.10"), "nas.example:32400", 200},
		{net.ParseIP("127.0.0.1"), "nas.example:32400", http.StatusMisdirectedRequest},
		{net.ParseIP("127.0.1.1"), "MyHost:32400", 200},
		{net.ParseIP("127.0.1.1"), "127.0.1.1:32400", 200},
		{net.ParseIP("::1"), "[::1]:32400", 200},
		{net.ParseIP("::1"), "", 200},
	} {
		r := httptest.NewRequest("GET", "/identity", nil)
		r.Host = c.host
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: c.local, Port: 32400}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.status {
			t.Errorf("Host %q on %s: %d, want %d", c.host, c.local, w.Code, c.status)
		}
	}
}
