// Package sqliteuri builds the "file:" URIs through which Butler opens
// SQLite database files (modernc.org/sqlite reads its query parameters
// from them): the path made absolute and escaped, so that '?', '#' and '%'
// in a file's name are part of the name. Written into a URI as it is, a
// path is cut at its first '?' or '#' and its %XX sequences decoded: a data
// directory named "srv#1" would open the file "srv" beside it.
package sqliteuri

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// File returns the URI of the database file at path, followed by the
// given query parameters (each "key=value", already escaped, or a whole
// encoded query), in that order.
func File(path string, params ...string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("make path %s absolute: %w", path, err)
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows path: file:///C:/x
	}
	var q []string
	for _, s := range params {
		if s != "" {
			q = append(q, s)
		}
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: strings.Join(q, "&")}
	return u.String(), nil
}
