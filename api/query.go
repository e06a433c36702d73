package api

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/plexbutler/butler"
)

// singleValues returns the value of every query parameter that name
// knows, by the name it gives: each must be given once. name returns ""
// for a key the API does not read, and an error for one it refuses. A
// parameter given more than once — repeated, or under two spellings that
// name takes for the same parameter — is an error (EINVALID) that names
// it: which of the values was meant cannot be known. what names the kind
// of parameter in the messages ("query parameter", "setting").
//
// Every query parameter the API reads goes through it: those the route
// table lists (checkParams), the token (requireToken) and the
// settings of PUT /:/prefs.
func singleValues(q url.Values, what string, name func(key string) (string, error)) (map[string]string, error) {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same message for the same query
	values := map[string]string{}
	spellings := map[string][]string{}
	var problems []string
	for _, k := range keys {
		n, err := name(k)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if n == "" {
			continue
		}
		for range q[k] {
			spellings[n] = append(spellings[n], k)
		}
		values[n] = q[k][0]
	}
	names := make([]string, 0, len(spellings))
	for n := range spellings {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := spellings[n]
		if len(s) == 1 {
			continue
		}
		msg := fmt.Sprintf("%s %s is given %d times", what, n, len(s))
		if slices.ContainsFunc(s, func(k string) bool { return k != n }) {
			msg += " (as " + strings.Join(s, ", ") + ")"
		}
		problems = append(problems, msg+"; give it once")
	}
	if len(problems) > 0 {
		return nil, butler.Errorf(butler.EINVALID, "%s", strings.Join(problems, "; "))
	}
	return values, nil
}

// params returns the name function of singleValues for the query
// parameters listed. Names are case-sensitive: a key that differs from one
// of them only in case is refused rather than ignored, as the parameter it
// looks like would silently not be applied.
func params(listed ...string) func(key string) (string, error) {
	return func(key string) (string, error) {
		for _, p := range listed {
			if key == p {
				return p, nil
			}
		}
		for _, p := range listed {
			if strings.EqualFold(key, p) {
				return "", fmt.Errorf("query parameter %s is not known; its name is %s (names are case-sensitive)", key, p)
			}
		}
		return "", nil
	}
}
