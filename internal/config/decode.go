package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder holds what decoding a file needs besides its nodes: the file's
// name for messages, the environment for ${VAR}, and the problems found.
type decoder struct {
	file      string
	lookupEnv func(string) (string, bool)
	errs      Errors
}

// value is a value of the file: every field of the file's structs has a
// type that decodes and checks itself. key is the value's path in the
// file ("tasks.Nightly.exec.grace"); want says what the key takes (its
// want tag), for messages. decode reports its problems to d; the value is
// valid when it reported none. A null node (an empty value) is handed to
// decode too, which says whether an empty value is allowed.
//
// yaml.v3's own Unmarshaler is not used for the fields: yaml.v3 does not
// call it for an empty value, and it cannot be told the key's path and
// description that the messages name. The file as a whole is decoded
// through it (document.UnmarshalYAML).
type value interface {
	decode(d *decoder, n *yaml.Node, key, want string)
}

// The types of the file's fields.
var (
	_ value = (*Text)(nil)
	_ value = (*Label)(nil)
	_ value = (*Addr)(nil)
	_ value = (*Token)(nil)
	_ value = (*LogLevel)(nil)
	_ value = (*Bool)(nil)
	_ value = (*Keep)(nil)
	_ value = (*MaxAgeDays)(nil)
	_ value = (*Interval)(nil)
	_ value = (*Duration)(nil)
	_ value = (*Path)(nil)
	_ value = (*URL)(nil)
	_ value = (*RequestURL)(nil)
	_ value = (*Size)(nil)
	_ value = (*DatabaseName)(nil)
	_ value = (*Method)(nil)
	_ value = (*Body)(nil)
	_ value = (*Statuses)(nil)
	_ value = (*Argv)(nil)
	_ value = (*Env)(nil)
	_ value = (*Header)(nil)
	_ value = (*Settings)(nil)
	_ value = (*Databases)(nil)
	_ value = (*Caches)(nil)
	_ value = (*Libraries)(nil)
	_ value = (*LibraryName)(nil)
	_ value = (*LibraryKind)(nil)
	_ value = (*Folders)(nil)
	_ value = (*Media)(nil)
	_ value = (*Program)(nil)
	_ value = (*Nice)(nil)
	_ value = (*IOClass)(nil)
	_ value = (*Parallel)(nil)
	_ value = (*GraceDays)(nil)
	_ value = (*Busy)(nil)
	_ value = (*Sessions)(nil)
	_ value = (*Secret)(nil)
	_ value = (*LoadAverage)(nil)
	_ value = (*UpdateFeed)(nil)
	_ value = (*Tasks)(nil)
	_ value = (*Task)(nil)
	_ value = (*Exec)(nil)
	_ value = (*HTTP)(nil)
)

// errf records a problem at n's line.
func (d *decoder) errf(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// errAt records a problem at a line.
func (d *decoder) errAt(line int, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// pair is one key and its value in a mapping.
type pair struct {
	name string
	key  *yaml.Node
	val  *yaml.Node
}

// pairs returns the pairs of mapping n in order, reporting keys that are
// not plain strings, merge keys and keys given twice (which it leaves
// out). ok is false when it reported a problem.
func (d *decoder) pairs(n *yaml.Node, path string) (out []pair, ok bool) {
	ok = true
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.errf(k, path, "a key is %s; keys are plain names", describe(k))
			ok = false
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.errf(k, path, "merge keys (<<) are not supported; write the keys out")
			ok = false
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errf(k, join(path, k.Value), "given twice (first at line %d); give each key once", first)
			ok = false
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{k.Value, k, v})
	}
	return out, ok
}

// structField is a key of a struct of the file: its name (yaml tag),
// field index and want tag.
type structField struct {
	name, want string
	index      int
}

// keysOf returns the keys of struct type t, in field order.
func keysOf(t reflect.Type) []structField {
	var out []structField
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("yaml")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, structField{name: name, want: f.Tag.Get("want"), index: i})
	}
	return out
}

// keyNames returns the key names of the struct that dst points to.
func keyNames(dst any) []string {
	var names []string
	for _, f := range keysOf(reflect.TypeOf(dst).Elem()) {
		names = append(names, f.name)
	}
	return names
}

// object decodes mapping n into the struct dst points to: each key into
// the field whose yaml tag names it (a pointer field is allocated), after
// reporting unknown keys with the known ones and the nearest. It returns
// the keys given and whether the keys themselves were all right (a
// misspelt key should not also be reported missing).
func (d *decoder) object(n *yaml.Node, path string, dst any) (given map[string]bool, keysOK bool) {
	v := reflect.ValueOf(dst).Elem()
	fields := keysOf(v.Type())
	known := make([]string, len(fields))
	for i, f := range fields {
		known[i] = f.name
	}
	given = map[string]bool{}
	ps, keysOK := d.pairs(n, path)
	for _, p := range ps {
		i := slices.IndexFunc(fields, func(f structField) bool { return f.name == p.name })
		if i < 0 {
			msg := "unknown key"
			if s := suggest(p.name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			where := "known keys"
			if path != "" {
				where += " under " + path
			}
			d.errf(p.key, join(path, p.name), "%s; %s: %s", msg, where, strings.Join(known, ", "))
			keysOK = false
			continue
		}
		given[p.name] = true
		fv := v.Field(fields[i].index)
		target := fv
		if fv.Kind() == reflect.Pointer {
			target = reflect.New(fv.Type().Elem())
		} else {
			target = fv.Addr()
		}
		before := len(d.errs)
		target.Interface().(value).decode(d, p.val, join(path, p.name), fields[i].want)
		if fv.Kind() == reflect.Pointer && !(len(d.errs) == before && isNull(p.val)) {
			fv.Set(target) // an empty optional section stays nil
		}
	}
	return given, keysOK
}

// missing reports that key is not given, when it is not.
func (d *decoder) missing(n *yaml.Node, given map[string]bool, path, key, format string, args ...any) bool {
	if given[key] {
		return false
	}
	d.errf(n, join(path, key), "missing; "+format, args...)
	return true
}

// suggest returns the known key closest to name, when it is close.
func suggest(name string, known []string) string {
	best, bestD := "", 3
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	for _, k := range known {
		if norm(k) == norm(name) {
			return k
		}
		if d := EditDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance of a and b, in bytes: what the
// "did you mean" suggestions of the config file and the command line
// measure.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// describe names what a node is, for messages: "a list", "a mapping",
// "empty" or the quoted value.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty"
		}
		return strconv.Quote(n.Value)
	}
	return "not a value"
}

// kindOnly describes n without quoting its value.
func kindOnly(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return "a value"
	}
	return describe(n)
}

// isNull reports whether n is an empty value (nothing, ~ or null).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// join returns the path of key under parent.
func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// isMapping reports whether n is a mapping, and a problem when it is not.
func (d *decoder) isMapping(n *yaml.Node, path, want string) bool {
	if n.Kind == yaml.MappingNode {
		return true
	}
	d.errf(n, path, "is %s; want %s", describe(n), want)
	return false
}

// isList reports whether n is a list, and a problem when it is not.
func (d *decoder) isList(n *yaml.Node, path, want string) bool {
	if n.Kind == yaml.SequenceNode {
		return true
	}
	d.errf(n, path, "is %s; want %s", describe(n), want)
	return false
}

// str returns the string value of scalar n.
func (d *decoder) str(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errf(n, path, "is %s; want %s", describe(n), want)
		return "", false
	}
	return n.Value, true
}

// integer returns the value of a whole-number scalar within lo..hi.
func (d *decoder) integer(n *yaml.Node, path string, lo, hi int, unit string) (int, bool) {
	allowed := fmt.Sprintf("use a whole number from %d to %d%s", lo, hi, unit)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		if n.Kind == yaml.ScalarNode && !isNull(n) {
			d.errf(n, path, "%q is not a whole number; %s", n.Value, allowed)
		} else {
			d.errf(n, path, "is %s; %s", describe(n), allowed)
		}
		return 0, false
	}
	var v int
	if err := n.Decode(&v); err != nil || v < lo || v > hi {
		d.errf(n, path, "%s is out of range; %s", n.Value, allowed)
		return 0, false
	}
	return v, true
}

// expand replaces ${NAME} in s by the environment variable NAME; "$${"
// stands for a literal "${". An unset variable is a problem naming it.
func (d *decoder) expand(n *yaml.Node, path, s string) (string, bool) {
	const how = "write ${NAME}, or $${ for a literal ${"
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i]) // "$${" -> "${": keep one '$'
			b.WriteString("{")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			d.errf(n, path, `has "${" without a closing "}"; %s`, how)
			return "", false
		}
		name := s[i+2 : i+end]
		if !envName.MatchString(name) {
			d.errf(n, path, "%q does not name an environment variable; %s", "${"+name+"}", how)
			return "", false
		}
		v, ok := d.lookupEnv(name)
		if !ok {
			d.errf(n, path, "environment variable %s is not set; set it in Butler's environment or write the value itself", name)
			return "", false
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}
